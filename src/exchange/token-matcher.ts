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

/** Receives the responses for one token; returns false to reject one (then the message layer sends RST). */
export type ResponseHandler = (pdu: CoapPdu) => boolean;

/** The live tokens of one session. */
export class TokenMatcher {
  /** The slot's token bytes (compared byte by byte: no string key per message in the common case). */
  #slotToken: Uint8Array | null = null;
  #slotHandler: ResponseHandler | null = null;
  /** Further live tokens; null once the session is idle (see compact): no hash table per idle session. */
  #handlers: Map<string, ResponseHandler> | null = null;
  readonly #generate: TokenGenerator;

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
      if (!this.#has(token)) return token;
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
    if (this.#has(token)) throw new CoapArgumentError('the token is already used by a live exchange of this session');
    if (this.#slotToken === null) {
      this.#slotToken = token;
      this.#slotHandler = handler;
    } else (this.#handlers ??= new Map()).set(tokenKey(token), handler);
  }

  /** Unregisters `handler` from `token` (nothing happens when another handler holds it by now). */
  remove(token: Uint8Array, handler: ResponseHandler): void {
    if (this.#slotHandler === handler) {
      this.#slotToken = null;
      this.#slotHandler = null;
    } else if (this.#handlers !== null && this.#handlers.size > 0) {
      const key = tokenKey(token);
      if (this.#handlers.get(key) === handler) this.#handlers.delete(key);
    }
  }

  /** Drops the table when only the slot is in use (called when the session goes idle). */
  compact(): void {
    if (this.#handlers !== null && this.#handlers.size === 0) this.#handlers = null;
  }

  /** Delivers `pdu` to the exchange holding its token; false when there is none or it rejects it. */
  route(pdu: CoapPdu): boolean {
    const token = pdu.token;
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) return this.#slotHandler!(pdu);
    if (this.#handlers === null || this.#handlers.size === 0) return false;
    const handler = this.#handlers.get(tokenKey(token));
    return handler === undefined ? false : handler(pdu);
  }

  #has(token: Uint8Array): boolean {
    if (this.#slotToken !== null && sameBytes(token, this.#slotToken)) return true;
    return this.#handlers !== null && this.#handlers.size > 0 && this.#handlers.has(tokenKey(token));
  }
}

