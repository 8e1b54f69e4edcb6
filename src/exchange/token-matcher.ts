/**
 * Routes responses to live exchanges by token (RFC 7252 §5.3.2). The transport already guarantees the message
 * came from the session's peer; a token no exchange holds is unwanted (the message layer answers with RST).
 */
import { CoapArgumentError } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import { tokenKey, type TokenGenerator } from './token';

/** Receives the responses for one token; returns false to reject one (then the message layer sends RST). */
export type ResponseHandler = (pdu: CoapPdu) => boolean;

/** The live tokens of one session. */
export class TokenMatcher {
  /** Null while no exchange is live: an idle session holds no hash table (thousands of idle sessions). */
  #handlers: Map<string, ResponseHandler> | null = null;
  readonly #generate: TokenGenerator;

  constructor(generate: TokenGenerator) {
    this.#generate = generate;
  }

  /** Live exchanges. */
  get size(): number {
    return this.#handlers === null ? 0 : this.#handlers.size;
  }

  /** A fresh token that no live exchange holds. Gives up (typed error) if the generator keeps colliding. */
  newToken(): Uint8Array {
    for (let tries = 0; tries < 16; tries++) {
      const token = this.#generate();
      if (this.#handlers === null || !this.#handlers.has(tokenKey(token))) return token;
    }
    throw new CoapArgumentError('the token generator keeps returning tokens that are in use (token length too short?)');
  }

  /** Registers the handler for `token`; returns the function that unregisters it. */
  register(token: Uint8Array, handler: ResponseHandler): () => void {
    const key = tokenKey(token);
    const handlers = (this.#handlers ??= new Map());
    if (handlers.has(key)) throw new CoapArgumentError('the token is already used by a live exchange of this session');
    handlers.set(key, handler);
    return () => {
      const live = this.#handlers;
      if (live === null || live.get(key) !== handler) return;
      live.delete(key);
      if (live.size === 0) this.#handlers = null;
    };
  }

  /** Delivers `pdu` to the exchange holding its token; false when there is none or it rejects it. */
  route(pdu: CoapPdu): boolean {
    const handler = this.#handlers?.get(tokenKey(pdu.token));
    return handler === undefined ? false : handler(pdu);
  }
}
