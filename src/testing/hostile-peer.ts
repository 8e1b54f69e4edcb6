/**
 * A hostile CoAP peer on loopback UDP (`rxcoap/testing`): it answers every request with real responses run
 * through a seeded mutation engine (bit flips, truncation, option garbage, lying or extended TKLs, wrong type,
 * code, MID or token, bad Block/Observe/Size options, oversize datagrams), duplicates, late and unsolicited
 * datagrams (CON notifications for tokens it saw, RSTs, ACKs with the right MID and a wrong token), and
 * answers correctly often enough that exchanges progress. A client library must survive it: no crash, no
 * request that never ends, only typed errors.
 *
 * The socket part only: the decisions are made by the framing-agnostic {@link createHostileResponder}, so a
 * TCP, TLS or WebSocket peer is this file again with its own socket and `HostileFraming`; the Unix datagram peer
 * (`hostile-unix-peer.ts`) is this one on another socket ({@link HostileDatagramPeer}).
 *
 * Node only (`node:dgram`); real timers, cleared by `close()`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { IpPeerAddress } from '../errors';
import { datagramFraming } from './hostile-framing';
import { createHostileResponder, type HostileDatagram, type HostileResponder, type HostileResponderOptions, type HostileStats } from './hostile-responder';
import { assertLoopback, bindLoopbackSocket, formatAuthority, socketTypeFor, type LoopbackHost } from './loopback';
import { seededRandom } from './seeded-random';

/** Options of {@link startHostilePeer}. */
export interface HostilePeerOptions extends Omit<HostileResponderOptions, 'framing'> {
  /** Loopback address to bind; anything else is rejected. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** UDP port; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
  /** Milliseconds between ticks (notifications, unsolicited datagrams). @defaultValue 20 */
  readonly tickInterval?: number;
  /**
   * Share (0..1) of datagrams also sent from a second socket: a stranger's port, whose datagrams a client
   * must drop. @defaultValue 0.02
   */
  readonly strangerRate?: number;
  /** Datagrams kept for {@link HostilePeer.recent}. @defaultValue 64 */
  readonly logSize?: number;
}

/** A datagram the hostile peer sent. */
export type HostileSent = HostileDatagramSent<IpPeerAddress>;

/** Counters of a hostile peer: the responder's, plus the socket's. */
export interface HostilePeerStats extends HostileStats {
  /** Datagrams put on the wire (strangers included). */
  datagramsSent: number;
  /** Bytes put on the wire. */
  bytesSent: number;
  /** Datagrams sent from the stranger socket. */
  strangers: number;
}

/** A running hostile peer. Create with {@link startHostilePeer}. */
export interface HostilePeer {
  /** Where it listens. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** Counters. */
  readonly stats: Readonly<HostilePeerStats>;
  /** Live observations. */
  readonly observations: number;
  /** `'coap://127.0.0.1:PORT/path'` (IPv6 in brackets). */
  uri(path?: string): string;
  /** The last `logSize` datagrams sent, oldest first (to print what a client choked on). */
  recent(): readonly HostileSent[];
  /** Stops the ticks and every pending datagram, and closes both sockets. */
  close(): Promise<void>;
}

/**
 * Starts a hostile CoAP peer on a loopback UDP port.
 *
 * @example
 * ```ts
 * const peer = await startHostilePeer({ seed: 42 });
 * const session = ctx.newClientSession({ server: peer.uri() });
 * session.get('/large').subscribe({ next: console.log, error: (e) => console.log(e.code) });
 * // ...
 * await peer.close();
 * ```
 * @param options - see {@link HostilePeerOptions}; every choice is drawn from `seed`
 * @returns the running peer, once its sockets are bound
 * @throws CoapArgumentError (as a rejection) for a non-loopback host
 */
export async function startHostilePeer(options: HostilePeerOptions = {}): Promise<HostilePeer> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the hostile peer host');
  const peer = new UdpHostilePeer(host, options);
  await peer.bind();
  return peer;
}

/**
 * One socket of a hostile datagram peer: UDP here, a Unix datagram socket in `hostile-unix-peer.ts`. `R` is how a
 * sender is addressed.
 */
export interface HostileDatagramSocket<R> {
  /** Binds; `onMessage` gets every datagram with its sender. */
  bind(onMessage: (message: Uint8Array, remote: R) => void): Promise<void>;
  /** Sends one datagram (a send error is no error for a hostile peer). */
  send(frame: Uint8Array, remote: R): void;
  close(): Promise<void>;
}

/** A datagram a hostile datagram peer sent, to a destination of type `D`. */
export interface HostileDatagramSent<D> {
  /** `Date.now()` when it was sent. */
  readonly time: number;
  readonly destination: D;
  /** `'correct'`, a mutation kind, `'spoofed-ack'`, `'unsolicited-rst'`... */
  readonly kind: string;
  readonly frame: Uint8Array;
  /** Sent from the stranger socket. */
  readonly stranger: boolean;
}

/** How a hostile datagram peer keys and names its senders. */
export interface HostileRemotes<R, D> {
  key(remote: R): string;
  destination(remote: R): D;
}

/**
 * The socket side of a hostile datagram peer: the responder's decisions put on a socket (and, for a share of them,
 * on a stranger's socket too), ticks, delays and the log of what was sent.
 */
