/**
 * The small interface every exchange (request, observe, block-wise) runs on. The datagram stack implements it
 * with the message layer (CON/NON, MIDs, retransmission); a reliable stack implements it with signaling, so
 * nothing in `exchange/` asks which transport it is on.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type { PeerAddress } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import type { TokenMatcher } from './token-matcher';

/** A request to send: everything but type and message ID. */
export type OutgoingRequest = Omit<CoapPdu, 'type' | 'messageId'>;

/** What an exchange needs from the stack below it. */
export interface ExchangeContext {
  /** Live tokens of the session; responses arrive through the handlers registered here. */
  readonly tokens: TokenMatcher;
  /**
   * Sends a request. Completes when the peer has it (ACK for CON; at once for NON and on reliable transports),
   * errors with `CoapResetError`/`CoapTimeoutError`/transport errors.
   */
  transmit(request: OutgoingRequest, confirmable: boolean): Observable<never>;
  readonly scheduler: SchedulerLike;
  /** How long to wait for a response after the request was acknowledged (separate response), in milliseconds. */
  readonly responseTimeout: number;
  /** How long a NON request waits for its response, in milliseconds. */
  readonly nonTimeout: number;
  /** The peer, for responses and errors. */
  readonly peer: PeerAddress;
}
