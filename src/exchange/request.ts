/**
 * One request, one response (RFC 7252 §5.2): takes a fresh token, sends, delivers the first acceptable response
 * (piggybacked, separate CON/NON) and ends. Cancelling stops the retransmission and frees the token; a response
 * that comes later is answered with RST by the message layer.
 *
 * {@link startRequest} is imperative (one object per request, no Observable: this is the hot path); block-wise
 * transfers and Echo wrap it; the session's fast path extends {@link RequestExchange} itself.
 */
import type { Subscription } from 'rxjs';
import { CoapDecodeError, CoapOptionError, CoapTimeoutError } from '../errors';
import { EMPTY_BYTES, tokenToHex, type CoapOption, type CoapPdu } from '../codec/pdu';
import { findUnknownCritical, optionName, optionValueProblem } from '../codec/option-registry';
import { NOTHING_TO_CANCEL, type ExchangeContext, type OutgoingPdu, type SendCallbacks } from './exchange-context';
import type { ResponseDeadlines, ResponseWaiter } from './response-deadlines';

/** Options of {@link startRequest}. */
export interface RequestExchangeOptions {
  /** Send as CON (retransmitted until acknowledged). @defaultValue true */
  readonly confirmable?: boolean;
  /** Use this token instead of a fresh one (it must not be live). */
  readonly token?: Uint8Array;
}

/** The request's token is chosen when it is sent; `token` of the request is ignored unless given in options. */
export type RequestTemplate = Omit<OutgoingPdu, 'token'>;

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

/**
 * Checks a response before any layer reads its options. RFC 7252 §5.4.3: a value outside its option's format
 * (a Block2 of 4 bytes, an Observe of 5) is treated like an unrecognized option: a critical one rejects the
 * message (the error returned, a `CoapDecodeError` the session counts as a bad packet), an elective one is
 * ignored (the PDU returned without it). Unknown critical options reject it too (§5.4.1, `CoapOptionError`).
 * Returns the PDU (the same object when all is well: no allocation on the common path) or the error.
 */
export function checkResponse(pdu: CoapPdu): CoapPdu | CoapOptionError | CoapDecodeError {
  const options = pdu.options;
  let kept: CoapOption[] | undefined;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    const problem = optionValueProblem(option.number, option.value);
    if (problem === undefined) {
      kept?.push(option);
      continue;
    }
    if ((option.number & 1) === 1) {
      return new CoapDecodeError('BAD_OPTION_VALUE', `critical option ${problem}`, { messageId: pdu.messageId });
    }
    kept ??= options.slice(0, i) as CoapOption[]; // elective: dropped
  }
  const checked = kept === undefined ? pdu : { ...pdu, options: kept };
  return rejectUnknownCritical(checked) ?? checked;
}

/** Sends `request` and reports its response; returns the canceller. */
export function startRequest(ctx: ExchangeContext, request: RequestTemplate, options: RequestExchangeOptions, callbacks: RequestCallbacks): () => void {
  const exchange = new RequestExchange(ctx, options, callbacks);
  exchange.start(request);
  return () => exchange.cancel();
}

/**
 * One request in flight: an object rather than a handful of closures (this is the per-request path). It is
 * its own send callbacks and its own response handler (the matcher delivers the responses for its token).
 * The outcome goes to `callbacks`, or to a subclass's {@link RequestExchange.exchangeResponse} and
 * `exchangeError` (exactly one is called, once, unless cancelled first): a caller with an object per request
 * anyway (the session) extends it and needs no second one. Construct, then {@link RequestExchange.start};
 * {@link RequestExchange.cancel} ends it.
 */
export class RequestExchange implements SendCallbacks, ResponseWaiter {
  readonly #ctx: ExchangeContext;
  readonly #confirmable: boolean;
  readonly #requestedToken: Uint8Array | undefined;
  readonly #callbacks: RequestCallbacks | undefined;
  #token: Uint8Array = EMPTY_BYTES;
  /**
   * Live: started and not ended (answered, failed, cancelled). Read it, do not set it (a field, not a getter: the
   * deadline queue reads it for every request).
   */
  waitingForResponse = false;
  #cancelSend: (() => void) | undefined;
  #wait: Subscription | undefined;
  responseDeadline = 0;
  #deadlines: ResponseDeadlines | undefined;