export class HostileDatagramPeer<R, D> {
  readonly #responder: HostileResponder;
  readonly #socket: HostileDatagramSocket<R>;
  readonly #stranger: HostileDatagramSocket<R>;
  readonly #names: HostileRemotes<R, D>;
  readonly #strangerRate: number;
  readonly #strangerRandom: () => number;
  readonly #tickInterval: number;
  readonly #logSize: number;
  readonly #recent: HostileDatagramSent<D>[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #remotes = new Map<string, R>();
  readonly #socketStats = { datagramsSent: 0, bytesSent: 0, strangers: 0 };
  #ticker: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: Omit<HostilePeerOptions, 'host' | 'port'>, socket: HostileDatagramSocket<R>, stranger: HostileDatagramSocket<R>, names: HostileRemotes<R, D>) {
    this.#responder = createHostileResponder({ ...options, framing: datagramFraming });
    this.#socket = socket;
    this.#stranger = stranger;
    this.#names = names;
    this.#strangerRate = options.strangerRate ?? 0.02;
    this.#strangerRandom = seededRandom((options.seed ?? 1) ^ 0x5a5a5a5a);
    this.#tickInterval = options.tickInterval ?? 20;
    this.#logSize = options.logSize ?? 64;
  }

  get stats(): HostilePeerStats {
    return { ...this.#responder.stats, ...this.#socketStats };
  }

  get observations(): number {
    return this.#responder.observations;
  }

  /** Binds both sockets (the stranger only sends; what comes back to it is dropped), then starts ticking. */
  async bind(): Promise<void> {
    try {
      await this.#socket.bind((message, remote) => this.#onDatagram(message, remote));
      await this.#stranger.bind(() => undefined);
    } catch (error) {
      await this.close();
      throw error;
    }
    this.#ticker = setInterval(() => this.#tick(), this.#tickInterval);
  }

  recent(): readonly HostileDatagramSent<D>[] {
    return [...this.#recent];
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#remotes.clear();
    this.#closing = Promise.all([this.#socket.close(), this.#stranger.close()]).then(() => undefined);
    return this.#closing;
  }

  #onDatagram(message: Uint8Array, remote: R): void {
    if (this.#closed) return;
    const key = this.#names.key(remote);
    if (!this.#remotes.has(key)) {
      this.#remotes.set(key, remote);
      // Bounded like the responder's endpoints (the oldest is forgotten by both).
      if (this.#remotes.size > 1024) this.#remotes.delete(this.#remotes.keys().next().value as string);
    }
    this.#dispatch(this.#responder.receive(message, key));
  }

  #tick(): void {
    if (!this.#closed) this.#dispatch(this.#responder.tick());
  }

  #dispatch(datagrams: readonly HostileDatagram[]): void {
    for (const datagram of datagrams) {
      if (datagram.delay <= 0) this.#send(datagram);
      else {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#send(datagram);
        }, datagram.delay);
        this.#timers.add(timer);
      }
    }
  }

  #send(datagram: HostileDatagram): void {
    if (this.#closed) return;
    const remote = this.#remotes.get(datagram.endpoint);
    if (remote === undefined) return;
    const stranger = this.#strangerRate > 0 && this.#strangerRandom() < this.#strangerRate;
    this.#write(this.#socket, datagram, remote, false);
    if (stranger) this.#write(this.#stranger, datagram, remote, true);
  }

  #write(socket: HostileDatagramSocket<R>, datagram: HostileDatagram, remote: R, stranger: boolean): void {
    socket.send(datagram.frame, remote);
    this.#socketStats.datagramsSent++;
    this.#socketStats.bytesSent += datagram.frame.length;
    if (stranger) this.#socketStats.strangers++;
    this.#recent.push({ time: Date.now(), destination: this.#names.destination(remote), kind: datagram.kind, frame: datagram.frame, stranger });
    if (this.#recent.length > this.#logSize) this.#recent.shift();
  }
}

/** A loopback UDP socket as a {@link HostileDatagramSocket}. */
class UdpSocket implements HostileDatagramSocket<RemoteInfo> {
  readonly #host: LoopbackHost;
  readonly #port: number;
  readonly #socket: Socket;
  port = 0;

  constructor(host: LoopbackHost, port: number) {
    this.#host = host;
    this.#port = port;
    this.#socket = createSocket({ type: socketTypeFor(host) });
  }

  async bind(onMessage: (message: Uint8Array, remote: RemoteInfo) => void): Promise<void> {
    this.port = await bindLoopbackSocket(this.#socket, this.#host, this.#port, (message, remote) =>
      onMessage(new Uint8Array(message.buffer, message.byteOffset, message.length), remote),
    );
  }

  send(frame: Uint8Array, remote: RemoteInfo): void {
    // A callback, so a send error (EMSGSIZE for an oversize frame) is reported to it, not as an 'error' event.
    this.#socket.send(frame, remote.port, remote.address, () => undefined);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or closed already
      }
    });
  }
}

const UDP_REMOTES: HostileRemotes<RemoteInfo, IpPeerAddress> = {
  key: (remote) => `${remote.address}|${remote.port}`,
  destination: (remote) => ({ host: remote.address, port: remote.port }),
};

class UdpHostilePeer extends HostileDatagramPeer<RemoteInfo, IpPeerAddress> implements HostilePeer {
  address: { host: LoopbackHost; port: number };
  readonly #main: UdpSocket;

  constructor(host: LoopbackHost, options: HostilePeerOptions) {
    const main = new UdpSocket(host, options.port ?? 0);
    super(options, main, new UdpSocket(host, 0), UDP_REMOTES);
    this.#main = main;
    this.address = { host, port: 0 };
  }

  override async bind(): Promise<void> {
    await super.bind();
    this.address = { host: this.address.host, port: this.#main.port };
  }

  uri(path = '/'): string {
    return `coap://${formatAuthority(this.address.host, this.address.port)}${path.startsWith('/') ? path : '/' + path}`;
  }
}
