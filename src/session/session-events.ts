/**
 * What `session.events$` emits: libcoap's event list (`coap_event_t`) where it applies to UDP and DTLS, as
 * typed objects. Nothing here ever carries key material.
 */
import type { CoapDecodeError, PeerAddress } from '../errors';

/** One session event. */
export type SessionEvent =
  /** COAP_EVENT_SESSION_CONNECTED: the socket is open (and the DTLS handshake done). */
  | { readonly type: 'connected'; readonly local: PeerAddress; readonly remote: PeerAddress }
  /** COAP_EVENT_SESSION_CLOSED. */
  | { readonly type: 'closed'; readonly reason: string }
  /** COAP_EVENT_SESSION_FAILED: the transport failed; exchanges in flight fail with `error`. */
  | { readonly type: 'failed'; readonly error: Error }
  /** COAP_EVENT_DTLS_CONNECTED, with the negotiated cipher suite. */
  | { readonly type: 'dtls-connected'; readonly cipherSuite: string; readonly attempts: number }
  /** The DTLS handshake is tried again after `delay` milliseconds. */
  | { readonly type: 'dtls-retry'; readonly attempt: number; readonly delay: number; readonly reason: string }
  /** COAP_EVENT_MSG_RETRANSMITTED. */
  | { readonly type: 'retransmitted'; readonly messageId: number; readonly attempt: number }
  /** COAP_EVENT_BAD_PACKET: a datagram that is not CoAP; dropped (and answered with RST when possible). */
  | { readonly type: 'bad-packet'; readonly error: CoapDecodeError }
  /** A duplicate CON/NON from the peer, answered again and not delivered twice. */
  | { readonly type: 'duplicate'; readonly messageId: number }
  /** A CON/NON for no live exchange, answered with RST. */
  | { readonly type: 'rejected'; readonly messageId: number }
  /** An ACK with the message ID of an outstanding request but another token (RFC 7252 §5.3.2): ignored. */
  | { readonly type: 'mismatched-ack'; readonly messageId: number }
  /** Every message ID was used within EXCHANGE_LIFETIME: new messages wait `delay` milliseconds. */
  | { readonly type: 'mid-exhausted'; readonly delay: number }
  /** Something the user should know, e.g. that `verifyPeerCert: false` skips every certificate check. */
  | { readonly type: 'warning'; readonly message: string; readonly reason?: 'unauthenticated' | 'verification-off' }
  /** The connection was lost and a reconnect is scheduled in `delay` milliseconds (`reconnect` option). */
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delay: number; readonly error: Error }
  /** Connected again after `attempts` attempts; live observations register again. */
  | { readonly type: 'reconnected'; readonly attempts: number }
  /** Gave up after `attempts` attempts; the observations that waited fail with `error`. */
  | { readonly type: 'reconnect-failed'; readonly attempts: number; readonly error: Error }
  /** An observation was registered again (Max-Age ran out without a notification). */
  | { readonly type: 'reregistered'; readonly path: string }
  /** COAP_EVENT_PARTIAL_BLOCK / XMIT_BLOCK_FAIL style: a block-wise transfer restarted from block 0 (ETag changed). */
  | { readonly type: 'block-restart'; readonly reason: string };
