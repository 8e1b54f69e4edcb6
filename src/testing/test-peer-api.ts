/**
 * The public shape of the test peer (`rxcoap/testing`): its options, faults, counters, events and the
 * running peer. `test-peer.ts` re-exports every type here and implements them.
 */
import type { CoapPdu } from '../codec/pdu';
import type { PeerAddress } from '../errors';
import type { LoopbackHost } from './loopback';
import type { NotifyType, TestHandler, TestResource } from './test-resource';

/**
 * A transport the test peer serves: `'udp'` (`coap://`, RFC 7252), `'tcp'` (`coap+tcp://`) and `'tls'`
 * (`coaps+tcp://`, both RFC 8323).
 */
export type TestTransport = 'udp' | 'tcp' | 'tls' | 'unix-dgram' | 'unix-stream' | 'ws' | 'wss';

/**
 * A stream transport of the test peer (RFC 8323): TCP, TLS, or the TCP framing on a Unix stream socket
 * (`'unix-stream'`, `coap+tcp://%2Fpath`, libcoap `-U coap+tcp -A path`).
 */
export type TestStreamTransport = 'tcp' | 'tls' | 'unix-stream' | 'ws' | 'wss';

/** Credentials of the peer's TLS listener: PSK, certificates, or both (then TLS 1.2 with either kind of suite). */
export interface TestTlsOptions {
  /**
   * TLS-PSK (RFC 4279): the key the client must use, TLS 1.2 only, with the suites libcoap's openssl server takes
   * (PSK-AES128-GCM-SHA256, PSK-AES256-GCM-SHA384, PSK-AES128-CCM, PSK-CHACHA20-POLY1305).
   */
  readonly psk?: {
    /** The identity the client must present; any identity is accepted when unset. */
    readonly identity?: string;
    /** The pre-shared key; a string is used as UTF-8. */
    readonly key: Uint8Array | string;
    /** Identity hint sent in the ServerKeyExchange. */
    readonly hint?: string;
  };
  /** X.509 certificates: the server's chain and key, and optionally a CA to demand client certificates against. */
  readonly cert?: {
    /** The server certificate (PEM text or bytes), intermediates after it. */
    readonly cert: string | Uint8Array;
    /** The server's private key (PEM text or bytes). */
    readonly key: string | Uint8Array;
    /** CA certificate(s) that client certificates must chain to (PEM). */
    readonly ca?: string | Uint8Array;
    /** Demands a client certificate signed by `ca` (mutual authentication); the handshake fails without one. @defaultValue false */
    readonly requestCert?: boolean;
  };
}

