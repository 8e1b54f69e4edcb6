/**
 * Duplicate detection for CON and NON messages from the peer (RFC 7252 §4.5): a message ID seen within
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) is a duplicate; a duplicate CON gets the reply sent the first
 * time (empty ACK or RST) again and is not delivered twice (aiocoap `_deduplicate_message`).
 *
 * Per datagram this is a Map lookup plus, amortized, one ring-buffer pop: entries sit in a ring in arrival
 * order, and the expired ones at its head are dropped as new lookups pass. Memory is bounded (`capacity`
 * entries, oldest evicted first), nothing is kept when idle and no timer runs.
 */

/** What is remembered for one message ID. */
export interface DuplicateEntry {
  readonly expires: number;
  /** The reply to send again for a duplicate CON (null: none was sent). */
  readonly reply: Uint8Array | null;
}

/** The set of recently seen message IDs from one peer. */
export class DeduplicationWindow {
  #entries: Map<number, DuplicateEntry> | null = null;
  #ringIds: Uint16Array | null = null;
  #ringExpires: Float64Array | null = null;
  #head = 0;
  #count = 0;
  readonly #capacity: number;

  /** @param capacity - most message IDs remembered at once @defaultValue 4096 */
  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  /** The entry of `messageId` when it was seen and has not expired, else null. */
  lookup(messageId: number, now: number): DuplicateEntry | null {
    const entries = this.#entries;
    if (entries === null) return null;
    this.#prune(now);
    const entry = entries.get(messageId);
    return entry === undefined || entry.expires <= now ? null : entry;
  }

  /** Remembers `messageId` for `lifetime` milliseconds with the reply to replay. */
  remember(messageId: number, now: number, lifetime: number, reply: Uint8Array | null): void {
    if (this.#entries === null) {
      this.#entries = new Map();
      this.#ringIds = new Uint16Array(16);
      this.#ringExpires = new Float64Array(16);
      this.#head = 0;
    }
    if (this.#count === this.#capacity) this.#pop();
    else if (this.#count === this.#ringIds!.length) this.#grow();
    const expires = now + lifetime;
    const ids = this.#ringIds!;
    const tail = (this.#head + this.#count) % ids.length;
    ids[tail] = messageId;
    this.#ringExpires![tail] = expires;
    this.#count++;
    this.#entries!.set(messageId, { expires, reply });
  }

  /** Entries held (for tests). */
  size(now: number): number {
    if (this.#entries === null) return 0;
    this.#prune(now);
    return this.#entries === null ? 0 : this.#entries.size;
  }

  #prune(now: number): void {
    const expires = this.#ringExpires!;
    while (this.#count > 0 && expires[this.#head] <= now) this.#pop();
    if (this.#count === 0) {
      // Idle: give the memory back (heap per idle session matters with thousands of sessions).
      this.#entries = null;
      this.#ringIds = null;
      this.#ringExpires = null;
    }
  }

  #pop(): void {
    const ids = this.#ringIds!;
    const id = ids[this.#head];
    const entry = this.#entries!.get(id);
    // Only drop the map entry this ring slot created (the MID may have been remembered again since).
    if (entry !== undefined && entry.expires === this.#ringExpires![this.#head]) this.#entries!.delete(id);
    this.#head = (this.#head + 1) % ids.length;
    this.#count--;
  }

  #grow(): void {
    const ids = this.#ringIds!;
    const expires = this.#ringExpires!;
    const size = Math.min(ids.length * 2, this.#capacity);
    const newIds = new Uint16Array(size);
    const newExpires = new Float64Array(size);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % ids.length;
      newIds[i] = ids[from];
      newExpires[i] = expires[from];
    }
    this.#ringIds = newIds;
    this.#ringExpires = newExpires;
    this.#head = 0;
  }
}
