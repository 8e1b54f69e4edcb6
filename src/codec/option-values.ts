/**
 * Value formats of RFC 7252 §3.2: empty, opaque, uint (minimal big-endian, 0 is zero bytes) and string (UTF-8).
 */
import { CoapEncodeError } from '../errors';
import { EMPTY_BYTES } from './pdu';

/** Encodes a non-negative integer in the fewest bytes (0 -> empty). Up to 2^53 - 1. */
export function encodeUint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new CoapEncodeError(`uint option value ${value} is not a non-negative safe integer`);
  if (value === 0) return EMPTY_BYTES;
  if (value < 0x100) return Uint8Array.of(value);
  if (value < 0x10000) return Uint8Array.of(value >> 8, value & 0xff);
  if (value < 0x1000000) return Uint8Array.of(value >> 16, (value >> 8) & 0xff, value & 0xff);
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0) {
    bytes.unshift(rest % 256);
    rest = Math.floor(rest / 256);
  }
  return Uint8Array.from(bytes);
}

/** Decodes a big-endian uint of any length up to 7 bytes (leading zeros tolerated, RFC 7252 §3.2). */
export function decodeUint(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < bytes.length; i++) value = value * 256 + bytes[i];
  return value;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** UTF-8 bytes of a string option value. */
export function encodeString(value: string): Uint8Array {
  return value.length === 0 ? EMPTY_BYTES : encoder.encode(value);
}

/** A string option value from UTF-8 bytes (invalid sequences become U+FFFD). */
export function decodeString(bytes: Uint8Array): string {
  return bytes.length === 0 ? '' : decoder.decode(bytes);
}
