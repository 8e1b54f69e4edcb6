/**
 * The one contract between sockets and everything above them. A transport factory returns a cold
 * Observable: subscribing opens the socket (and runs any handshake), emits one {@link Transport} when it
 * is ready to carry frames, and unsubscribing closes it. The Observable errors with a `CoapError`
 * (`CoapTransportError`, `CoapDtlsError`) when the connection fails or is lost.
 *
 * Datagram transports (udp, dtls) carry one CoAP message per frame; reliable ones (tcp, tls, ws) carry
 * a byte stream or WS messages, and `session/pipeline.ts` picks the stack from `reliable`.
 */
import type { Observable } from 'rxjs';
import type { PeerAddress } from '../errors';

/** Something the transport wants the session (and its `events$`) to know. */
export type TransportEvent =
  | { readonly type: 'connected'; readonly local: PeerAddress; readonly remote: PeerAddress }
  | { readonly type: 'dtls-connected'; readonly cipherSuite: string; readonly attempts: number }
  | { readonly type: 'dtls-retry'; readonly attempt: number; readonly delay: number; readonly reason: string }
  | { readonly type: 'closed'; readonly reason: string }
  | { readonly type: 'warning'; readonly message: string };

/**
 * How CoAP messages sit in the frames of a transport, which picks the framing step under the stack:
 * - `'datagram'`: one frame is one RFC 7252 message (udp, dtls, unix-dgram);
 * - `'stream'`: frames are chunks of a byte stream of RFC 8323 §3.2 frames, cut anywhere (tcp, tls, unix stream);
 * - `'websocket'`: one frame is one RFC 8323 §4 message (ws, wss).
 */
export type Framing = 'datagram' | 'stream' | 'websocket';

/** An open connection to one peer. */
export interface Transport {
  /** Frames received from the peer (and only from the peer: datagrams from other addresses are dropped here). */
  readonly frames$: Observable<Uint8Array>;
  /** Sends one frame. Never throws: a failure arrives as an error of the factory's Observable. */
  send(frame: Uint8Array): void;
  /** Connection-level events. */
  readonly events$: Observable<TransportEvent>;
  /** Bytes a security layer adds to each frame (DTLS record header + MAC), taken off the MTU for `maxPduSize()`. */
  readonly maxFrameOverhead: number;
  /** True for byte streams / WS (no message layer), false for datagrams. */
  readonly reliable: boolean;
  /** How messages are framed; absent means `'datagram'` when not reliable and `'stream'` when reliable. */
  readonly framing?: Framing;
  /** Our side of the connection. */
  readonly local: PeerAddress;
  /** The peer. */
  readonly remote: PeerAddress;
}

/** Opens a transport when subscribed; closes it on unsubscribe. */
export type TransportFactory = () => Observable<Transport>;
