/**
 * CBOR encoding (RFC 8949) of payloads, on its own so that a bundle which encodes no CBOR leaves cbor-x's encoder
 * out (the package is side-effect free; cbor-x is not, so only a module nobody imports drops it).
 */
import { Encoder } from 'cbor-x/encode';

// RFC 8949 §4.2.2 preferred serialization as far as cbor-x offers it: no records extension, definite
// map lengths, byte strings as major type 2 (not typed-array tags), Maps without tag 259.
// (`useTag259ForMaps` is a cbor-x option its typings do not list.)
const cborOptions = { useRecords: false, variableMapSize: true, tagUint8Array: false, useTag259ForMaps: false };
/** Created on the first encoding, not when the module loads. */
let encoder: Encoder | undefined;

/** A CBOR payload (application/cbor, Content-Format 60). Byte arrays become byte strings. */
export function cborPayload(value: unknown): Uint8Array {
  const encoded = (encoder ??= new Encoder(cborOptions)).encode(value);
  // cbor-x returns a Buffer on Node; hand out a plain view so callers see the same type everywhere.
  return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.length);
}
