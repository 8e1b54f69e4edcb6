/**
 * Routes responses to live exchanges by token (RFC 7252 §5.3.2). The transport already guarantees the message
 * came from the session's peer; a token no exchange holds is unwanted (the message layer answers with RST).
 *
 * One exchange at a time is the common case (NSTART 1, lockstep clients, block-wise transfers), so the first
 * live token sits in a slot of its own and only further ones go to a table. The table is our own (open
 * addressing on a hash of the token bytes, below) rather than a Map keyed by strings: many outstanding requests
 * then make no key string per request and no hash-table rebuilds (V8 rebuilds a Map's table every few
 * insert/delete cycles).
 */
import { sameBytes } from '../codec/bytes';
import { CoapArgumentError } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import type { TokenGenerator } from './token';

/**
 * Receives the responses for one token; returns false to reject one (then the message layer sends RST). A
 * function, or an object with `handleResponse` (a request is its own handler: no closure per request).
 */
export type ResponseHandler = ((pdu: CoapPdu) => boolean) | { handleResponse(pdu: CoapPdu): boolean };

function deliver(handler: ResponseHandler, pdu: CoapPdu): boolean {
  return typeof handler === 'function' ? handler(pdu) : handler.handleResponse(pdu);
}

/**
 * The live tokens beyond the slot: open addressing with linear probing and backward-shift deletion (Knuth,
 * TAOCP 6.4 Algorithm R), so deleting leaves no tombstones and a steady number of live tokens never rebuilds
 * the table. Two arrays, slot by slot (an empty slot's token is null):
 *
 *   tokens:   [ token, null, token, token, null, ... ]
 *   handlers: [ handler, null, handler, handler, null, ... ]
 *
 * At most half the slots are used (it doubles before), so probe runs stay short. Tokens are hashed over all
 * their bytes (FNV-1a), so sequential or user-chosen tokens spread as well as random ones.
 */
class TokenTable {
  #tokens: (Uint8Array | null)[] = new Array<null>(16).fill(null);
  #handlers: (ResponseHandler | null)[] = new Array<null>(16).fill(null);
  size = 0;

  get(token: Uint8Array): ResponseHandler | null {
    return this.#handlers[this.#slot(token)];
  }

  /** Adds `token` (not in the table: the caller checked). */
  set(token: Uint8Array, handler: ResponseHandler): void {
    if (++this.size * 2 > this.#tokens.length) {
      const tokens = this.#tokens;
      const handlers = this.#handlers;
      this.#tokens = new Array<null>(tokens.length * 2).fill(null);
      this.#handlers = new Array<null>(tokens.length * 2).fill(null);
      for (let i = 0; i < tokens.length; i++) if (tokens[i] !== null) this.#put(tokens[i]!, handlers[i]!);
    }
    this.#put(token, handler);
  }

  /** Removes `token` when `handler` holds it. */
  delete(token: Uint8Array, handler: ResponseHandler): void {
    const tokens = this.#tokens;
    const handlers = this.#handlers;
    const mask = tokens.length - 1;
    let hole = this.#slot(token);
    if (tokens[hole] === null || handlers[hole] !== handler) return;
    this.size--;
    // Backward shift: pull later entries of the probe run into the hole unless that would put them before
    // their home slot (home cyclically in (hole, next]); the run then has no gap, and lookups stop at the
    // first empty slot as always.
    for (let next = (hole + 1) & mask; tokens[next] !== null; next = (next + 1) & mask) {
      const home = hashToken(tokens[next]!) & mask;
      if (hole <= next ? hole < home && home <= next : hole < home || home <= next) continue;
      tokens[hole] = tokens[next];
      handlers[hole] = handlers[next];
      hole = next;
    }
    tokens[hole] = null;
    handlers[hole] = null;
  }

