/**
 * CoAP over WebSockets in Node (`coap+ws://`, `coaps+ws://`): the browser-safe {@link webSocketTransport} on the
 * `ws` package, plus what only Node can do:
 * - the connection is our own `node:net` / `node:tls` socket (`ws`'s `createConnection`), so its addresses are
 *   known, TCP_NODELAY is on, and the messages of one tick leave in one write;
 * - `coaps+ws`: the TLS options of the TLS transport (certificates verified by default, `ctx.setPkiRootCas`,
 *   PSK where node:tls can: TLS 1.2), prepared and checked by the same code (`prepareTlsClient` in `tls.ts`,
 *   `tls-verify.ts`). Nothing, not even the HTTP upgrade request, goes to a server before it passed the checks;
 * - errors say why: system codes as on TCP, TLS failures as `CoapTlsError`, and the HTTP status of a refused upgrade;
 * - no permessage-deflate (RFC 8323 §4 does not use it, and it costs per message), short HTTP header lines (libcoap
 *   4.3.4 answers 400 to a line of 80 characters or more), and a cap on the size of a message (`maxPayload`).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ClientRequest } from 'node:http';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import WebSocket from 'ws';
import { CoapArgumentError, CoapError, CoapTlsError, CoapTransportError, type IpPeerAddress } from '../errors';
import type { PkiCredentials } from '../pki-credentials';
import type { PskCredentials, ResolvedPsk } from '../psk-credentials';
import { formatPeer } from '../peer-address';
import { checkStreamOptions, describeSocketError, syscallCodeOf, type SocketHolder } from './tcp';
import { prepareTlsClient, type TlsClient, type TlsHandshakeState, type TlsRootCas } from './tls';
import type { TransportFactory } from './transport';
import { webSocketTransport, type WebSocketConnector, type WebSocketConstructor } from './websocket';

/** Options of {@link wsTransport}. */
export interface WsTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  /** Server port (80 for `coap+ws`, 443 for `coaps+ws`). */
  readonly port: number;
  /** `coaps+ws`: WebSocket over TLS. @defaultValue false */
  readonly secure?: boolean;
  /** The WebSocket's resource. @defaultValue `'/.well-known/coap'` */
  readonly path?: string;
  /** Address family to resolve names to; by default both. */
  readonly family?: 4 | 6;
  /** Local address to bind. */
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
  /**
   * How long opening (connection, TLS handshake and checks, HTTP upgrade) may take, in milliseconds: then
   * `CoapTransportError` reason `'connect-timeout'`. @defaultValue 10000
   */
  readonly connectTimeout?: number;
  /** Scheduler of the connect timeout; also the clock for certificate validity. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /**
   * The largest WebSocket message accepted, in bytes; a larger one closes the connection (close code 1009,
   * reason `'frame-too-large'`) before it is buffered. The session's own Max-Message-Size (65536) is smaller:
   * a message between the two is answered with Abort. @defaultValue 1048576
   */
  readonly maxPayload?: number;
  /** `coaps+ws` with a pre-shared key (TLS 1.2 PSK suites), as `tlsTransport` takes it. Give `psk` or `pki`. */
  readonly psk?: PskCredentials | ResolvedPsk;
  /** `coaps+ws` with certificates; absent (and no `psk`): the server is verified against the trusted roots. */
  readonly pki?: PkiCredentials;
  /** Trusted roots (`ctx.setPkiRootCas`). */
  readonly rootCas?: TlsRootCas;
  /** OpenSSL names of the PSK suites to offer. @defaultValue `DEFAULT_TLS_PSK_CIPHER_SUITES` */
  readonly pskCipherSuites?: readonly string[];
}

/** ws's messages for a refused upgrade and a wrong subprotocol (lib/websocket.js). */
const UNEXPECTED_RESPONSE = /^Unexpected server response: (\d+)$/;
const SUBPROTOCOL = /subprotocol/i;

/**
 * A factory of CoAP-over-WebSockets transports on the `ws` package (see {@link webSocketTransport} for what it
 * emits and how it fails). With `secure: true`, the TLS handshake and the server checks are those of
 * `tlsTransport` (`CoapTlsError` reasons `'untrusted'`, `'name-mismatch'`, `'bad-psk'`, ...), without ALPN `coap`
 * (the WebSocket runs over HTTPS, RFC 8323 §4.1).
 *
 * Throws `CoapArgumentError` at once for bad options.
 */
export function wsTransport(options: WsTransportOptions): TransportFactory {
  const { host, port, family, localAddress, localPort } = checkStreamOptions(options, 'wsTransport');
  const secure = options.secure === true;
  const maxPayload = options.maxPayload ?? 1 << 20;
  if (typeof maxPayload !== 'number' || !Number.isInteger(maxPayload) || maxPayload < 16) {
    throw new CoapArgumentError(`maxPayload must be an integer number of bytes of at least 16, got ${String(maxPayload)}`, { field: 'maxPayload' });
  }
  const client = secure ? prepareTlsClient(options, host, port, 'WSS') : undefined;
  const scheduler = options.scheduler;
  return webSocketTransport({
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    host,
    port,
    secure,
    path: options.path,
    connectTimeout: options.connectTimeout,
    scheduler,
    connector: (remote) => nodeConnector({ remote, family, localAddress, localPort, maxPayload, client, now: () => (scheduler ?? asyncScheduler).now() }),
  });
}

interface ConnectorSetup {
  readonly remote: IpPeerAddress;
  readonly family: 4 | 6 | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly maxPayload: number;
  readonly client: TlsClient | undefined;
  readonly now: () => number;
}

