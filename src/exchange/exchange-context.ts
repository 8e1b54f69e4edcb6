/**
 * The small interface every exchange (request, observe, block-wise) runs on. The datagram stack implements it
 * with the message layer (CON/NON, MIDs, retransmission); a reliable stack implements it with signaling, so
 * nothing in `exchange/` asks which transport it is on.
 */
import { Observable, type SchedulerLike } from 'rxjs';
import type { CoapDecodeError, PeerAddress } from '../errors';
import type { OutgoingPdu } from '../codec/pdu';
import type { SendCallbacks } from '../message-layer/message-layer';
import type { ResponseDeadlines } from './response-deadlines';
import type { TokenMatcher } from './token-matcher';

export type { OutgoingPdu } from '../codec/pdu';
export type { SendCallbacks } from '../message-layer/message-layer';

/** What an exchange needs from the stack below it. */
export interface ExchangeContext {
  /** Live tokens of the session; responses arrive through the handlers registered here. */
  readonly tokens: TokenMatcher;
  /** Sends a request (the per-request hot path, hence callbacks); returns the canceller. */
  send(request: OutgoingPdu, confirmable: boolean, callbacks: SendCallbacks): () => void;
  /** {@link ExchangeContext.send} as a cold Observable that completes when the peer has the request. */
  transmit(request: OutgoingPdu, confirmable: boolean): Observable<never>;
  readonly scheduler: SchedulerLike;
  /** How long to wait for a response after the request was acknowledged (separate response), in milliseconds. */
  readonly responseTimeout: number;
  /** How long a NON request waits for its response, in milliseconds. */
  readonly nonTimeout: number;
  /** The peer, for responses and errors. */
  readonly peer: PeerAddress;
  /**
   * The source of the message being routed to a response handler now (valid only inside the handler): on a
   * multicast session each member's own address, else `peer`. Optional: without it, `peer`.
   */
  messageSource?(): PeerAddress;
  /**
   * Counts a message the exchange layer found malformed (a critical option with a value out of its format):
   * the session reports it as a `bad-packet` event. Optional: a stack without events ignores it.
   */
  readonly reportBadPacket?: (error: CoapDecodeError) => void;
  /**
   * The queue a request waiting for its response joins (one timer per queue instead of one per request), by
   * CON/NON since their waits differ. Optional: without it a request schedules its own timeout.
   */
  responseDeadlines?(confirmable: boolean): ResponseDeadlines;
}

/**
 * What `send` returns when there is nothing to cancel (the request went out whole: a reliable transport), so a
 * caller can skip keeping and calling it.
 */
export const NOTHING_TO_CANCEL = (): void => {};

/** `transmit` in terms of `send`, for implementations of {@link ExchangeContext}. */
export function transmitWith(ctx: Pick<ExchangeContext, 'send'>, request: OutgoingPdu, confirmable: boolean): Observable<never> {
  return new Observable<never>((subscriber) =>
    ctx.send(request, confirmable, { acknowledged: () => subscriber.complete(), failed: (error) => subscriber.error(error) }),
  );
}
