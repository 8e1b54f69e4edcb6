/**
 * The hostile datagram peer of `startHostilePeer` on a Unix datagram socket (libcoap `coap-server -U coap -A
 * path`), for `rxcoap/testing`: the same responder and mutations, each answer sent to the client's own socket
 * path, and a share of them also from a stranger's socket on a second path (a client must drop datagrams from any
 * path but its server's). Needs the optional `unix-dgram` package, as the Unix datagram transport does.
 *
 * Node only; real timers, cleared by `close()`, which also removes both socket paths.
 */
import type { UnixPeerAddress } from '../errors';
import { HostileDatagramPeer, type HostileDatagramSent, type HostileDatagramSocket, type HostilePeerOptions, type HostilePeerStats, type HostileRemotes } from './hostile-peer';
import { UnixDatagramSocket } from './unix-dgram-listener';

/** Options of {@link startHostileUnixPeer}. */
export interface HostileUnixPeerOptions extends Omit<HostilePeerOptions, 'host' | 'port'> {
  /** The socket path to serve on. A path in use is refused; a stale socket file is replaced. */
  readonly path: string;
  /** The stranger's socket path. @defaultValue `path + '.x'` */
  readonly strangerPath?: string;
}

/** A datagram the hostile Unix peer sent. */
export type HostileUnixSent = HostileDatagramSent<UnixPeerAddress>;

/** A running hostile Unix datagram peer. Create with {@link startHostileUnixPeer}. */
export interface HostileUnixPeer {
  /** The socket path it serves on. */
  readonly path: string;
  readonly stats: Readonly<HostilePeerStats>;
  readonly observations: number;
  /** `'coap://%2Ftmp%2F…/path'`: the URI of a resource on it. */
  uri(path?: string): string;
  /** The last `logSize` datagrams sent, oldest first. */
  recent(): readonly HostileUnixSent[];
  /** Stops the ticks and every pending datagram, closes both sockets and removes their paths. */
  close(): Promise<void>;
}

/** A Unix datagram socket as a socket of the hostile datagram peer. */
class UnixSocket implements HostileDatagramSocket<UnixPeerAddress> {
  readonly #socket: UnixDatagramSocket;

  constructor(path: string) {
    this.#socket = new UnixDatagramSocket(path);
  }

  bind(onMessage: (message: Uint8Array, remote: UnixPeerAddress) => void): Promise<void> {
    return this.#socket.bind((message, source) => onMessage(new Uint8Array(message.buffer, message.byteOffset, message.length), source));
  }

  send(frame: Uint8Array, remote: UnixPeerAddress): void {
    try {
      this.#socket.send(frame, remote.path);
    } catch {
      // a client whose socket is gone, or a frame too large for the socket: nothing a hostile peer minds
    }
  }

  close(): Promise<void> {
    return this.#socket.close();
  }
}

const UNIX_REMOTES: HostileRemotes<UnixPeerAddress, UnixPeerAddress> = {
  key: (remote) => remote.path,
  destination: (remote) => ({ path: remote.path }),
};

class UnixHostilePeer extends HostileDatagramPeer<UnixPeerAddress, UnixPeerAddress> implements HostileUnixPeer {
  readonly path: string;

  constructor(options: HostileUnixPeerOptions) {
    super(options, new UnixSocket(options.path), new UnixSocket(options.strangerPath ?? `${options.path}.x`), UNIX_REMOTES);
    this.path = options.path;
  }

  uri(path = '/'): string {
    return `coap://${encodeURIComponent(this.path)}${path.startsWith('/') ? path : '/' + path}`;
  }
}

/**
 * Starts a hostile CoAP peer on a Unix datagram socket.
 *
 * @example
 * ```ts
 * const peer = await startHostileUnixPeer({ path: '/tmp/hostile.sock', seed: 42 });
 * const session = ctx.newClientSession(peer.uri());
 * session.get('/large').subscribe({ next: console.log, error: (e) => console.log(e.code) });
 * // ...
 * await peer.close();
 * ```
 * @returns the running peer, once both sockets are bound
 * @throws CoapArgumentError for a bad path or when `unix-dgram` is not installed; a rejection when a path is in use
 */
export async function startHostileUnixPeer(options: HostileUnixPeerOptions): Promise<HostileUnixPeer> {
  const peer = new UnixHostilePeer(options);
  await peer.bind();
  return peer;
}