/** One connection attempt: our socket under `ws`, and (wss) the TLS checks before the upgrade request goes. */
function nodeConnector(setup: ConnectorSetup): WebSocketConnector {
  const { remote, client } = setup;
  const handshake: TlsHandshakeState = { tcpConnected: false, hintRejected: undefined };
  const holder: { remote: IpPeerAddress; socket: Socket | undefined } = { remote, socket: undefined };
  let secured = client === undefined;
  let sendUpgrade: (() => void) | undefined;
  const createConnection = (): Socket => {
    const socketOptions = { host: remote.host, port: remote.port, family: setup.family, localAddress: setup.localAddress, localPort: setup.localPort, noDelay: true };
    if (client === undefined) {
      const socket = netConnect(socketOptions);
      holder.socket = socket;
      return socket;
    }
    // Throws CoapArgumentError for unreadable certificate files: ws reports it as the request's error.
    const tlsOptions: ConnectionOptions = client.connectOptions(handshake, undefined);
    const socket: TLSSocket = tlsConnect({ ...tlsOptions, ...socketOptions });
    holder.socket = socket;
    socket.once('connect', () => {
      handshake.tcpConnected = true;
    });
    socket.once('secureConnect', () => {
      const failure = client.check(socket, setup.now(), formatPeer({ host: socket.remoteAddress ?? remote.host, port: remote.port }));
      if (failure !== undefined) {
        // ws reports the socket's error as the WebSocket's: describe() hands this one on as it is.
        socket.destroy(new CoapTlsError(failure.reason, failure.message, { peer: remote, cause: failure.cause }));
        return;
      }
      secured = true;
      const upgrade = sendUpgrade;
      sendUpgrade = undefined;
      upgrade?.();
    });
    return socket;
  };
  const options = {
    perMessageDeflate: false,
    maxPayload: setup.maxPayload,
    // ws waits 30 s for the server's close frame by default; a session that ends should not linger.
    closeTimeout: 500,
    createConnection,
    // The upgrade request waits for the TLS checks: nothing goes to a server that is not who it should be.
    finishRequest: (request: ClientRequest) => {
      if (secured) request.end();
      else sendUpgrade = () => request.end();
    },
  };
  return {
    options,
    // Buffers as they come: an ArrayBuffer would be a copy of each message.
    binaryType: 'nodebuffer',
    events$: client?.warning,
    addresses() {
      const socket = holder.socket;
      if (socket === undefined || socket.remoteAddress === undefined) return undefined;
      return {
        local: { host: socket.localAddress ?? '', port: socket.localPort ?? 0 },
        remote: { host: socket.remoteAddress, port: socket.remotePort ?? remote.port },
      };
    },
    describe(cause, opened) {
      return describeNodeWsError(cause, opened, secured, holder, client, handshake);
    },
    listen(socket, receive) {
      // ws's own event (its onmessage wraps each message in a MessageEvent): a Buffer, or a string for text.
      const ws = socket as unknown as WebSocket;
      const onMessage = (data: Buffer, isBinary: boolean): void => receive(isBinary ? data : data.toString());
      ws.on('message', onMessage);
      return () => ws.off('message', onMessage);
    },
    corkable() {
      return holder.socket;
    },
  };
}

/** What a `ws` error event carried, as a typed error. */
function describeNodeWsError(
  cause: unknown,
  opened: boolean,
  secured: boolean,
  holder: SocketHolder,
  client: TlsClient | undefined,
  handshake: TlsHandshakeState,
): CoapError | undefined {
  if (cause instanceof CoapError) return cause;
  // Not instanceof Error: Node's errors may come from another realm (a test sandbox).
  if (typeof cause !== 'object' || cause === null || typeof (cause as Error).message !== 'string') return undefined;
  return describeError(cause as NodeJS.ErrnoException, opened, secured, holder, client, handshake);
}

function describeError(cause: NodeJS.ErrnoException, opened: boolean, secured: boolean, holder: SocketHolder, client: TlsClient | undefined, handshake: TlsHandshakeState): CoapError | undefined {
  const peer = holder.remote;
  const where = formatPeer(peer);
  const code = cause.code;
  const status = UNEXPECTED_RESPONSE.exec(cause.message);
  if (status !== null) {
    return new CoapTransportError(`${where} refused the WebSocket upgrade with HTTP ${status[1]} (is it a CoAP-over-WebSockets server?)`, {
      reason: 'handshake-rejected',
      peer,
      cause,
    });
  }
  if (code === undefined && SUBPROTOCOL.test(cause.message)) {
    return new CoapTransportError(`${where} did not select the WebSocket subprotocol coap (${cause.message})`, { reason: 'bad-subprotocol', peer, cause });
  }
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new CoapTransportError(`${where} sent a WebSocket message larger than maxPayload (${cause.message})`, { reason: 'frame-too-large', peer, cause });
  }
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
    return new CoapTransportError(`${where} broke the WebSocket protocol: ${cause.message} (${code})`, { reason: 'protocol-error', peer, cause });
  }
  if (syscallCodeOf(cause) === undefined) {
    // ws's own handshake checks ('Invalid Sec-WebSocket-Accept header', ...)
    return opened ? undefined : new CoapTransportError(`the WebSocket handshake with ${where} failed: ${cause.message}`, { reason: 'protocol-error', peer, cause });
  }
  const describe = client === undefined ? describeSocketError : client.describe(handshake);
  return describe(cause, holder, opened || secured);
}
