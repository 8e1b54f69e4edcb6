/**
 * Duplicate detection for CON and NON messages from the peer (RFC 7252 §4.5): a message ID seen within
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) is a duplicate; a duplicate CON gets the reply sent the first
 * time (empty ACK or RST) again and is not delivered twice (aiocoap `_deduplicate_message`).
 *
 * Every notification passes here, so nothing is allocated per message: entries sit in a ring (message ID,
 * expiry, reply) in arrival order, an index points from message ID to its ring slot, and expired entries at the
 * head are dropped as new lookups pass. Memory is bounded (`capacity` entries, oldest evicted first), nothing
 * is kept when idle and no timer runs.
 *
 * The index is a table of our own, not a Map: a window that is full (a notification stream) deletes one MID and
 * inserts another per message, and V8 rebuilds a Map's hash table every few such cycles. Open addressing with
 * linear probing over an Int32Array twice the ring's size, each cell the ring slot + 1 (0: empty); the MID is
 * read back from the ring. Deletion shifts later cells of the probe run back (Knuth, TAOCP 6.4 Algorithm R), so
 * no tombstones pile up.
 */

interface Ring {
  ids: Uint16Array;
  expires: Float64Array;
  replies: (Uint8Array | null)[];
  /** Message ID → ring slot + 1 (0: empty cell); twice as many cells as ring slots, a power of two. */
  index: Int32Array;
  /** Message IDs in the index. */
  indexed: number;
}

/** The index cell where `id`'s probe run starts (Fibonacci hashing: sequential MIDs spread over the table). */
function home(id: number, mask: number): number {
  return (Math.imul(id, 0x9e3779b1) >>> 16) & mask;
}

/** The cell holding `id`, or -1. */
function find(ring: Ring, id: number): number {
  const index = ring.index;
  const mask = index.length - 1;
  for (let cell = home(id, mask); index[cell] !== 0; cell = (cell + 1) & mask) if (ring.ids[index[cell] - 1] === id) return cell;
  return -1;
}

/** Points `id` at `slot` (replacing an older pointer for the same MID). */
function point(ring: Ring, id: number, slot: number): void {
  const index = ring.index;
  const mask = index.length - 1;
  let cell = home(id, mask);
  while (index[cell] !== 0 && ring.ids[index[cell] - 1] !== id) cell = (cell + 1) & mask;
  if (index[cell] === 0) ring.indexed++;
  index[cell] = slot + 1;
}

/** Empties `cell`, pulling later cells of its probe run back unless that would put them before their home. */
function unpoint(ring: Ring, cell: number): void {
  const index = ring.index;
  const mask = index.length - 1;
  let hole = cell;
  for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
    const start = home(ring.ids[index[next] - 1], mask);
    if (hole <= next ? hole < start && start <= next : hole < start || start <= next) continue;
    index[hole] = index[next];
    hole = next;
  }
  index[hole] = 0;
  ring.indexed--;
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
    const cell = find(ring, messageId);
    return cell >= 0 && ring.expires[ring.index[cell] - 1] > now;
  }

  /** The reply cached for `messageId` (call after {@link isDuplicate} said true). */
  replyOf(messageId: number): Uint8Array | null {
    const ring = this.#ring;
    const cell = ring === null ? -1 : find(ring, messageId);
    return cell < 0 ? null : ring!.replies[ring!.index[cell] - 1];
  }

  /** Remembers `messageId` for `lifetime` milliseconds with the reply to replay. */
  remember(messageId: number, now: number, lifetime: number, reply: Uint8Array | null): void {
    let ring = this.#ring;
    if (ring === null) {
      ring = this.#ring = { ids: new Uint16Array(16), expires: new Float64Array(16), replies: new Array<Uint8Array | null>(16).fill(null), index: new Int32Array(32), indexed: 0 };
      this.#head = 0;
    }
    if (this.#count === this.#capacity) this.#pop(ring);
    else if (this.#count === ring.ids.length) this.#grow(ring);
    const tail = (this.#head + this.#count) % ring.ids.length;
    ring.ids[tail] = messageId;
    ring.expires[tail] = now + lifetime;
    ring.replies[tail] = reply;
    point(ring, messageId, tail);
    this.#count++;
  }

  /** Entries held (for tests). */
  size(now: number): number {
    if (this.#ring === null) return 0;
    this.#prune(this.#ring, now);
    return this.#ring === null ? 0 : this.#ring.indexed;
  }

  #prune(ring: Ring, now: number): void {
    const expires = ring.expires;
    while (this.#count > 0 && expires[this.#head] <= now) this.#pop(ring);
    // Idle: give the memory back (heap per idle session matters with thousands of sessions).
    if (this.#count === 0) this.#ring = null;
  }

  #pop(ring: Ring): void {
    const head = this.#head;
    // Only drop the pointer this slot owns (the MID may have been remembered again since, in a later slot).
    const cell = find(ring, ring.ids[head]);
    if (cell >= 0 && ring.index[cell] === head + 1) unpoint(ring, cell);
    ring.replies[head] = null;
    this.#head = (head + 1) % ring.ids.length;
    this.#count--;
  }

  #grow(ring: Ring): void {
    const size = Math.min(ring.ids.length * 2, this.#capacity);
    const ids = new Uint16Array(size);
    const expires = new Float64Array(size);
    const replies = new Array<Uint8Array | null>(size).fill(null);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % ring.ids.length;
      ids[i] = ring.ids[from];
      expires[i] = ring.expires[from];
      replies[i] = ring.replies[from];
    }
    ring.ids = ids;
    ring.expires = expires;
    ring.replies = replies;
    this.#head = 0;
    // A new index over the moved entries (in arrival order, so a MID remembered twice points at its later slot).
    let cells = 32;
    while (cells < size * 2) cells *= 2;
    ring.index = new Int32Array(cells);
    ring.indexed = 0;
    for (let i = 0; i < this.#count; i++) point(ring, ids[i], i);
  }
}
