/**
 * Routes responses to live exchanges by token (RFC 7252 §5.3.2). The transport already guarantees the message
 * came from the session's peer; a token no exchange holds is unwanted (the message layer answers with RST).
 *
 * One exchange at a time is the common case (NSTART 1, lockstep clients, block-wise transfers), so the first
 * live token sits in a slot of its own and only further ones go to a Map: a request stream then does no hash
 * table insert/delete at all (V8 rebuilds a small Map's table every few insert/delete cycles).
 */
import { sameBytes } from '../codec/bytes';
import { CoapArgumentError } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import { tokenKey, type TokenGenerator } from './token';

/**
 * Receives the responses for one token; returns false to reject one (then the message layer sends RST). A
 * function, or an object with `handleResponse` (a request is its own handler: no closure per request).
 */
export type ResponseHandler = ((pdu: CoapPdu) => boolean) | { handleResponse(pdu: CoapPdu): boolean };

function deliver(handler: ResponseHandler, pdu: CoapPdu): boolean {
  return typeof handler === 'function' ? handler(pdu) : handler.handleResponse(pdu);
}

/** The live tokens of one session. */
export class TokenMatcher {
  /** The slot's token bytes (compared byte by byte: no string key per message in the common case). */
  #slotToken: Uint8Array | null = null;
  #slotHandler: ResponseHandler | null = null;
  /** Further live tokens; null once the session is idle (see compact): no hash table per idle session. */
  #handlers: Map<string, ResponseHandler> | null = null;
  readonly #generate: TokenGenerator;
  /** The last token `newToken` handed out and its key, so `add` need not build the key again. */
  #freshToken: Uint8Array | null = null;
  #freshKey: string | undefined;

  constructor(generate: TokenGenerator) {
    this.#generate = generate;
  }

  /** Live exchanges. */
  get size(): number {
    return (this.#slotToken === null ? 0 : 1) + (this.#handlers === null ? 0 : this.#handlers.size);
  }

  /** A fresh token that no live exchange holds. Gives up (typed error) if the generator keeps colliding. */
  newToken(): Uint8Array {
    for (let tries = 0; tries < 16; tries++) {
      const token = this.#generate();
      if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) continue;
      if (this.#handlers === null || this.#handlers.size === 0) {
        this.#freshToken = token;
        this.#freshKey = undefined; // the slot is free or the table empty: no key needed yet
        return token;
      }
      const key = tokenKey(token);
      if (this.#handlers.has(key)) continue;
      this.#freshToken = token;
      this.#freshKey = key;
      return token;
    }
    throw new CoapArgumentError('the token generator keeps returning tokens that are in use (token length too short?)');
  }

  /** Registers the handler for `token`; returns the function that unregisters it. */
  register(token: Uint8Array, handler: ResponseHandler): () => void {
    this.add(token, handler);
    return () => this.remove(token, handler);
  }

  /**
   * Registers the handler for `token` (the live token must be free). Returns the key it is filed under (pass it
   * to `remove`), or undefined when it took the slot.
   */
  add(token: Uint8Array, handler: ResponseHandler): string | undefined {
    // A token just handed out by newToken is known to be free (and its key may be known too).
    const fresh = token === this.#freshToken;
    const freshKey = this.#freshKey;
    this.#freshToken = null;
    this.#freshKey = undefined;
    if (!fresh && this.#has(token)) throw new CoapArgumentError('the token is already used by a live exchange of this session');
    if (this.#slotToken === null) {
      this.#slotToken = token;
      this.#slotHandler = handler;
      return undefined;
    }
    const key = freshKey ?? tokenKey(token);
    (this.#handlers ??= new Map()).set(key, handler);
    return key;
  }

  /** Unregisters `handler` from `token` (nothing happens when another handler holds it by now); `key` from `add`. */
  remove(token: Uint8Array, handler: ResponseHandler, key?: string): void {
    if (this.#slotHandler === handler) {
      this.#slotToken = null;
      this.#slotHandler = null;
    } else if (this.#handlers !== null && this.#handlers.size > 0) {
      const filed = key ?? tokenKey(token);
      if (this.#handlers.get(filed) === handler) this.#handlers.delete(filed);
    }
  }

  /** Drops the table when only the slot is in use (called when the session goes idle). */
  compact(): void {
    if (this.#handlers !== null && this.#handlers.size === 0) this.#handlers = null;
  }

  /** Delivers `pdu` to the exchange holding its token; false when there is none or it rejects it. */
  route(pdu: CoapPdu): boolean {
    const token = pdu.token;
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) return deliver(this.#slotHandler!, pdu);
    if (this.#handlers === null || this.#handlers.size === 0) return false;
    const handler = this.#handlers.get(tokenKey(token));
    return handler === undefined ? false : deliver(handler, pdu);
  }

  #has(token: Uint8Array): boolean {
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) return true;
    return this.#handlers !== null && this.#handlers.size > 0 && this.#handlers.has(tokenKey(token));
  }
}

