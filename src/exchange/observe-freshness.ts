/**
 * RFC 7641 §3.4: is a notification newer than the last one delivered? Observe numbers are 24-bit and wrap, so
 * "newer" means ahead by less than half the space; after 128 s without a notification any number is accepted
 * (the server may have restarted its counter). Pure: time comes from the caller (`scheduler.now()`).
 */

/** Half the 24-bit Observe space. */
const HALF = 1 << 23;
/** RFC 7641 §3.4: 128 seconds, in milliseconds. */
export const OBSERVE_FRESHNESS_WINDOW = 128_000;

/**
 * True when notification `next` (received at `nextAt`) is fresher than `previous` (received at `previousAt`).
 *
 *   (V1 < V2 and V2 - V1 < 2^23) or (V1 > V2 and V1 - V2 > 2^23) or (T2 > T1 + 128 s)
 */
export function isFresher(previous: number, next: number, previousAt: number, nextAt: number): boolean {
  return (previous < next && next - previous < HALF) || (previous > next && previous - next > HALF) || nextAt > previousAt + OBSERVE_FRESHNESS_WINDOW;
}
