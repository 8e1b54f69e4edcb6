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
import type { PeerAddress, UnixPeerAddress } from '../errors';

/** Something the transport wants the session (and its `events$`) to know. */
export type TransportEvent =
  | { readonly type: 'connected'; readonly local: PeerAddress; readonly remote: PeerAddress }
  | { readonly type: 'dtls-connected'; readonly cipherSuite: string; readonly attempts: number }
  | { readonly type: 'dtls-retry'; readonly attempt: number; readonly delay: number; readonly reason: string }
  | { readonly type: 'closed'; readonly reason: string }
  | { readonly type: 'warning'; readonly message: string; readonly reason?: 'unauthenticated' | 'verification-off' };

/**
 * How CoAP messages sit in the frames of a transport, which picks the framing step under the stack:
 * - `'datagram'`: one frame is one RFC 7252 message (udp, dtls, unix-dgram);
 * - `'stream'`: frames are chunks of a byte stream of RFC 8323 §3.2 frames, cut anywhere (tcp, tls, unix stream);
 * - `'websocket'`: one frame is one RFC 8323 §4 message (ws, wss).
 */
export type Framing = 'datagram' | 'stream' | 'websocket';

/**
 * An open connection to one peer (or, for multicast, to one group).
 *
 * Peers are {@link PeerAddress | PeerAddresses}: host and port on IP transports, a socket path on Unix-domain
 * ones (`local` is then the session's own bound path). A frame carries its source through
 * {@link Transport.frameSource}, so the layers above can tell where each answer came from without an address
 * object per datagram.
 */
export interface Transport {
  /**
   * Frames received from the peer (and only from the peer: datagrams from other addresses are dropped here).
   * A multicast transport is the exception: it passes on datagrams from any address, since any group member
   * may answer, and names each one's sender with {@link Transport.frameSource}.
   */
  readonly frames$: Observable<Uint8Array>;
  /**
   * The source of the frame being delivered: valid only synchronously inside a `frames$` next callback
   * (read it there, keep the address if needed; it may change with the next frame). A method, not a field
   * on each frame, so the hot path allocates nothing per datagram.
   *
   * - A connected transport (udp, dtls, tcp, tls, ws) may leave it out: every frame comes from `remote`.
   *   Callers read `transport.frameSource?.() ?? transport.remote`.
   * - A multicast transport sets it: answers come from any member of the group `remote` names, each from
   *   its own unicast IP address and port, and the layers above match them by token, not by address.
   * - A Unix datagram transport sets it to the sender's socket path (a {@link UnixPeerAddress}); a Unix stream
   *   transport is connected and may leave it out.
   */
  frameSource?(): PeerAddress;
  /** Sends one frame. Never throws: a failure arrives as an error of the factory's Observable. */
  send(frame: Uint8Array): void;
  /**
   * Sends a reply (an ACK, an RST) to the source of the frame being delivered: valid only synchronously inside
   * a `frames$` next callback, as {@link Transport.frameSource}. A multicast transport needs it (`send` goes to
   * the group, a reply to the one member that answered); connected transports leave it out and callers use
   * `send`.
   */
  reply?(frame: Uint8Array): void;
  /**
   * True when `remote` is a multicast group (RFC 7252 §8): frames come from any member (matched by token above,
   * de-duplicated per source), and requests go out as NON only.
   */
  readonly multicast?: boolean;
  /**
   * Multicast only: sets the TTL (IPv4) or hop limit (IPv6) of the requests (libcoap `coap_mcast_set_hops`);
   * false when the socket refuses it.
   */
  setMulticastHops?(hops: number): boolean;
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
