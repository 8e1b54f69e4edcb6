/**
 * A multicast request (RFC 7252 §8): one NON to a group, any number of answers. Every member that answers
 * does so from its own unicast address after a random wait of up to its leisure (§8.2), so the request
 * collects: it emits each response with the address it came from, for the whole window (leisure plus a margin
 * for the way back, on the injected scheduler), then completes. Unsubscribing stops early.
 *
 * Answers are matched by token only (§8.2: they come from addresses the request was not sent to); the token
 * stays ours for the whole window, so a second answer from the same member (a new MID) is emitted too, while a
 * repeated datagram (same MID, same member) is dropped by the message layer's per-source deduplication.
 */
import { Observable, type Subscriber, type Subscription } from 'rxjs';
import { CoapDecodeError } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import type { ExchangeContext, SendCallbacks } from './exchange-context';
import { checkResponse, type RequestTemplate } from './request';
import { CoapResponse } from './response';

/**
 * Sends `request` as a NON to the group `ctx.peer` names and emits every response for its token, each with
 * its source as `remote`, until `window` milliseconds after it was sent; then completes. A response the client
 * cannot use (a critical option it does not understand, a bad option value) is dropped and counted as a bad
 * packet; the rest go on.
 */
export function multicastRequest(ctx: ExchangeContext, request: RequestTemplate, window: number): Observable<CoapResponse> {
  return new Observable<CoapResponse>((subscriber) => {
    const collection = new MulticastCollection(ctx, request, window, subscriber);
    return () => collection.stop();
  });
}

/** One multicast request collecting its answers: its own send callbacks and token handler. */
class MulticastCollection implements SendCallbacks {
  readonly #ctx: ExchangeContext;
  readonly #subscriber: Subscriber<CoapResponse>;
  readonly #window: number;
  readonly #token: Uint8Array;
  #cancelSend: (() => void) | undefined;
  #timer: Subscription | undefined;
  #done = false;

  constructor(ctx: ExchangeContext, request: RequestTemplate, window: number, subscriber: Subscriber<CoapResponse>) {
    this.#ctx = ctx;
    this.#subscriber = subscriber;
    this.#window = window;
    const token = (this.#token = ctx.tokens.newToken());
    ctx.tokens.add(token, this);
    // RFC 7252 §8.1: a multicast request is never confirmable.
    const cancel = ctx.send({ code: request.code, token, options: request.options, payload: request.payload }, false, this);
    if (this.#done) cancel();
    else this.#cancelSend = cancel;
  }

  /** The NON is out: the window starts now. */
  acknowledged(): void {
    if (this.#done || this.#timer !== undefined) return;
    this.#timer = this.#ctx.scheduler.schedule(() => {
      this.#timer = undefined;
      if (this.#done) return;
      this.stop();
      this.#subscriber.complete();
    }, this.#window);
  }

  failed(error: unknown): void {
    if (this.#done) return;
    this.stop();
    this.#subscriber.error(error);
  }

  /** Every answer for our token, from any member. */
  handleResponse(pdu: CoapPdu): boolean {
    if (this.#done) return false;
    const checked = checkResponse(pdu);
    if (checked instanceof Error) {
      // One member's bad answer does not end the collection: it is counted and rejected, the others go on.
      if (checked instanceof CoapDecodeError) this.#ctx.reportBadPacket?.(checked);
      return false;
    }
    const source = this.#ctx.messageSource?.() ?? this.#ctx.peer;
    try {
      this.#subscriber.next(new CoapResponse(checked, source));
    } catch (error) {
      // Nothing from the network may throw out of this layer.
      this.failed(error);
    }
    return true;
  }

  /** Ends the collection (window over, unsubscribed, failed): frees the token, stops the timer. */
  stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ctx.tokens.remove(this.#token, this);
    this.#cancelSend?.();
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }
}