/** Options of {@link startTestPeer}. */
export interface TestPeerOptions {
  /** Loopback address to bind; anything else is rejected. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** UDP port; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
  /** The transports to serve, each on its own port; the first is the default of {@link TestPeer.uri}. @defaultValue `['udp']` */
  readonly transports?: readonly TestTransport[];
  /** TCP port (with `'tcp'` in `transports`); 0 picks a free one. @defaultValue 0 */
  readonly tcpPort?: number;
  /** TLS port (with `'tls'` in `transports`); 0 picks a free one. @defaultValue 0 */
  readonly tlsPort?: number;
  /** WebSocket port (with `'ws'` in `transports`, `coap+ws://`, RFC 8323 §4); 0 picks a free one. @defaultValue 0 */
  readonly wsPort?: number;
  /** Secure WebSocket port (with `'wss'` in `transports`, `coaps+ws://`); 0 picks a free one. @defaultValue 0 */
  readonly wssPort?: number;
  /** Credentials of the TLS listener, and of the WSS one; required with `'tls'` or `'wss'` in `transports`. */
  readonly tls?: TestTlsOptions;
  /**
   * Socket path of the Unix datagram listener (with `'unix-dgram'` in `transports`, `coap://%2Fpath`; needs the
   * optional `unix-dgram` package). A path in use is refused; a stale socket file is replaced; the path is removed
   * on close. @defaultValue a generated short path in `/tmp`
   */
  readonly unixPath?: string;
  /** Socket path of the Unix stream listener (with `'unix-stream'` in `transports`, `coap+tcp://%2Fpath`). @defaultValue a generated short path in `/tmp` */
  readonly unixStreamPath?: string;
  /**
   * TCP/TLS: the Max-Message-Size the peer advertises in its CSM (RFC 8323 §5.3.1), in bytes. A client frame
   * larger than this is answered with Abort.
   * @defaultValue 1152
   */
  readonly maxMessageSize?: number;
  /**
   * TCP/TLS: advertises Block-Wise-Transfer in the CSM (RFC 8323 §5.3.2); with the client's too, BERT (SZX 7)
   * requests are served with several 1024-byte units per message.
   * @defaultValue true
   */
  readonly blockWiseTransfer?: boolean;
  /** A stream fault active from the start (see {@link TestPeer.setStreamFault}). */
  readonly streamFault?: TestStreamFault;
  /** Resources served from the start. */
  readonly resources?: readonly TestResource[];
  /** Largest Block2 size served, in bytes (16..1024); larger bodies go block-wise. @defaultValue 1024 */
  readonly blockSize?: number;
  /** Largest Block1 size accepted per block; a larger client block is acknowledged with this SZX (RFC 7959 §2.3). @defaultValue 1024 */
  readonly maxBlock1Size?: number;
  /** Largest request body, in bytes; larger uploads get 4.13 with Size1. @defaultValue 1048576 */
  readonly maxBodySize?: number;
  /** Notification type over UDP (RFC 7641 §4.5). @defaultValue `'NON'` */
  readonly notifyType?: NotifyType;
  /**
   * With NON notifications, every Nth notification to an observer is sent CON instead, as libcoap does
   * with `-N` (every 5th) so it learns about observers that went away (RFC 7641 §4.5). Off when unset.
   */
  readonly confirmableEvery?: number;
  /** First retransmission timeout of the peer's own CON messages, in milliseconds (doubled each time, no jitter). @defaultValue 2000 */
  readonly ackTimeout?: number;
  /** Retransmissions of the peer's own CON messages before giving up. @defaultValue 4 */
  readonly maxRetransmit?: number;
  /** How long a CON's response is remembered for duplicates, in milliseconds (RFC 7252 EXCHANGE_LIFETIME). @defaultValue 247000 */
  readonly dedupLifetime?: number;
  /** Observe sequence number of the first registration response (24-bit, wraps). @defaultValue 1 */
  readonly observeSequenceStart?: number;
  /** Seed of the random source used for `drop` faults and the peer's message IDs. @defaultValue 1 */
  readonly seed?: number;
  /** Received messages kept in {@link TestPeer.received}. @defaultValue 1000 */
  readonly logSize?: number;
}

/** A fault injected into request handling with {@link TestPeer.setFault}; it applies to every transport unless noted. */
export interface TestFault {
  /** Only requests to this path are affected. @defaultValue every path */
  readonly path?: string;
  /** Probability (0..1) of silently dropping a request, drawn from the seeded random source. */
  readonly drop?: number;
  /** Silently drops this many requests, then no more. */
  readonly dropCount?: number;
  /** Handles each request this many milliseconds late. */
  readonly delay?: number;
  /** Answers 5.03 Service Unavailable with this Max-Age (seconds; RFC 7252 §5.9.3.4). */
  readonly serviceUnavailable?: { readonly maxAge?: number };
  /** Answers every request with RST. UDP only: TCP and TLS have no RST (see {@link TestStreamFault}). */
  readonly reset?: boolean;
  /**
   * Answers 4.01 Unauthorized with an Echo option until the client repeats the value (RFC 9175 §2.4);
   * the client endpoint is then fresh until the fault changes. `true` uses a value from the seeded source.
   */
  readonly echo?: boolean | Uint8Array;
}

