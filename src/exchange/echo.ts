/**
 * Echo (RFC 9175 §2): a server proves a request is fresh, or that the client is reachable at its address, by
 * handing out an Echo value that the client repeats.
 * - A 4.01 Unauthorized carrying Echo asks for the request again with that value (RFC 9175 §2.3): retried once,
 *   with a fresh token (RFC 9175 §4.2: a token is not reused for a new request).
 * - An Echo in any other response is kept in the session's {@link EchoState} and sent with the next request to
 *   that server, once (RFC 9175 §2.3: "the client SHOULD include the value in its next request").
 *
 * {@link echoSender} is the engine: block-wise transfers build one per transfer and call it once per block (no
 * Observable per block).
 */
import { OptionNumber } from '../codec/option-numbers';
import { getOption, ResponseCode, withOption, type CoapPdu } from '../codec/pdu';
import type { ExchangeContext } from './exchange-context';
import { startRequest, type RequestCallbacks, type RequestTemplate } from './request';

/** The Echo value one session was handed and has not sent back yet. */
export class EchoState {
  #value: Uint8Array | undefined;
  /**
   * True when a value waits for the next request. Read it, do not set it (a field, not a getter: every request
   * reads it, and at a few requests a second each call runs cold).
   */
  pending = false;

  /** Keeps `value` for the next request (the newest value wins). */
  remember(value: Uint8Array): void {
    this.#value = value;
    this.pending = true;
  }

  /** The value to send with the next request, once; undefined when there is none. */
  take(): Uint8Array | undefined {
    const value = this.#value;
    this.#value = undefined;
    this.pending = false;
    return value;
  }
}

/** Options of an Echo-handling exchange ({@link echoSender}). */
export interface EchoExchangeOptions {
  /** Send as CON. @defaultValue true */
  readonly confirmable?: boolean;
  /** Token of the first attempt (a retry always takes a fresh one). */
  readonly token?: Uint8Array;
  /** The session's Echo state; without it Echo values in 2.xx responses are ignored. */
  readonly echo?: EchoState;
}

/** Sends one request with Echo handling (see {@link echoSender}); returns the canceller. */
export type EchoSend = (request: RequestTemplate, callbacks: RequestCallbacks, token?: Uint8Array) => () => void;

/**
 * A sender for requests that go one at a time (the blocks of one transfer), with RFC 9175 §2 Echo handling: a
 * pending Echo value goes with the request, a 4.01 with Echo is retried once with that value (fresh token), and
 * an Echo in another response is remembered. Each request's response (or error) goes to its `callbacks`, exactly
 * once unless cancelled first; `token` is the first attempt's token (default: a fresh one).
 *
 * Built once per transfer, it allocates nothing per request beyond {@link startRequest}'s own closures (blocks
 * are the hot path). Every returned canceller cancels the request in flight, so it must not be kept past the
 * response of the request it came with.
 */
export function echoSender(ctx: ExchangeContext, options: Pick<EchoExchangeOptions, 'confirmable' | 'echo'>): EchoSend {
  const state = options.echo;
  const retryOptions = { confirmable: options.confirmable };
  let request: RequestTemplate | undefined;
  let callbacks: RequestCallbacks | undefined;
  let cancelCurrent: (() => void) | undefined;
  let starts = 0;

  const onError = (error: unknown): void => {
    const target = callbacks!;
    callbacks = undefined;
    request = undefined;
    target.error(error);
  };
  const retry: RequestCallbacks = {
    response(response) {
      remember(state, response);
      const target = callbacks!;
      callbacks = undefined;
      request = undefined;
      target.response(response);
    },
    error: onError,
  };
  const first: RequestCallbacks = {
    response(response) {
      const echo = getOption(response, OptionNumber.Echo);
      if (echo !== undefined) {
        if (response.code === ResponseCode.Unauthorized) {
          // RFC 9175 §2.3: repeat the request with the Echo value, once; a second 4.01 is the answer.
          const id = ++starts;
          const cancelRetry = startRequest(ctx, withEchoValue(request!, echo), retryOptions, retry);
          if (id === starts) cancelCurrent = cancelRetry; // else a synchronous answer already moved on
          return;
        }
        state?.remember(echo);
      }
      const target = callbacks!;
      callbacks = undefined;
      request = undefined;
      target.response(response);
    },
    error: onError,
  };
  const cancel = (): void => {
    const current = cancelCurrent;
    cancelCurrent = undefined;
    callbacks = undefined;
    request = undefined;
    current?.();
  };

  return (message, handler, token) => {
    request = message;
    callbacks = handler;
    const pending = state?.take();
    const sent = pending !== undefined && getOption(message, OptionNumber.Echo) === undefined ? withEchoValue(message, pending) : message;
    const id = ++starts;
    const cancelFirst = startRequest(ctx, sent, token === undefined ? retryOptions : { confirmable: options.confirmable, token }, first);
    // A synchronous answer may already have started the next request (and set its canceller).
    if (id === starts) cancelCurrent = cancelFirst;
    return cancel;
  };
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
