/**
 * `rxcoap/cbor`: installs the CBOR decoder (cbor-x's decode half) that `CoapResponse.cbor()` uses. Import it once,
 * for its side effect, in a browser app that reads CBOR responses:
 *
 * ```ts
 * import 'rxcoap/cbor';
 * ```
 *
 * The core (`rxcoap`) leaves the decoder out so that an app reading no CBOR does not bundle it (about 5 KB
 * gzipped); without this import `cbor()` throws `CoapArgumentError`. `rxcoap/node` installs it by itself.
 * Encoding (`cborPayload`) needs no import: a bundle takes cbor-x's encoder only when the app calls it.
 * @packageDocumentation
 */
import { decodeCbor } from './codec/cbor-decode';
import { installCborDecoder } from './codec/installed-cbor-decoder';

installCborDecoder(decodeCbor);