/**
 * A fault of the TCP/TLS listeners (RFC 8323), set with {@link TestPeer.setStreamFault}.
 *
 * The CSM faults (`noCsm`, `csmDelay`) act when a connection opens. The others act on one request: the first
 * one to `path` after the connection has answered `afterRequests` requests; that request gets no normal response.
 * `stall` without `path` acts as soon as `afterRequests` requests were answered (at once when 0).
 */
export interface TestStreamFault {
  /** Only these stream transports are affected. @defaultValue both */
  readonly transports?: readonly TestStreamTransport[];
  /** Only requests to this path trigger the fault. @defaultValue every path */
  readonly path?: string;
  /** Requests answered normally on a connection before the fault acts on it. @defaultValue 0 */
  readonly afterRequests?: number;
  /** Connections (CSM faults) or requests the fault acts on, after which it clears itself. @defaultValue no limit */
  readonly times?: number;
  /** Never sends the peer's CSM, so nothing at all is sent on new connections (RFC 8323 §5.3: the CSM comes first). */
  readonly noCsm?: boolean;
  /** Sends the peer's CSM this many milliseconds after the connection opens; everything else waits for it. */
  readonly csmDelay?: number;
  /** Answers with Release (7.04, RFC 8323 §5.5), with Alternative-Address (option 2) and Hold-Off (option 4, seconds), and keeps the connection for the client to close. */
  readonly release?: { readonly alternativeAddress?: string; readonly holdOff?: number };
  /** Answers with Abort (7.05, RFC 8323 §5.6) carrying a diagnostic payload, and closes the connection. */
  readonly abort?: { readonly diagnostic?: string; readonly badCsmOption?: number };
  /** Destroys the connection instead of answering; `'mid-response'` first writes half of the response frame. */
  readonly drop?: true | 'mid-response';
  /**
   * Sends the response padded to a frame at least this many bytes larger than the client's Max-Message-Size
   * (`true`: 1 byte; where the length field grows, RFC 8323 §3.2, up to 2 bytes more).
   */
  readonly oversize?: true | number;
  /** Stops sending anything on the connection (responses, Pongs, notifications) but keeps it open and reads on. */
  readonly stall?: boolean;
}

/** A message the peer received, with wire details for specs that inspect it. */
export interface ReceivedPdu extends CoapPdu {
  /** Size of the datagram or frame in bytes. */
  readonly size: number;
  /** The sender. */
  readonly source: PeerAddress;
  /** The transport it came over. */
  readonly transport: TestTransport;
}

/** A message the peer sent. */
export interface SentPdu extends CoapPdu {
  /** Size of the datagram or frame in bytes. */
  readonly size: number;
  /** The receiver. */
  readonly destination: PeerAddress;
  /** The transport it went over. */
  readonly transport: TestTransport;
}

/** Counters of a test peer. */
export interface TestPeerStats {
  /** Requests handled (duplicates and dropped ones not counted). */
  requests: number;
  /** Duplicate requests answered from the cache or ignored (RFC 7252 §4.5). */
  duplicates: number;
  /** Requests dropped by a fault. */
  dropped: number;
  /** Datagrams that were not valid CoAP, and malformed TCP/TLS streams (each aborted). */
  malformed: number;
  /** Observe notifications sent (retransmissions not counted). */
  notifications: number;
  /** Retransmissions of the peer's own CON messages. */
  retransmissions: number;
  /** TCP and TLS connections accepted (TLS: handshake completed). */
  connections: number;
  /** TLS handshakes that failed (bad PSK, untrusted or missing client certificate, no common suite). */
  handshakeFailures: number;
}

