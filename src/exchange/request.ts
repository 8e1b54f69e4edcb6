/**
 * One request, one response (RFC 7252 §5.2): a cold Observable that takes a fresh token on subscribe, sends,
 * emits the first acceptable response (piggybacked, separate CON/NON) and completes. Unsubscribing stops the
 * retransmission and frees the token; a response that comes later is answered with RST by the message layer.
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

/**
 * Checks a response for options we must understand (RFC 7252 §5.4.1): returns the error to fail the
 * exchange with, or undefined when the response is usable.
 */
export function rejectUnknownCritical(pdu: CoapPdu): CoapOptionError | undefined {
  const unknown = findUnknownCritical(pdu.options);
  if (unknown === undefined) return undefined;
  return new CoapOptionError(unknown, `the response carries critical option ${optionName(unknown)} that this client does not understand`);
}

/** Sends `request` and emits its response PDU. */
export function requestExchange(ctx: ExchangeContext, request: RequestTemplate, options: RequestExchangeOptions = {}): Observable<CoapPdu> {
  const confirmable = options.confirmable ?? true;
  return new Observable<CoapPdu>((subscriber) => {
    const token = options.token ?? ctx.tokens.newToken();
    let answered = false;
    subscriber.add(
      ctx.tokens.register(token, (pdu) => {
        if (answered) return false;
        const problem = rejectUnknownCritical(pdu);
        if (problem !== undefined) {
          subscriber.error(problem);
          return false; // RFC 7252 §5.4.1: reject the message (RST for CON/NON)
        }
        answered = true;
        subscriber.next(pdu);
        subscriber.complete();
        return true;
      }),
    );
    const sent = (): void => {
      if (answered) return;
      // Acknowledged (empty ACK) or sent as NON: the response may take a while (separate response, RFC 7252 §5.2.2).
      const wait = confirmable ? ctx.responseTimeout : ctx.nonTimeout;
      subscriber.add(
        ctx.scheduler.schedule(() => {
          subscriber.error(
            new CoapTimeoutError(confirmable ? 'no response after the request was acknowledged' : 'no response to the NON request', {
              peer: ctx.peer,
              token: tokenToHex(token),
              elapsed: wait,
            }),
          );
        }, wait),
      );
    };
    subscriber.add(ctx.transmit({ ...request, token }, confirmable).subscribe({ error: (error) => subscriber.error(error), complete: sent }));
  });
}
