/**
 * Echo (RFC 9175 §2): a server proves a request is fresh, or that the client is reachable at its address, by
 * handing out an Echo value that the client repeats.
 * - A 4.01 Unauthorized carrying Echo asks for the request again with that value (RFC 9175 §2.3): retried once,
 *   with a fresh token (RFC 9175 §4.2: a token is not reused for a new request).
 * - An Echo in any other response is kept in the session's {@link EchoState} and sent with the next request to
 *   that server, once (RFC 9175 §2.3: "the client SHOULD include the value in its next request").
 */
import { defer, map, Observable, of, switchMap } from 'rxjs';
import { OptionNumber } from '../codec/option-numbers';
import { getOption, ResponseCode, withOption, type CoapPdu } from '../codec/pdu';
import type { ExchangeContext } from './exchange-context';
import { requestExchange, type RequestTemplate } from './request';

/** The Echo value one session was handed and has not sent back yet. */
export class EchoState {
  #pending: Uint8Array | undefined;

  /** Keeps `value` for the next request (the newest value wins). */
  remember(value: Uint8Array): void {
    this.#pending = value;
  }

  /** The value to send with the next request, once; undefined when there is none. */
  take(): Uint8Array | undefined {
    const value = this.#pending;
    this.#pending = undefined;
    return value;
  }

  /** True when a value waits for the next request. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }
}

/** Options of {@link echoExchange}. */
export interface EchoExchangeOptions {
  /** Send as CON. @defaultValue true */
  readonly confirmable?: boolean;
  /** Token of the first attempt (a retry always takes a fresh one). */
  readonly token?: Uint8Array;
  /** The session's Echo state; without it Echo values in 2.xx responses are ignored. */
  readonly echo?: EchoState;
}

/**
 * One request and its response, with RFC 9175 §2 Echo handling: a pending Echo value goes with the request, a
 * 4.01 with Echo is retried once with that value, and an Echo in another response is remembered.
 */
export function echoExchange(ctx: ExchangeContext, request: RequestTemplate, options: EchoExchangeOptions = {}): Observable<CoapPdu> {
  return defer(() => {
    const pending = options.echo?.take();
    const first = pending !== undefined && getOption(request, OptionNumber.Echo) === undefined ? withEchoValue(request, pending) : request;
    return requestExchange(ctx, first, { confirmable: options.confirmable, token: options.token }).pipe(
      switchMap((response) => {
        const echo = getOption(response, OptionNumber.Echo);
        if (echo === undefined) return of(response);
        if (response.code === ResponseCode.Unauthorized) {
          // RFC 9175 §2.3: repeat the request with the Echo value, once; a second 4.01 is the answer.
          return requestExchange(ctx, withEchoValue(request, echo), { confirmable: options.confirmable }).pipe(
            map((retried) => {
              remember(options.echo, retried);
              return retried;
            }),
          );
        }
        remember(options.echo, response);
        return of(response);
      }),
    );
  });
}

/** The request with `value` as its (only) Echo option. */
export function withEchoValue(request: RequestTemplate, value: Uint8Array): RequestTemplate {
  return { ...request, options: withOption(request.options, OptionNumber.Echo, [value]) };
}

function remember(state: EchoState | undefined, response: CoapPdu): void {
  if (state === undefined || response.code === ResponseCode.Unauthorized) return;
  const echo = getOption(response, OptionNumber.Echo);
  if (echo !== undefined) state.remember(echo);
}