  /** `callbacks` may be left out by a subclass that overrides `exchangeResponse` and `exchangeError`. */
  constructor(ctx: ExchangeContext, options: RequestExchangeOptions, callbacks?: RequestCallbacks) {
    this.#ctx = ctx;
    this.#confirmable = options.confirmable ?? true;
    this.#requestedToken = options.token;
    this.#callbacks = callbacks;
  }

  /** The response (checked: RFC 7252 §5.4); a throw fails the request with `exchangeError`. */
  protected exchangeResponse(pdu: CoapPdu): void {
    this.#callbacks!.response(pdu);
  }

  /** The request failed (timeout, transport, a response rejected). */
  protected exchangeError(error: unknown): void {
    this.#callbacks!.error(error);
  }

  /** Takes a fresh token (unless one was given) and sends `request`; call once. */
  start(request: RequestTemplate): void {
    const ctx = this.#ctx;
    const token = (this.#token = this.#requestedToken ?? ctx.tokens.newToken());
    ctx.tokens.add(token, this);
    this.waitingForResponse = true;
    const cancelSend = ctx.send({ code: request.code, token, options: request.options, payload: request.payload }, this.#confirmable, this);
    if (cancelSend === NOTHING_TO_CANCEL) return;
    if (!this.waitingForResponse) cancelSend(); // answered synchronously (a fake transport can)
    else this.#cancelSend = cancelSend;
  }

  /** The responses for this request's token (the request is its own handler). */
  handleResponse(pdu: CoapPdu): boolean {
    if (!this.waitingForResponse) return false;
    const checked = checkResponse(pdu);
    this.#finish();
    if (checked instanceof Error) {
      if (checked instanceof CoapDecodeError) this.#ctx.reportBadPacket?.(checked);
      this.exchangeError(checked);
      return false; // RFC 7252 §5.4.1: reject the message (RST for CON/NON)
    }
    try {
      this.exchangeResponse(checked);
    } catch (error) {
      // Nothing that arrives from the network may throw out of this layer: the request fails instead.
      this.exchangeError(error);
    }
    return true;
  }

  /** Stops it: no retransmission, the token freed; nothing is reported. Does nothing once it ended. */
  cancel(): void {
    if (this.waitingForResponse) this.#finish();
  }

  acknowledged(): void {
    if (!this.waitingForResponse) return;
    // Acknowledged (empty ACK) or sent as NON: the response may take a while (separate response, RFC 7252 §5.2.2).
    const ctx = this.#ctx;
    const confirmable = this.#confirmable;
    const wait = confirmable ? ctx.responseTimeout : ctx.nonTimeout;
    const deadlines = ctx.responseDeadlines?.(confirmable);
    if (deadlines !== undefined) {
      this.responseDeadline = ctx.scheduler.now() + wait;
      this.#deadlines = deadlines;
      deadlines.add(this);
      return;
    }
    this.#wait = ctx.scheduler.schedule(() => this.responseTimedOut(), wait);
  }

  responseTimedOut(): void {
    if (!this.waitingForResponse) return;
    this.#finish();
    const ctx = this.#ctx;
    const confirmable = this.#confirmable;
    this.exchangeError(
      new CoapTimeoutError(confirmable ? 'no response after the request was acknowledged' : 'no response to the NON request', {
        peer: ctx.peer,
        token: tokenToHex(this.#token),
        elapsed: confirmable ? ctx.responseTimeout : ctx.nonTimeout,
      }),
    );
  }

  failed(error: unknown): void {
    if (!this.waitingForResponse) return;
    this.#finish();
    this.exchangeError(error);
  }

  #finish(): void {
    this.waitingForResponse = false;
    const deadlines = this.#deadlines;
    if (deadlines !== undefined) {
      this.#deadlines = undefined;
      deadlines.settle(); // answered: leave the queue when at its head (an idle session keeps no request)
    }
    this.#ctx.tokens.remove(this.#token, this);
    this.#cancelSend?.();
    this.#wait?.unsubscribe();
  }
}
