/**
 * UDP transport (Node only): one connected `node:dgram` socket per session. Connecting the socket makes the
 * kernel drop datagrams from any other address (responses are accepted only from the peer) and turns an ICMP
 * port unreachable into an `ECONNREFUSED` error, which fails the session's exchanges fast.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { EMPTY, Observable, type Subscriber } from 'rxjs';
import { CoapTransportError, type IpPeerAddress } from '../errors';
import { formatPeer } from '../peer-address';
import type { Transport, TransportFactory } from './transport';

/** Where and how to connect. */
export interface UdpTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets; zone IDs as `fe80::1%eth0`). */
  readonly host: string;
  readonly port: number;
  /** Address family to resolve names to; by default whatever the resolver returns first (dual stack). */
  readonly family?: 4 | 6;
  /** Local address to bind (the local interface). */
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
}

/** A factory of connected UDP transports. */
export function udpTransport(options: UdpTransportOptions): TransportFactory {
  return () =>
    new Observable<Transport>((subscriber) => {
      const connection = new UdpConnection(options, subscriber);
      return () => connection.close();
    });
}

/**
 * One connected socket, as an object rather than a nest of closures (it lives as long as its session, and
 * heap per idle session matters with thousands of sessions).
 */
class UdpConnection implements Transport {
  /** The session reports connected/closed itself; UDP has nothing else to say. */
  readonly events$ = EMPTY;
  readonly maxFrameOverhead = 0;
  readonly reliable = false;
  local: IpPeerAddress = { host: '', port: 0 };
  remote: IpPeerAddress;
  readonly #options: UdpTransportOptions;
  readonly #subscriber: Subscriber<Transport>;
  #socket: Socket | undefined;
  #closed = false;

  constructor(options: UdpTransportOptions, subscriber: Subscriber<Transport>) {
    this.#options = options;
    this.#subscriber = subscriber;
    this.remote = { host: options.host, port: options.port };
    const host = stripZone(options.host);
    const family = isIP(host);
    if (family !== 0) this.#open(options.host, family);
    else {
      lookup(options.host, { family: options.family ?? 0 }, (error, address, resolved) => {
        if (error) this.#fail(error, 'resolving');
        else this.#open(address, resolved);
      });
    }
  }

  /** Datagrams from the peer. Made on demand (not kept: heap per idle session matters); no Subject per socket. */
  get frames$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((receiver) => {
      const port = this.remote.port;
      const socket = this.#socket;
      const onMessage = (message: Buffer, rinfo: { port: number }): void => {
        // Unsubscribed: stop listening. (No teardown function is registered: rxjs would keep an array for it
        // in every idle session; close() removes the listener too.)
        if (receiver.closed) socket?.off('message', onMessage);
        // Connected sockets only receive from the peer; check anyway (defence in depth).
        // A Buffer is a Uint8Array: passed on as it is (no second view per datagram).
        else if (rinfo.port === port) receiver.next(message);
      };
      socket?.on('message', onMessage);
    });
  }

  /** A connected socket only receives from the peer: every frame comes from `remote` (no allocation). */
  frameSource(): IpPeerAddress {
    return this.remote;
  }

  send(frame: Uint8Array): void {
    // No callback: a send error on a connected socket (ECONNREFUSED after ICMP) arrives as an 'error' event.
    if (!this.#closed) this.#socket!.send(frame);
  }

  close(): void {
    this.#closed = true;
    const socket = this.#socket;
    if (socket === undefined) return;
    socket.removeAllListeners('message');
    socket.on('error', ignore);
    socket.close();
  }

  #open(address: string, family: number): void {
    if (this.#closed) return;
    this.remote = { host: address, port: this.#options.port };
    const socket = (this.#socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' }));
    socket.on('error', (error) => this.#fail(error, 'UDP exchange with'));
    socket.bind({ address: this.#options.localAddress, port: this.#options.localPort ?? 0 }, () => {
      socket.connect(this.#options.port, address, () => {
        if (this.#closed) return;
        const bound = socket.address();
        this.local = { host: bound.address, port: bound.port };
        this.#subscriber.next(this);
      });
    });
  }

  #fail(error: NodeJS.ErrnoException, what: string): void {
    const peer = this.remote;
    const text =
      error.code === 'ECONNREFUSED'
        ? `nothing listens on ${formatPeer(peer)} (ICMP port unreachable)`
        : `${what} ${formatPeer(peer)} failed: ${error.code ?? error.message}`;
    this.#subscriber.error(new CoapTransportError(text, { syscallCode: error.code, peer, cause: error }));
  }
}

function ignore(): void {}

function stripZone(host: string): string {
  const percent = host.indexOf('%');
  return percent < 0 ? host : host.slice(0, percent);
}
