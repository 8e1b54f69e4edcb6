/**
 * CBOR decoding (RFC 8949) of payloads with cbor-x's decoder, on its own so that a bundle which decodes no CBOR
 * leaves the decoder (about 15 KB minified) out. `CoapResponse.cbor()` reaches it only through the decoder that
 * `rxcoap/cbor` or `rxcoap/node` installs (installed-cbor-decoder.ts); importing {@link decodeCbor} takes it in.
 */
import { Decoder } from 'cbor-x/decode';
import { badPayload } from './bad-payload';
import { cborItemEnd } from './cbor-diagnostic';

/** Without the records extension (RFC 8949 has none): maps with text keys decode to objects. Made on first use. */
let decoder: Decoder | undefined;

/**
 * Decodes one CBOR data item (maps with text keys become objects). Malformed or truncated data, or
 * bytes after the item, throw {@link CoapDecodeError} `'BAD_PAYLOAD'`.
 */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw badPayload('CBOR payload is empty');
  // Check well-formedness ourselves first: it gives a precise offset and rejects what cbor-x tolerates.
  const end = cborItemEnd(bytes);
  if (end !== bytes.length) throw badPayload(`${bytes.length - end} bytes follow the CBOR data item`, end);
  try {
    return (decoder ??= new Decoder({ useRecords: false })).decode(bytes);
  } catch (error) {
    throw badPayload(`payload is not CBOR (${(error as Error).message})`, 0, error);
  }
}
