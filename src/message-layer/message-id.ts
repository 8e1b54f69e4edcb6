/**
 * Message ID allocation (RFC 7252 §4.4): sequential from a random start, and a MID is never reused with the same
 * peer within EXCHANGE_LIFETIME. Allocation is sequential, so the next MID to hand out was last used exactly
 * 65,536 allocations ago: keeping the times of the allocations made within the lifetime (a ring that is empty
 * when idle) is enough to know when it may be used again. When it may not, the caller waits (back-pressure).
 */

const MID_SPACE = 0x10000;

/** Hands out message IDs for one peer. */
export class MessageIdAllocator {
  #next: number;
  readonly #lifetime: number;
  /** Allocation times within the lifetime, oldest first (ring buffer, grows on demand up to 65,536). */
  #times: Float64Array | null = null;
  #head = 0;
  #count = 0;

  /**
   * @param start - first MID (RFC 7252 §4.4: randomized)
   * @param lifetime - EXCHANGE_LIFETIME in milliseconds
   */
  constructor(start: number, lifetime: number) {
    this.#next = start & 0xffff;
    this.#lifetime = lifetime;
  }

  /** Milliseconds until a MID can be allocated (0 = now). */
  delayUntilAvailable(now: number): number {
    this.#prune(now);
    if (this.#count < MID_SPACE) return 0;
    return this.#times![this.#head] + this.#lifetime - now;
  }

  /** Allocates the next MID, or returns -1 when every MID was used within the lifetime. */
  allocate(now: number): number {
    if (this.delayUntilAvailable(now) > 0) return -1;
    this.#record(now);
    const mid = this.#next;
    this.#next = (mid + 1) & 0xffff;
    return mid;
  }

  /** MIDs allocated within the lifetime (for tests and events). */
  inUse(now: number): number {
    this.#prune(now);
    return this.#count;
  }

  #prune(now: number): void {
    const times = this.#times;
    if (times === null) return;
    while (this.#count > 0 && times[this.#head] + this.#lifetime <= now) {
      this.#head = (this.#head + 1) % times.length;
      this.#count--;
    }
    if (this.#count === 0) {
      // Idle: give the memory back (heap per idle session matters with thousands of sessions).
      this.#times = null;
      this.#head = 0;
    }
  }

  #record(now: number): void {
    let times = this.#times;
    if (times === null) times = this.#times = new Float64Array(4);
    else if (this.#count === times.length) {
      const grown = new Float64Array(Math.min(times.length * 2, MID_SPACE));
      for (let i = 0; i < this.#count; i++) grown[i] = times[(this.#head + i) % times.length];
      times = this.#times = grown;
      this.#head = 0;
    }
    times[(this.#head + this.#count) % times.length] = now;
    this.#count++;
  }
}
