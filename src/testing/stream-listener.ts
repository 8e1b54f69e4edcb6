/**
 * The test peer's TCP and TLS listeners (RFC 8323): a `node:net` or `node:tls` server on loopback that hands
 * each accepted connection to a {@link StreamConnection}. TLS takes PSK (TLS 1.2, the suites libcoap's openssl
 * server takes) and certificates, optionally demanding a client certificate (mutual authentication).
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { DEFAULT_CIPHERS, createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { CoapArgumentError } from '../errors';
import { checkUnixPath, claimUnixPath, releaseUnixPath, trackUnixPath } from '../transport/unix-path';
import type { LoopbackHost } from './loopback';
import type { TestStreamTransport, TestTlsOptions } from './test-peer-api';
import { socketWire } from './peer-wire';
import { StreamConnection, type StreamContext } from './stream-connection';

/** RFC 8323 §9 names TLS 1.2 PSK suites; these are the ones libcoap's openssl server takes (no CCM8, no CBC). */
export const TLS_PSK_CIPHERS = 'PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-CCM:PSK-CHACHA20-POLY1305';

/** RFC 8323 §8.2: the ALPN protocol name of CoAP over TLS. */
const ALPN_COAP = 'coap';

/** Serves the peer's resources on one TCP or TLS port. */
export class StreamListener {
  readonly transport: TestStreamTransport;
  readonly #server: Server;
  readonly #context: StreamContext;
  readonly #connections = new Set<StreamConnection>();
  readonly #nextId: () => number;
  readonly #onConnect: (connection: StreamConnection) => void;
  readonly #onDisconnect: (connection: StreamConnection) => void;
  /** TLS-PSK: the identity each socket presented, from the PSK callback. */
  readonly #identities = new WeakMap<TLSSocket, string>();
  #closing: Promise<void> | undefined;
  /** The Unix socket path listened on. */
  #path: string | undefined;

  /**
   * @param hooks - a connection id source, and what to do when a connection opens or closes
   * @throws CoapArgumentError for TLS without credentials
   */
  constructor(
    transport: TestStreamTransport,
    context: StreamContext,
    tls: TestTlsOptions | undefined,
    hooks: { nextId: () => number; onConnect: (connection: StreamConnection) => void; onDisconnect: (connection: StreamConnection) => void },
  ) {
    this.transport = transport;
    this.#context = context;
    this.#nextId = hooks.nextId;
    this.#onConnect = hooks.onConnect;
    this.#onDisconnect = hooks.onDisconnect;
    if (transport === 'tcp' || transport === 'unix-stream') {
      this.#server = createTcpServer({ noDelay: true }, (socket) => this.#accept(socket, undefined, false));
    } else {
      const server = createTlsServer(this.#tlsOptions(tls));
      server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket, this.#identities.get(socket), socket.authorized));
      // A failed handshake (bad PSK, untrusted certificate) is counted; the client sees the alert.
      server.on('tlsClientError', () => context.log.stats.handshakeFailures++);
      this.#server = server;
    }
  }

  /** Open connections, oldest first. */
  get connections(): StreamConnection[] {
    return [...this.#connections];
  }

  /** Listens on loopback; resolves with the port. */
  listen(host: LoopbackHost, port: number): Promise<number> {
    return listenOn(this.#server, host, port);
  }

  /**
   * Listens on a Unix stream socket (libcoap `-U coap+tcp -A path`); resolves with 0. The path is claimed as a
   * client's is (in use: refused; stale: replaced) and removed on close.
   */
  listenPath(path: string): Promise<number> {
    const checked = checkUnixPath(path, 'unixStreamPath');
    return new Promise((resolve, reject) => {
      claimUnixPath(checked, (error) => {
        if (error !== undefined) {
          reject(error);
          return;
        }
        const server = this.#server;
        const onError = (listenError: Error): void => reject(listenError);
        server.once('error', onError);
        server.listen({ path: checked, exclusive: true }, () => {
          server.off('error', onError);
          server.on('error', () => undefined);
          this.#path = checked;
          trackUnixPath(checked);
          resolve(0);
        });
      });
    });
  }

  /** Closes every connection and the server. */
  close(): Promise<void> {
    // node:net removes a Unix server's socket file when it closes; forget it here too (and at process exit).
    if (this.#path !== undefined) releaseUnixPath(this.#path);
    this.#path = undefined;
    this.#closing ??= new Promise((resolve) => {
      for (const connection of this.#connections) connection.destroy();
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }

  #accept(socket: Socket, pskIdentity: string | undefined, authorized: boolean): void {
    if (this.#context.isClosed()) {
      socket.destroy();
      return;
    }
    const connection = new StreamConnection(socketWire(socket), this.#context, { id: this.#nextId(), transport: this.transport, pskIdentity, authorized }, (closed) => {
      this.#connections.delete(closed);
      this.#onDisconnect(closed);
    });
    this.#connections.add(connection);
    this.#context.log.stats.connections++;
    connection.start();
    this.#onConnect(connection);
  }

  #tlsOptions(tls: TestTlsOptions | undefined): TlsOptions {
    return tlsServerOptions(tls, this.#identities);
  }
}

/** Listens with `server` (net, tls, http or https) on loopback; resolves with the port; later errors are ignored. */
export function listenOn(server: Server, host: LoopbackHost, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      server.on('error', () => undefined);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/**
 * The node:tls server options of the peer's TLS (and WSS) listener; the PSK callback records each socket's identity.
 * @throws CoapArgumentError without credentials
 */
export function tlsServerOptions(tls: TestTlsOptions | undefined, identities: WeakMap<TLSSocket, string>): TlsOptions {
  const psk = tls?.psk;
  const cert = tls?.cert;
  if (psk === undefined && cert === undefined) throw new CoapArgumentError('a TLS test peer needs tls.psk or tls.cert', { field: 'tls' });
  const options: TlsOptions = { ALPNProtocols: [ALPN_COAP], minVersion: 'TLSv1.2' };
  if (psk !== undefined) {
    const key = typeof psk.key === 'string' ? Buffer.from(psk.key, 'utf8') : psk.key;
    options.pskCallback = (socket, identity) => {
      if (psk.identity !== undefined && identity !== psk.identity) return null;
      identities.set(socket, identity);
      return key;
    };
    if (psk.hint !== undefined) options.pskIdentityHint = psk.hint;
    // Node's TLS-PSK works with TLS 1.2 only.
    options.maxVersion = 'TLSv1.2';
    // Node's default list ends in !PSK, which would remove the PSK suites again.
    options.ciphers = cert === undefined ? TLS_PSK_CIPHERS : [TLS_PSK_CIPHERS, ...DEFAULT_CIPHERS.split(':').filter((suite) => suite !== '!PSK')].join(':');
  }
  if (cert !== undefined) {
    options.cert = toPem(cert.cert);
    options.key = toPem(cert.key);
    if (cert.ca !== undefined) options.ca = toPem(cert.ca);
    const requestCert = cert.requestCert ?? false;
    options.requestCert = requestCert;
    options.rejectUnauthorized = requestCert;
  }
  return options;
}

function toPem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
}
