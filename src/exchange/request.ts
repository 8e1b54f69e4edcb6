/**
 * One request, one response (RFC 7252 §5.2): takes a fresh token, sends, delivers the first acceptable response
 * (piggybacked, separate CON/NON) and ends. Cancelling stops the retransmission and frees the token; a response
 * that comes later is answered with RST by the message layer.
 *
 * {@link startRequest} is imperative (one object per request, no Observable: this is the hot path); block-wise
 * transfers, Echo and the session wrap it.
 */
import type { Subscription } from 'rxjs';
import { CoapOptionError, CoapTimeoutError } from '../errors';
import { tokenToHex, type CoapPdu } from '../codec/pdu';
import { findUnknownCritical, optionName } from '../codec/option-registry';
import type { ExchangeContext, OutgoingRequest, SendCallbacks } from './exchange-context';

/** Options of {@link startRequest}. */
export interface RequestExchangeOptions {
  /** Send as CON (retransmitted until acknowledged). @defaultValue true */
  readonly confirmable?: boolean;
  /** Use this token instead of a fresh one (it must not be live). */
  readonly token?: Uint8Array;
}

/** The request's token is chosen when it is sent; `token` of the request is ignored unless given in options. */
export type RequestTemplate = Omit<OutgoingRequest, 'token'>;

/** Where {@link startRequest} reports. Exactly one is called, once, unless cancelled first. */
export interface RequestCallbacks {
  response(pdu: CoapPdu): void;
  error(error: unknown): void;
}

/**
 * Checks a response for options we must understand (RFC 7252 §5.4.1): returns the error to fail the
 * exchange with, or undefined when the response is usable.
 */
export function rejectUnknownCritical(pdu: CoapPdu): CoapOptionError | undefined {
  const unknown = findUnknownCritical(pdu.options);
  if (unknown === undefined) return undefined;
  return new CoapOptionError(unknown, `the response carries critical option ${optionName(unknown)} that this client does not understand`);
}

/** Sends `request` and reports its response; returns the canceller. */
export function startRequest(ctx: ExchangeContext, request: RequestTemplate, options: RequestExchangeOptions, callbacks: RequestCallbacks): () => void {
  return new PendingRequest(ctx, request, options, callbacks).cancel;
}

/**
 * One request in flight: an object rather than a handful of closures (this is the per-request path). It is
 * its own send callbacks; `handler` receives the responses for its token; `cancel` ends it.
 */
class PendingRequest implements SendCallbacks {
  readonly #ctx: ExchangeContext;
  readonly #callbacks: RequestCallbacks;
  readonly #token: Uint8Array;
  readonly #confirmable: boolean;
  #done = false;
  #cancelSend: (() => void) | undefined;
  #wait: Subscription | undefined;

  constructor(ctx: ExchangeContext, request: RequestTemplate, options: RequestExchangeOptions, callbacks: RequestCallbacks) {
    this.#ctx = ctx;
    this.#callbacks = callbacks;
    this.#confirmable = options.confirmable ?? true;
    const token = (this.#token = options.token ?? ctx.tokens.newToken());
    ctx.tokens.add(token, this.handler);
    const cancelSend = ctx.send({ code: request.code, token, options: request.options, payload: request.payload }, this.#confirmable, this);
    if (this.#done) cancelSend(); // answered synchronously (a fake transport can)
    else this.#cancelSend = cancelSend;
  }

  readonly handler = (pdu: CoapPdu): boolean => {
    if (this.#done) return false;
    const problem = rejectUnknownCritical(pdu);
    this.#finish();
    if (problem !== undefined) {
      this.#callbacks.error(problem);
      return false; // RFC 7252 §5.4.1: reject the message (RST for CON/NON)
    }
    this.#callbacks.response(pdu);
    return true;
  };

  readonly cancel = (): void => {
    if (!this.#done) this.#finish();
  };

  acknowledged(): void {
    if (this.#done) return;
    // Acknowledged (empty ACK) or sent as NON: the response may take a while (separate response, RFC 7252 §5.2.2).
    const ctx = this.#ctx;
    const confirmable = this.#confirmable;
    const wait = confirmable ? ctx.responseTimeout : ctx.nonTimeout;
    this.#wait = ctx.scheduler.schedule(() => {
      this.#finish();
      this.#callbacks.error(
        new CoapTimeoutError(confirmable ? 'no response after the request was acknowledged' : 'no response to the NON request', {
          peer: ctx.peer,
          token: tokenToHex(this.#token),
          elapsed: wait,
        }),
      );
    }, wait);
  }

  failed(error: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#callbacks.error(error);
  }

  #finish(): void {
    this.#done = true;
    this.#ctx.tokens.remove(this.#token, this.handler);
    this.#cancelSend?.();
    this.#wait?.unsubscribe();
  }
}
