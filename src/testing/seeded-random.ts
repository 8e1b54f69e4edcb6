/**
 * A small seeded pseudo-random generator for the test kit, so lossy runs and fault probabilities are
 * reproducible: the same seed and the same sequence of calls give the same numbers on every machine.
 *
 * The algorithm is a 32-bit "mulberry"-style mixer: a Weyl sequence (add an odd constant each step)
 * passed through two xor-shift-multiply rounds. It is fast, has a period of 2^32 and is good enough for
 * test loss patterns; it is NOT suitable for tokens, keys or anything security related.
 */

/** A generator of uniformly distributed numbers in [0, 1). */
export type RandomSource = () => number;

/**
 * Creates a seeded generator of numbers in [0, 1).
 * @param seed - any number; its low 32 bits are used (non-integers are truncated)
 * @returns a function returning the next number of the sequence on each call
 */
export function seededRandom(seed: number): RandomSource {
  let state = Math.trunc(seed) >>> 0;
  return () => {
    // Weyl step: an odd increment visits every 32-bit state once per period.
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 0x100000000;
  };
}

/**
 * Draws an integer in [min, max] (inclusive) from a random source.
 * @param random - the source, e.g. from {@link seededRandom}
 */
export function randomInRange(random: RandomSource, min: number, max: number): number {
  if (max <= min) return min;
  return min + Math.floor(random() * (max - min + 1));
}