/** A TCP or TLS connection of the peer, to inspect and to act on directly. */
export interface TestConnection {
  /** Unique per peer, counting from 1. */
  readonly id: number;
  /** `'tcp'` or `'tls'`. */
  readonly transport: TestStreamTransport;
  /** The client's address. */
  readonly remote: PeerAddress;
  /** The client's CSM, once received (RFC 8323 §5.3); Max-Message-Size defaults to 1152. */
  readonly clientCsm: { readonly maxMessageSize: number; readonly blockWiseTransfer: boolean } | undefined;
  /** TLS-PSK: the identity the client presented. */
  readonly pskIdentity: string | undefined;
  /** TLS with `requestCert`: the client's certificate chains to `ca`. */
  readonly authorized: boolean;
  /** Requests answered on this connection. */
  readonly answered: number;
  /** True once the connection is closed. */
  readonly closed: boolean;
  /** Sends Release (7.04) now; the client is expected to close (RFC 8323 §5.5). */
  release(options?: { readonly alternativeAddress?: string; readonly holdOff?: number }): void;
  /** Sends Abort (7.05) with a diagnostic now and closes (RFC 8323 §5.6). */
  abort(diagnostic?: string, badCsmOption?: number): void;
  /** Destroys the socket at once, without Release or Abort. */
  drop(): void;
  /** Closes cleanly without Release: FIN, or over WebSockets a close frame (1000). */
  close(): void;
  /** Sends a Ping (7.02, Custody when asked); resolves with the Pong, rejects if the connection closes first. */
  ping(custody?: boolean): Promise<CoapPdu>;
}

/** Events of a test peer. */
export interface TestPeerEvents {
  /** Every valid datagram or frame received. */
  message: (pdu: ReceivedPdu) => void;
  /** Every request received (before faults and deduplication). */
  request: (pdu: ReceivedPdu) => void;
  /** Every datagram or frame sent. */
  sent: (pdu: SentPdu) => void;
  /** A TCP or TLS connection was accepted (TLS: after the handshake). */
  connect: (connection: TestConnection) => void;
  /** A TCP or TLS connection closed. */
  disconnect: (connection: TestConnection) => void;
}

/** A running loopback CoAP server. Create with {@link startTestPeer}. */
export interface TestPeer {
  /** Where it listens: the UDP port, or the first transport's when UDP is not served. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** The port of each transport served (0 for the Unix ones: see `paths`). */
  readonly ports: { readonly [T in TestTransport]?: number };
  /** The socket path of each Unix transport served. */
  readonly paths: { readonly 'unix-dgram'?: string; readonly 'unix-stream'?: string };
  /** Open TCP and TLS connections, oldest first. */
  readonly connections: readonly TestConnection[];
  /** Received messages, oldest first; the last `logSize` are kept. */
  readonly received: readonly ReceivedPdu[];
  /** Counters. */
  readonly stats: Readonly<TestPeerStats>;
  /**
   * `'coap://127.0.0.1:PORT/path'` (IPv6 in brackets); `coap+tcp://` or `coaps+tcp://` for the other transports.
   * @param path - the resource path @defaultValue `'/'`
   * @param transport - which listener @defaultValue the first of `transports`
   */
  uri(path?: string, transport?: TestTransport): string;
  /** Adds or replaces a resource. */
  addResource(resource: TestResource): void;
  /** Removes a resource; its observers get a 4.04 notification and are forgotten (RFC 7641 §3.2). */
  removeResource(path: string): void;
  /** Replaces a resource's GET representation and notifies its observers. */
  update(path: string, representation: TestHandler | Uint8Array | string): void;
  /** Sends a notification to every observer of `path` now. Returns how many were notified. */
  notify(path: string): number;
  /** Observers currently registered for `path`. */
  observerCount(path: string): number;
  /** Injects a fault into request handling, or clears it with `null`. */
  setFault(fault: TestFault | null): void;
  /** Injects a fault into the TCP/TLS listeners, or clears it with `null`. */
  setStreamFault(fault: TestStreamFault | null): void;
  /** Listens to an event. */
  on<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this;
  /** Stops listening. */
  off<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this;
  /** Clears every timer, closes every connection and socket. */
  close(): Promise<void>;
}
