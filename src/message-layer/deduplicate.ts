/**
 * Duplicate detection for CON and NON messages from the peer (RFC 7252 §4.5): a message ID seen within
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) is a duplicate; a duplicate CON gets the reply sent the first
 * time (empty ACK or RST) again and is not delivered twice (aiocoap `_deduplicate_message`).
 *
 * Memory is bounded: at most `capacity` entries, oldest evicted first; nothing is kept when idle and no
 * timers run (entries expire lazily against `scheduler.now()`).
 */

interface Entry {
  readonly expires: number;
  readonly reply: Uint8Array | null;
}

/** Result of {@link DeduplicationWindow.lookup}. */
export type DuplicateLookup = { readonly duplicate: false } | { readonly duplicate: true; readonly reply: Uint8Array | null };

const NOT_DUPLICATE: DuplicateLookup = { duplicate: false };

/** The set of recently seen message IDs from one peer. */
export class DeduplicationWindow {
  #entries: Map<number, Entry> | null = null;
  readonly #capacity: number;

  /** @param capacity - most message IDs remembered at once @defaultValue 4096 */
  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  /** Whether `messageId` was seen and not yet expired; with the reply cached for it. */
  lookup(messageId: number, now: number): DuplicateLookup {
    const entries = this.#entries;
    if (entries === null) return NOT_DUPLICATE;
    this.#prune(entries, now);
    const entry = entries.get(messageId);
    return entry === undefined ? NOT_DUPLICATE : { duplicate: true, reply: entry.reply };
  }

  /** Remembers `messageId` for `lifetime` milliseconds with the reply to replay. */
  remember(messageId: number, now: number, lifetime: number, reply: Uint8Array | null): void {
    let entries = this.#entries;
    if (entries === null) entries = this.#entries = new Map();
    entries.delete(messageId);
    if (entries.size >= this.#capacity) entries.delete(entries.keys().next().value as number);
    entries.set(messageId, { expires: now + lifetime, reply });
  }

  /** Entries held (for tests). */
  size(now: number): number {
    if (this.#entries === null) return 0;
    this.#prune(this.#entries, now);
    return this.#entries?.size ?? 0;
  }

  #prune(entries: Map<number, Entry>, now: number): void {
    // Insertion order is expiry order for one lifetime; a NON entry (shorter lifetime) may stay a little longer.
    for (const [messageId, entry] of entries) {
      if (entry.expires > now) break;
      entries.delete(messageId);
    }
    if (entries.size === 0) this.#entries = null;
  }
}