  #put(token: Uint8Array, handler: ResponseHandler): void {
    const slot = this.#slot(token);
    this.#tokens[slot] = token;
    this.#handlers[slot] = handler;
  }

  /** The slot holding `token`, else the empty slot that ends its probe run. */
  #slot(token: Uint8Array): number {
    const tokens = this.#tokens;
    const mask = tokens.length - 1;
    let slot = hashToken(token) & mask;
    while (tokens[slot] !== null && !sameBytes(tokens[slot]!, token)) slot = (slot + 1) & mask;
    return slot;
  }
}

/** @internal FNV-1a over the token's bytes, then its high bits folded into the low ones (the table indexes by the low bits). */
export function hashToken(token: Uint8Array): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < token.length; i++) hash = Math.imul(hash ^ token[i], 0x01000193);
  return hash ^ (hash >>> 16);
}

/** The live tokens of one session. */
export class TokenMatcher {
  /** The slot's token bytes (compared byte by byte: no hashing in the common case). */
  #slotToken: Uint8Array | null = null;
  #slotHandler: ResponseHandler | null = null;
  /** Further live tokens; null once the session is idle (see compact): no table per idle session. */
  #table: TokenTable | null = null;
  readonly #generate: TokenGenerator;
  /** The last token `newToken` handed out, so `add` need not look it up again. */
  #freshToken: Uint8Array | null = null;

  constructor(generate: TokenGenerator) {
    this.#generate = generate;
  }

  /** Live exchanges. */
  get size(): number {
    return (this.#slotToken === null ? 0 : 1) + (this.#table === null ? 0 : this.#table.size);
  }

  /** A fresh token that no live exchange holds. Gives up (typed error) if the generator keeps colliding. */
  newToken(): Uint8Array {
    for (let tries = 0; tries < 16; tries++) {
      const token = this.#generate();
      // An idle matcher holds nothing to collide with (the lockstep case; #has not called).
      if ((this.#slotToken !== null || this.#table !== null) && this.#has(token)) continue;
      this.#freshToken = token;
      return token;
    }
    throw new CoapArgumentError('the token generator keeps returning tokens that are in use (token length too short?)');
  }

  /** Registers the handler for `token`; returns the function that unregisters it. */
  register(token: Uint8Array, handler: ResponseHandler): () => void {
    this.add(token, handler);
    return () => this.remove(token, handler);
  }

  /** Registers the handler for `token` (the live token must be free). */
  add(token: Uint8Array, handler: ResponseHandler): void {
    // A token just handed out by newToken is known to be free.
    const fresh = token === this.#freshToken;
    this.#freshToken = null;
    if (!fresh && this.#has(token)) throw new CoapArgumentError('the token is already used by a live exchange of this session');
    if (this.#slotToken === null) {
      this.#slotToken = token;
      this.#slotHandler = handler;
      return;
    }
    (this.#table ??= new TokenTable()).set(token, handler);
  }

  /** Unregisters `handler` from `token` (nothing happens when another handler holds it by now). */
  remove(token: Uint8Array, handler: ResponseHandler): void {
    if (this.#slotHandler === handler) {
      this.#slotToken = null;
      this.#slotHandler = null;
    } else if (this.#table !== null && this.#table.size > 0) this.#table.delete(token, handler);
  }

  /** Drops the table when only the slot is in use (called when the session goes idle). */
  compact(): void {
    if (this.#table !== null && this.#table.size === 0) this.#table = null;
  }

  /** Delivers `pdu` to the exchange holding its token; false when there is none or it rejects it. */
  route(pdu: CoapPdu): boolean {
    const token = pdu.token;
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) {
      const handler = this.#slotHandler!; // deliver(), inline for the common case
      return typeof handler === 'function' ? handler(pdu) : handler.handleResponse(pdu);
    }
    if (this.#table === null || this.#table.size === 0) return false;
    const handler = this.#table.get(token);
    return handler === null ? false : deliver(handler, pdu);
  }

  #has(token: Uint8Array): boolean {
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) return true;
    return this.#table !== null && this.#table.size > 0 && this.#table.get(token) !== null;
  }
}
