/**
 * Payload helpers: text (UTF-8), JSON and CBOR (RFC 8949) bodies, and CBOR diagnostic notation
 * (RFC 8949 §8) for logs and the CLI. Pure and browser-safe: cbor-x is plain JavaScript.
 * The CBOR parts live in modules of their own, re-exported here, so that a bundle takes only what it uses:
 * encoding (cbor-payload.ts, cbor-x's encoder), decoding (cbor-decode.ts, cbor-x's decoder) and diagnostic
 * notation (cbor-diagnostic.ts). `CoapResponse.cbor()` decodes with the decoder `rxcoap/cbor` (or `rxcoap/node`)
 * installs (installed-cbor-decoder.ts), so an app that reads no CBOR bundles no CBOR decoder.
 * Decoding problems throw {@link CoapDecodeError} with reason `'BAD_PAYLOAD'` (never fatal: the
 * message itself was well formed).
 */
import type { CoapDecodeError } from '../errors';
import { badPayload } from './bad-payload';
import { EMPTY_BYTES } from './pdu';

const textEncoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a text payload (RFC 7252 §5.5.2: text/plain;charset=utf-8). */
export function textPayload(text: string): Uint8Array {
  return text.length === 0 ? EMPTY_BYTES : textEncoder.encode(text);
}

/** Decodes a UTF-8 payload; invalid UTF-8 throws {@link CoapDecodeError} `'BAD_PAYLOAD'`. */
export function decodeText(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  try {
    return strictUtf8.decode(bytes);
  } catch (error) {
    throw badPayload('payload is not valid UTF-8', 0, error);
  }
}

/** A JSON payload (application/json, Content-Format 50). */
export function jsonPayload(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  // JSON.stringify(undefined) is undefined: there is no JSON text for it.
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return textEncoder.encode(text);
}

/** Parses a JSON payload; bad UTF-8 or JSON throws {@link CoapDecodeError} `'BAD_PAYLOAD'`. */
export function decodeJson(bytes: Uint8Array): unknown {
  const text = decodeText(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badPayload(`payload is not JSON (${(error as Error).message})`, 0, error);
  }
}

export { cborPayload } from './cbor-payload';
export { decodeCbor } from './cbor-decode';
export { cborDiagnostic } from './cbor-diagnostic';
