/**
 * The CBOR decoder behind `CoapResponse.cbor()`, installed rather than imported: cbor-x's decoder is about 15 KB
 * minified (5 KB gzipped), a third of a browser app's budget, and most apps read no CBOR. `rxcoap/node` installs
 * it; a browser app that reads CBOR imports `rxcoap/cbor` once. Until then `cbor()` throws
 * {@link CoapArgumentError} saying so. (`decodeCbor` imported by name always works: it takes the decoder in.)
 */
import { CoapArgumentError } from '../errors';

/** Decodes one CBOR data item, or throws `CoapDecodeError` `'BAD_PAYLOAD'` (cbor-decode.ts `decodeCbor`). */
export type CborDecoder = (bytes: Uint8Array) => unknown;

let installed: CborDecoder | undefined;

/** @internal Installs the decoder `CoapResponse.cbor()` uses (src/cbor.ts, the `rxcoap/cbor` entry). */
export function installCborDecoder(decode: CborDecoder): void {
  installed = decode;
}

/**
 * Decodes a CBOR payload with the installed decoder; without one throws {@link CoapArgumentError} (`field`
 * `'cbor'`) naming the import that installs it.
 */
export function decodeInstalledCbor(bytes: Uint8Array): unknown {
  if (installed === undefined) {
    throw new CoapArgumentError(
      "CoapResponse.cbor() needs the CBOR decoder, which the core leaves out of browser bundles: import 'rxcoap/cbor' once in the app (rxcoap/node installs it)",
      { field: 'cbor' },
    );
  }
  return installed(bytes);
}
