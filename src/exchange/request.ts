/**
 * One request, one response (RFC 7252 §5.2): takes a fresh token, sends, delivers the first acceptable response
 * (piggybacked, separate CON/NON) and ends. Cancelling stops the retransmission and frees the token; a response
 * that comes later is answered with RST by the message layer.
 *
 * {@link startRequest} is the imperative core (one closure per request, no Observable: this is the hot path);
 * {@link requestExchange} is the same as a cold Observable for composition (block-wise, Echo).
 */
import { Observable } from 'rxjs';
import { CoapOptionError, CoapTimeoutError } from '../errors';
import { tokenToHex, type CoapPdu } from '../codec/pdu';
import { findUnknownCritical, optionName } from '../codec/option-registry';
import type { ExchangeContext, OutgoingRequest } from './exchange-context';

/** Options of {@link requestExchange}. */
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
  const confirmable = options.confirmable ?? true;
  const token = options.token ?? ctx.tokens.newToken();
  let done = false;
  let cancelSend: (() => void) | undefined;
  let cancelWait: { unsubscribe(): void } | undefined;
  const unregister = ctx.tokens.register(token, (pdu) => {
    if (done) return false;
    const problem = rejectUnknownCritical(pdu);
    finish();
    if (problem !== undefined) {
      callbacks.error(problem);
      return false; // RFC 7252 §5.4.1: reject the message (RST for CON/NON)
    }
    callbacks.response(pdu);
    return true;
  });
  const finish = (): void => {
    done = true;
    unregister();
    cancelSend?.();
    cancelWait?.unsubscribe();
  };
  cancelSend = ctx.send({ code: request.code, token, options: request.options, payload: request.payload }, confirmable, {
    acknowledged() {
      if (done) return;
      // Acknowledged (empty ACK) or sent as NON: the response may take a while (separate response, RFC 7252 §5.2.2).
      const wait = confirmable ? ctx.responseTimeout : ctx.nonTimeout;
      cancelWait = ctx.scheduler.schedule(() => {
        finish();
        callbacks.error(
          new CoapTimeoutError(confirmable ? 'no response after the request was acknowledged' : 'no response to the NON request', {
            peer: ctx.peer,
            token: tokenToHex(token),
            elapsed: wait,
          }),
        );
      }, wait);
    },
    failed(error) {
      if (done) return;
      finish();
      callbacks.error(error);
    },
  });
  if (done) cancelSend(); // answered synchronously (a fake transport can)
  return () => {
    if (!done) finish();
  };
}

/** Sends `request` and emits its response PDU, then completes. */
export function requestExchange(ctx: ExchangeContext, request: RequestTemplate, options: RequestExchangeOptions = {}): Observable<CoapPdu> {
  return new Observable<CoapPdu>((subscriber) =>
    startRequest(ctx, request, options, {
      response(pdu) {
        subscriber.next(pdu);
        subscriber.complete();
      },
      error: (error) => subscriber.error(error),
    }),
  );
}
