/**
 * Seeds derived from the master seed: every part and every virtual world gets its own, so one part (or one
 * world, `--world N`) replays alone.
 */
import type { TokenGenerator } from '../src/exchange/token';
import { seededRandom } from '../src/testing/seeded-random';

/** A 32-bit mix of two numbers (murmur3's finalizer over a combination). */
export function mixSeed(seed: number, salt: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(salt >>> 0, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The seed of a part (`'codec'`, `'live'`...). */
export function partSeed(seed: number, part: string): number {
  let salt = 0;
  for (let i = 0; i < part.length; i++) salt = (Math.imul(salt, 31) + part.charCodeAt(i)) >>> 0;
  return mixSeed(seed, salt);
}

/** The seed of virtual world `index` (1, 2, ...). */
export function worldSeed(seed: number, index: number): number {
  return mixSeed(partSeed(seed, 'virtual'), index);
}

/**
 * Tokens from a seeded source, so a virtual world replays byte for byte. (The library's default tokens come
 * from `crypto.getRandomValues`, as they must on a network; here the attacker is the test.)
 */
export function seededTokens(seed: number, length: number): TokenGenerator {
  const random = seededRandom(mixSeed(seed, 0x7043));
  return () => {
    const token = new Uint8Array(length);
    for (let i = 0; i < length; i++) token[i] = Math.floor(random() * 256);
    return token;
  };
}
