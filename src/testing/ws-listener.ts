/**
 * The test peer's WS and WSS listeners (RFC 8323 §4): an HTTP or HTTPS server on loopback with a `ws`
 * WebSocket server on `/.well-known/coap` that takes only the `coap` subprotocol, and hands each WebSocket to a
 * {@link StreamConnection} over a WebSocket wire (one CoAP message per binary message). WSS takes the TLS
 * listener's credentials (PSK, TLS 1.2; certificates, optionally demanding a client certificate).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LoopbackHost } from './loopback';
import { webSocketWire } from './peer-wire';
import { StreamConnection, type StreamContext } from './stream-connection';
import { listenOn, tlsServerOptions } from './stream-listener';
import type { TestStreamTransport, TestTlsOptions } from './test-peer-api';

/** RFC 8323 §4.1: the WebSocket subprotocol and resource of CoAP. */
const SUBPROTOCOL = 'coap';
const PATH = '/.well-known/coap';

/**
 * Largest WebSocket message the listener reads at all (ws closes with 1009 beyond it); messages above the
 * peer's Max-Message-Size but below this get an Abort, as over TCP.
 */
const MAX_PAYLOAD = 16 * 1024 * 1024;

/** Serves the peer's resources over WebSockets on one port. */
export class WsListener {
  readonly transport: TestStreamTransport;
  readonly #server: Server;
  readonly #webSockets: WebSocketServer;
  readonly #context: StreamContext;
  readonly #connections = new Set<StreamConnection>();
  readonly #nextId: () => number;
  readonly #onConnect: (connection: StreamConnection) => void;
  readonly #onDisconnect: (connection: StreamConnection) => void;
  readonly #identities = new WeakMap<TLSSocket, string>();
  #closing: Promise<void> | undefined;

  /** @throws CoapArgumentError for WSS without credentials */
  constructor(
    transport: 'ws' | 'wss',
    context: StreamContext,
    tls: TestTlsOptions | undefined,
    hooks: { nextId: () => number; onConnect: (connection: StreamConnection) => void; onDisconnect: (connection: StreamConnection) => void },
  ) {
    this.transport = transport;
    this.#context = context;
    this.#nextId = hooks.nextId;
    this.#onConnect = hooks.onConnect;
    this.#onDisconnect = hooks.onDisconnect;
    if (transport === 'ws') this.#server = createHttpServer();
    else {
      // The WebSocket runs over HTTPS: ALPN (if the client offers it) is http/1.1, not coap.
      const server = createHttpsServer({ ...tlsServerOptions(tls, this.#identities), ALPNProtocols: ['http/1.1'] });
      server.on('tlsClientError', () => context.log.stats.handshakeFailures++);
      this.#server = server;
    }
    this.#server.on('clientError', (_error, socket: Socket) => socket.destroy());
    this.#webSockets = new WebSocketServer({
      server: this.#server,
      path: PATH,
      perMessageDeflate: false,
      maxPayload: MAX_PAYLOAD,
      // RFC 8323 §4.1: the client must offer coap; without it the upgrade is refused (ws answers 400).
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#webSockets.on('error', () => undefined);
    this.#webSockets.on('connection', (webSocket: WebSocket, request: IncomingMessage) => this.#accept(webSocket, request));
  }

  /** Open connections, oldest first. */
  get connections(): StreamConnection[] {
    return [...this.#connections];
  }

  /** Listens on loopback; resolves with the port. */
  listen(host: LoopbackHost, port: number): Promise<number> {
    return listenOn(this.#server, host, port);
  }

  /** Closes every connection and the server. */
  close(): Promise<void> {
    for (const connection of this.#connections) connection.destroy();
    this.#closing ??= closeWebSocketServer(this.#server, this.#webSockets);
    return this.#closing;
  }

  #accept(webSocket: WebSocket, request: IncomingMessage): void {
    const socket = request.socket;
    if (this.#context.isClosed()) {
      webSocket.terminate();
      return;
    }
    const tlsSocket = this.transport === 'wss' ? (socket as TLSSocket) : undefined;
    const connection = new StreamConnection(
      webSocketWire(webSocket, socket),
      this.#context,
      { id: this.#nextId(), transport: this.transport, pskIdentity: tlsSocket === undefined ? undefined : this.#identities.get(tlsSocket), authorized: tlsSocket?.authorized ?? false },
      (closed) => {
        this.#connections.delete(closed);
        this.#onDisconnect(closed);
      },
    );
    this.#connections.add(connection);
    this.#context.log.stats.connections++;
    connection.start();
    this.#onConnect(connection);
  }
}

/** Terminates every WebSocket of `webSockets`, then closes it and its HTTP(S) server. */
export function closeWebSocketServer(server: Server, webSockets: WebSocketServer): Promise<void> {
  return new Promise((resolve) => {
    for (const client of webSockets.clients) client.terminate();
    webSockets.close();
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    // Upgraded sockets are no longer the HTTP server's: it would wait for them.
    server.closeAllConnections();
  });
}
