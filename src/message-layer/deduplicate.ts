/**
 * Duplicate detection for CON and NON messages from the peer (RFC 7252 §4.5): a message ID seen within
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) is a duplicate; a duplicate CON gets the reply sent the first
 * time (empty ACK or RST) again and is not delivered twice (aiocoap `_deduplicate_message`).
 *
 * Every notification passes here, so nothing is allocated per message: entries sit in a ring (message ID,
 * expiry, reply) in arrival order, a Map points from message ID to its ring slot, and expired entries at the
 * head are dropped as new lookups pass. Memory is bounded (`capacity` entries, oldest evicted first), nothing
 * is kept when idle and no timer runs.
 */

interface Ring {
  ids: Uint16Array;
  expires: Float64Array;
  replies: (Uint8Array | null)[];
  /** Message ID → ring slot. */
  slots: Map<number, number>;
}

/** The set of recently seen message IDs from one peer. */
export class DeduplicationWindow {
  #ring: Ring | null = null;
  #head = 0;
  #count = 0;
  readonly #capacity: number;

  /** @param capacity - most message IDs remembered at once @defaultValue 4096 */
  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  /** True when `messageId` was seen and has not expired (no allocation). */
  isDuplicate(messageId: number, now: number): boolean {
    const ring = this.#ring;
    if (ring === null) return false;
    this.#prune(ring, now);
    if (this.#ring === null) return false;
    const slot = ring.slots.get(messageId);
    return slot !== undefined && ring.expires[slot] > now;
  }

  /** The reply cached for `messageId` (call after {@link isDuplicate} said true). */
  replyOf(messageId: number): Uint8Array | null {
    const ring = this.#ring;
    const slot = ring?.slots.get(messageId);
    return slot === undefined ? null : ring!.replies[slot];
  }

  /** Remembers `messageId` for `lifetime` milliseconds with the reply to replay. */
  remember(messageId: number, now: number, lifetime: number, reply: Uint8Array | null): void {
    let ring = this.#ring;
    if (ring === null) {
      ring = this.#ring = { ids: new Uint16Array(16), expires: new Float64Array(16), replies: new Array<Uint8Array | null>(16).fill(null), slots: new Map() };
      this.#head = 0;
    }
    if (this.#count === this.#capacity) this.#pop(ring);
    else if (this.#count === ring.ids.length) this.#grow(ring);
    const tail = (this.#head + this.#count) % ring.ids.length;
    ring.ids[tail] = messageId;
    ring.expires[tail] = now + lifetime;
    ring.replies[tail] = reply;
    ring.slots.set(messageId, tail);
    this.#count++;
  }

  /** Entries held (for tests). */
  size(now: number): number {
    if (this.#ring === null) return 0;
    this.#prune(this.#ring, now);
    return this.#ring === null ? 0 : this.#ring.slots.size;
  }

  #prune(ring: Ring, now: number): void {
    const expires = ring.expires;
    while (this.#count > 0 && expires[this.#head] <= now) this.#pop(ring);
    // Idle: give the memory back (heap per idle session matters with thousands of sessions).
    if (this.#count === 0) this.#ring = null;
  }

  #pop(ring: Ring): void {
    const head = this.#head;
    const id = ring.ids[head];
    // Only drop the pointer this slot owns (the MID may have been remembered again since, in a later slot).
    if (ring.slots.get(id) === head) ring.slots.delete(id);
    ring.replies[head] = null;
    this.#head = (head + 1) % ring.ids.length;
    this.#count--;
  }

  #grow(ring: Ring): void {
    const size = Math.min(ring.ids.length * 2, this.#capacity);
    const ids = new Uint16Array(size);
    const expires = new Float64Array(size);
    const replies = new Array<Uint8Array | null>(size).fill(null);
    ring.slots.clear();
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % ring.ids.length;
      ids[i] = ring.ids[from];
      expires[i] = ring.expires[from];
      replies[i] = ring.replies[from];
      ring.slots.set(ids[i], i);
    }
    ring.ids = ids;
    ring.expires = expires;
    ring.replies = replies;
    this.#head = 0;
  }
}
