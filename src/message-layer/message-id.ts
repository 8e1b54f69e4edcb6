/**
 * Message ID allocation (RFC 7252 §4.4): sequential from a random start, and a MID is never reused with the same
 * peer within EXCHANGE_LIFETIME. Allocation is sequential, so the next MID to hand out was last used exactly
 * 65,536 allocations ago: keeping the times of the allocations made within the lifetime (a queue that is empty
 * when idle) is enough to know when it may be used again. When it may not, the caller waits (back-pressure).
 */

const MID_SPACE = 0x10000;

/**
 * A random first message ID (RFC 7252 §4.4: "SHOULD be randomized"), from the CSPRNG like the tokens, so an
 * off-path attacker cannot predict it. `globalThis.crypto` exists in browsers and Node >= 19.
 */
export function randomMessageId(): number {
  const bytes = new Uint16Array(1);
  globalThis.crypto.getRandomValues(bytes);
  return bytes[0];
}

/** Hands out message IDs for one peer. */
export class MessageIdAllocator {
  #next: number;
  readonly #lifetime: number;
  /**
   * Allocation times within the lifetime, oldest first, from `#head` on. A plain array of doubles: a session
   * that sent one message holds one number, not a typed-array buffer (heap per idle session matters).
   */
  #times: number[] | null = null;
  #head = 0;

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
    if (this.#count() < MID_SPACE) return 0;
    return this.#times![this.#head] + this.#lifetime - now;
  }

  /** Allocates the next MID, or returns -1 when every MID was used within the lifetime. */
  allocate(now: number): number {
    if (this.delayUntilAvailable(now) > 0) return -1;
    // A literal, not push on []: V8 would reserve 17 slots for one number.
    if (this.#times === null) this.#times = [now];
    else this.#times.push(now);
    const mid = this.#next;
    this.#next = (mid + 1) & 0xffff;
    return mid;
  }

  /** MIDs allocated within the lifetime (for tests and events). */
  inUse(now: number): number {
    this.#prune(now);
    return this.#count();
  }

  #count(): number {
    return this.#times === null ? 0 : this.#times.length - this.#head;
  }

  #prune(now: number): void {
    const times = this.#times;
    if (times === null) return;
    const expired = now - this.#lifetime;
    let head = this.#head;
    while (head < times.length && times[head] <= expired) head++;
    if (head === times.length) {
      // Idle: give the memory back.
      this.#times = null;
      this.#head = 0;
    } else if (head > 4096 && head * 2 > times.length) {
      this.#times = times.slice(head);
      this.#head = 0;
    } else this.#head = head;
  }
}
