/**
 * Tokens (RFC 7252 §5.3.1, RFC 9175 §4.2): random by default, from a CSPRNG, so an off-path attacker cannot
 * guess them. `globalThis.crypto` exists in browsers and Node >= 19, so this stays browser-safe.
 */
import { CoapArgumentError } from '../errors';

/** Makes a token; injectable for tests. */
export type TokenGenerator = () => Uint8Array;

/** Random bytes are drawn in blocks of this size: one CSPRNG call per 64 eight-byte tokens. */
const POOL_SIZE = 512;

/** One pool for the whole process (not per session: heap per idle session matters). */
let pool = new Uint8Array(0);
let offset = 0;

/** A generator of `length` random bytes (0..8). @defaultValue length 8 */
export function randomTokenGenerator(length = 8): TokenGenerator {
  if (!Number.isInteger(length) || length < 0 || length > 8) throw new CoapArgumentError(`token length must be 0..8, got ${length}`);
  const empty = new Uint8Array(0);
  return () => {
    if (length === 0) return empty;
    if (offset + length > pool.length) {
      // A fresh pool each time: bytes handed out are never handed out again.
      pool = new Uint8Array(POOL_SIZE);
      globalThis.crypto.getRandomValues(pool);
      offset = 0;
    }
    // A view, not a copy: no ArrayBuffer per token (the pool lives as long as one of its tokens does).
    const token = pool.subarray(offset, offset + length);
    offset += length;
    return token;
  };
}

/** A deterministic generator for tests: tokens 1, 2, 3, ... as `length`-byte big-endian numbers. */
export function sequentialTokenGenerator(length = 2, start = 1): TokenGenerator {
  let next = start;
  return () => {
    const token = new Uint8Array(length);
    let value = next++;
    for (let i = length - 1; i >= 0; i--) {
      token[i] = value & 0xff;
      value = Math.floor(value / 256);
    }
    return token;
  };
}

/** A map key for a token (one char per byte; cheaper than hex). */
export function tokenKey(token: Uint8Array): string {
  switch (token.length) {
    case 0:
      return '';
    case 8:
      return String.fromCharCode(token[0], token[1], token[2], token[3], token[4], token[5], token[6], token[7]);
    default: {
      let key = '';
      for (let i = 0; i < token.length; i++) key += String.fromCharCode(token[i]);
      return key;
    }
  }
}
