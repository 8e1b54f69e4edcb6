/**
 * CoAP over TCP (RFC 8323 §3), Node only: one `node:net` connection per session, TCP_NODELAY on. The
 * transport carries the byte stream as it comes: `frames$` emits chunks cut anywhere, and the stack's
 * framing step (stream-codec's deframer) turns them into messages. Writes of one tick leave as one write.
 *
 * The connection object here (`StreamConnection`) is shared with `tls.ts`, which adds the handshake.
 */
import { connect, isIP, type Socket } from 'node:net';
import { EMPTY, Observable, asyncScheduler, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapTransportError, type CoapError, type PeerAddress } from '../errors';
import { formatPeer, isUnixPeer } from '../peer-address';
import type { Transport, TransportEvent, TransportFactory } from './transport';
import { checkUnixPath } from './unix-path';

/** Where and how to connect. */
export interface TcpTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets; zone IDs as `fe80::1%eth0`). */
  readonly host: string;
  /** Server port (5683 for `coap+tcp`). */
  readonly port: number;
  /** Address family to resolve names to; by default both (dual stack, Node's Happy Eyeballs). */
  readonly family?: 4 | 6;
  /** Local address to bind (the local interface). */
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
  /**
   * How long connecting may take, in milliseconds, before the factory errors with `CoapTransportError`
   * reason `'connect-timeout'` (the system's own limit is often two minutes). @defaultValue 10000
   */
  readonly connectTimeout?: number;
  /** Scheduler of the connect timeout. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * CoAP over TCP framing on a Unix-domain stream socket (libcoap `coap-server -U coap+tcp -A path`): the same
 * transport with a socket path instead of host and port. The client socket is unnamed (node:net cannot bind a
 * client path, and a stream server needs none to answer), so there is no local path to clean up.
 */
export interface TcpUnixTransportOptions {
  /** The server's socket path, e.g. `/tmp/server.sock`. */
  readonly path: string;
  /** As {@link TcpTransportOptions.connectTimeout}. @defaultValue 10000 */
  readonly connectTimeout?: number;
  /** Scheduler of the connect timeout. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * Why a byte-stream connection failed or ended: the `reason` of the `CoapTransportError` a tcp or tls factory
 * errors with (next to `syscallCode`, the system's code).
 * - `'refused'`: nothing listens on that port (ECONNREFUSED);
 * - `'reset'`: the peer reset the connection (ECONNRESET, EPIPE);
 * - `'closed-by-peer'`: the peer closed the connection (FIN);
 * - `'unreachable'`: no route or no answer (EHOSTUNREACH, ENETUNREACH, ETIMEDOUT);
 * - `'resolve-failed'`: the host name does not resolve;
 * - `'bind-failed'`: the local address or port cannot be bound;
 * - `'connect-timeout'`: `connectTimeout` passed;
 * - `'error'`: any other socket error.
 */
export type StreamFailureReason = 'refused' | 'reset' | 'closed-by-peer' | 'unreachable' | 'resolve-failed' | 'bind-failed' | 'connect-timeout' | 'error';

/** Milliseconds a closed connection may wait for the peer's FIN before its socket is destroyed. */
const CLOSE_GRACE = 500;

/**
 * A factory of CoAP-over-TCP transports (`framing: 'stream'`, `reliable: true`, `maxFrameOverhead: 0`).
 * Subscribing connects; the Observable emits the transport once connected and errors with a
 * `CoapTransportError` (with `reason`, see {@link StreamFailureReason}, and `syscallCode`) when connecting
 * fails or the connection is lost (FIN, RST, error): at once, not after a timeout. Unsubscribing closes the
 * connection (FIN; the socket is destroyed at the latest 500 ms later).
 *
 * Throws `CoapArgumentError` at once for bad options.
 */
export function tcpTransport(options: TcpTransportOptions | TcpUnixTransportOptions): TransportFactory {
  if (options !== null && typeof options === 'object' && 'path' in options && options.path !== undefined) return unixStreamTransport(options);
  const checked = checkStreamOptions(options, 'tcpTransport');
  const connectTimeout = positiveDuration(options.connectTimeout, 10000, 'connectTimeout');
  const scheduler = options.scheduler ?? asyncScheduler;
  return () =>
    new Observable<Transport>((subscriber) => {
      const connection = new StreamConnection(subscriber, { host: checked.host, port: checked.port }, describeSocketError);
      const socket = connect({
        host: checked.host,
        port: checked.port,
        family: checked.family,
        localAddress: checked.localAddress,
        localPort: checked.localPort,
        noDelay: true,
      });
      connection.attach(socket);
      connection.deadline(scheduler, connectTimeout, () =>
        new CoapTransportError(`connecting to ${formatPeer(connection.remote)} timed out after ${connectTimeout} ms`, { reason: 'connect-timeout', peer: connection.remote }),
      );
      socket.once('connect', () => connection.open());
      return () => connection.close();
    });
}

/** {@link tcpTransport} on a Unix-domain stream socket: `connect({ path })`, the rest as over TCP. */
function unixStreamTransport(options: TcpUnixTransportOptions): TransportFactory {
  const path = checkUnixPath(options.path, 'path');
  const connectTimeout = positiveDuration(options.connectTimeout, 10000, 'connectTimeout');
  const scheduler = options.scheduler ?? asyncScheduler;
  return () =>
    new Observable<Transport>((subscriber) => {
      const connection = new StreamConnection(subscriber, { path }, describeSocketError);
      const socket = connect({ path });
      connection.attach(socket);
      connection.deadline(scheduler, connectTimeout, () =>
        new CoapTransportError(`connecting to ${path} timed out after ${connectTimeout} ms`, { reason: 'connect-timeout', peer: connection.remote }),
      );
      socket.once('connect', () => connection.open());
      return () => connection.close();
    });
}

/** Options every stream transport checks the same way. */
export interface CheckedStreamOptions {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6 | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
}

/** @internal Checks host, port, family and the local side; throws `CoapArgumentError` naming the field. */
export function checkStreamOptions(options: unknown, name: string): CheckedStreamOptions {
  if (options === null || typeof options !== 'object') throw new CoapArgumentError(`${name} needs an options object { host, port }`);
  const { host, port, family, localAddress, localPort } = options as Record<string, unknown>;
  if (typeof host !== 'string' || host === '') throw new CoapArgumentError('host must be a non-empty string', { field: 'host' });
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CoapArgumentError(`port must be an integer in 1..65535, got ${String(port)}`, { field: 'port' });
  }
  if (family !== undefined && family !== 4 && family !== 6) throw new CoapArgumentError(`family must be 4 or 6, got ${String(family)}`, { field: 'family' });
  if (localAddress !== undefined && (typeof localAddress !== 'string' || isIP(stripZone(localAddress)) === 0)) {
    throw new CoapArgumentError('localAddress must be an IP address', { field: 'localAddress' });
  }
  if (localPort !== undefined && (typeof localPort !== 'number' || !Number.isInteger(localPort) || localPort < 0 || localPort > 65535)) {
    throw new CoapArgumentError(`localPort must be an integer in 0..65535, got ${String(localPort)}`, { field: 'localPort' });
  }
  return { host, port, family, localAddress, localPort: localPort === 0 ? undefined : localPort };
}

/** @internal A duration option in milliseconds. */
export function positiveDuration(value: unknown, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CoapArgumentError(`${field} must be a positive number of milliseconds, got ${String(value)}`, { field });
  }
  return value;
}

/** What an error describer reads of a connection: the peer, and the socket while it lives (tcp, tls, wss). */
export interface SocketHolder {
  readonly remote: PeerAddress;
  readonly socket: Socket | undefined;
}

/** Turns a socket error into the error the factory fails with; `opened` says whether the transport was emitted. */
export type SocketErrorDescriber = (error: NodeJS.ErrnoException, connection: SocketHolder, opened: boolean) => CoapError;

const REASONS: Readonly<Record<string, StreamFailureReason>> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  ETIMEDOUT: 'unreachable',
  ENOTFOUND: 'resolve-failed',
  EAI_AGAIN: 'resolve-failed',
  EAI_FAIL: 'resolve-failed',
  EAI_NONAME: 'resolve-failed',
  EADDRINUSE: 'bind-failed',
  EADDRNOTAVAIL: 'bind-failed',
  EACCES: 'bind-failed',
};

/** @internal The system code of a socket error (Happy Eyeballs reports an AggregateError of each attempt's). */
export function syscallCodeOf(error: NodeJS.ErrnoException): string | undefined {
  if (typeof error.code === 'string') return error.code;
  const inner = (error as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const each of inner) if (typeof (each as NodeJS.ErrnoException)?.code === 'string') return (each as NodeJS.ErrnoException).code;
  return undefined;
}

/** @internal The failure of a plain socket (TCP, or TLS below the handshake). */
export function describeSocketError(error: NodeJS.ErrnoException, connection: SocketHolder, opened: boolean): CoapError {
  const code = syscallCodeOf(error);
  const reason = (code !== undefined ? REASONS[code] : undefined) ?? 'error';
  const peer = connection.remote;
  const where = formatPeer(peer);
  let text: string;
  if (reason === 'refused') text = `nothing listens on ${where} (connection refused)`;
  else if (reason === 'reset') text = `${where} reset the connection${opened ? '' : ' while connecting'} (${code})`;
  else if (reason === 'resolve-failed') text = `cannot resolve ${isUnixPeer(peer) ? peer.path : peer.host} (${code})`;
  // A Unix socket path without a listener: the file is missing (ENOENT) or stale (ECONNREFUSED, above).
  else if (code === 'ENOENT' && isUnixPeer(peer)) return new CoapTransportError(`nothing listens on ${where} (no such socket)`, { reason: 'refused', syscallCode: code, peer, cause: error });
  else if (reason === 'bind-failed') text = `cannot bind the local side of the connection to ${where} (${code})`;
  else text = `the connection to ${where} failed: ${code ?? error.message}`;
  return new CoapTransportError(text, { reason, syscallCode: code, peer, cause: error });
}

const CONNECTING = 0;
const OPEN = 1;
const DONE = 2;

/**
 * @internal One byte-stream connection (TCP or TLS), as an object rather than a nest of closures: it lives
 * as long as its session, and heap per idle session matters with thousands of them.
 *
 * Chunks that arrive before anyone subscribes to `frames$` (a server's CSM may come in the same tick as
 * 'connect') are kept for the first subscriber; after that, only live subscribers get chunks.
 */
export class StreamConnection implements Transport {
  readonly maxFrameOverhead = 0;
  readonly reliable = true;
  readonly framing = 'stream' as const;
  events$: Observable<TransportEvent> = EMPTY;
  local: PeerAddress = { host: '', port: 0 };
  remote: PeerAddress;
  readonly #subscriber: Subscriber<Transport>;
  readonly #describe: SocketErrorDescriber;
  #socket: Socket | undefined;
  #state = CONNECTING;
  // FrameReceivers(true) inline: its object would cost every idle TCP session about 40 bytes (heap budget 6 KiB,
  // measured at 5.6-5.9).
  #receivers: Subscriber<Uint8Array>[] | undefined;
  #early: Buffer[] | undefined;
  #subscribedOnce = false;
  /** Frames sent in this tick, written together at its end (the first in a slot: one frame allocates nothing). */
  #pendingFrame: Uint8Array | undefined;
  #pendingFrames: Uint8Array[] | undefined;
  #pendingBytes = 0;
  #deadline: Subscription | undefined;

  constructor(subscriber: Subscriber<Transport>, remote: PeerAddress, describe: SocketErrorDescriber) {
    this.#subscriber = subscriber;
    this.remote = remote;
    this.#describe = describe;
  }

  /** True once the transport was emitted (and until it fails or closes). */
  get opened(): boolean {
    return this.#state === OPEN;
  }

  /** True when the connection failed or was closed. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** The socket, while the connection lives. */
  get socket(): Socket | undefined {
    return this.#socket;
  }

  /** Takes the socket: its errors and its end fail the connection from now on. */
  attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('error', this.#onError);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Fails the connection with `error()` unless it is open (or done) within `delay` milliseconds. */
  deadline(scheduler: SchedulerLike, delay: number, error: () => CoapError): void {
    this.#deadline = scheduler.schedule(() => {
      this.#deadline = undefined;
      if (this.#state === CONNECTING) this.fail(error());
    }, delay);
  }

  /** The connection is ready: reads start and the transport is emitted. */
  open(events$?: Observable<TransportEvent>): void {
    const socket = this.#socket;
    if (this.#state !== CONNECTING || socket === undefined) return;
    this.#cancelDeadline();
    this.#state = OPEN;
    if (events$ !== undefined) this.events$ = events$;
    // A Unix stream client is unnamed: its local side is the empty path.
    if (isUnixPeer(this.remote)) this.local = { path: '' };
    else {
      this.local = { host: socket.localAddress ?? '', port: socket.localPort ?? 0 };
      if (socket.remoteAddress !== undefined) this.remote = { host: socket.remoteAddress, port: socket.remotePort ?? this.remote.port };
    }
    // Read from now on, even before frames$ is subscribed: a FIN is only seen by a reading socket.
    socket.on('data', this.#onData);
    this.#subscriber.next(this);
  }

  /** Chunks of the byte stream from the peer, as they arrive (Buffers: no copy, no second view). */
  get frames$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((receiver) => {
      if (this.#state === DONE) {
        receiver.complete();
        return undefined;
      }
      (this.#receivers ??= []).push(receiver);
      if (!this.#subscribedOnce) {
        this.#subscribedOnce = true;
        const early = this.#early;
        this.#early = undefined;
        if (early !== undefined) for (const chunk of early) receiver.next(chunk);
      }
      return () => {
        const receivers = this.#receivers;
        const index = receivers === undefined ? -1 : receivers.indexOf(receiver);
        if (index >= 0) receivers!.splice(index, 1);
      };
    });
  }

  /**
   * Writes one frame. Frames sent in one tick leave as one write at the end of the tick, joined into one buffer:
   * one segment on the wire where they fit, and one socket write instead of a corked writev of many small
   * chunks (each of which Node would wrap in a Buffer and a write request). The frame must not change
   * afterwards (it is written at the end of the tick).
   */
  send(frame: Uint8Array): void {
    if (this.#state !== OPEN) return;
    if (this.#pendingFrame === undefined) {
      this.#pendingFrame = frame;
      queueMicrotask(this.#flush);
    } else (this.#pendingFrames ??= [this.#pendingFrame]).push(frame);
    this.#pendingBytes += frame.length;
  }

  readonly #flush = (): void => {
    const socket = this.#socket;
    if (socket !== undefined && this.#state === OPEN) this.#writePending(socket);
    else this.#writePending(undefined);
  };

  /** Writes (or, without a socket, drops) what this tick sent. */
  #writePending(socket: Socket | undefined): void {
    const first = this.#pendingFrame;
    const frames = this.#pendingFrames;
    const bytes = this.#pendingBytes;
    this.#pendingFrame = undefined;
    this.#pendingFrames = undefined;
    this.#pendingBytes = 0;
    if (first === undefined || socket === undefined) return;
    if (frames === undefined) {
      socket.write(first);
      return;
    }
    const joined = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const frame of frames) {
      joined.set(frame, offset);
      offset += frame.length;
    }
    socket.write(joined);
  }

  /** Closes the connection (unsubscribe): FIN after pending writes, the socket destroyed soon after. */
  close(): void {
    if (this.#state === DONE) return;
    const wasOpen = this.#state === OPEN;
    this.#finish();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return;
    if (!wasOpen) {
      socket.destroy();
      return;
    }
    // What this tick sent (a Release) goes before the FIN.
    this.#writePending(socket);
    // end() flushes corked writes, then sends FIN (close_notify first on TLS); the peer's FIN closes the
    // socket, or Node's own (unref'd) socket idle timer does after CLOSE_GRACE.
    socket.setTimeout(CLOSE_GRACE, () => socket.destroy());
    socket.end();
  }

  /** Fails the connection: the factory errors with `error`, the socket is destroyed. */
  fail(error: CoapError): void {
    if (this.#state === DONE) return;
    this.#finish();
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
    this.#subscriber.error(error);
    const receivers = this.#receivers;
    this.#receivers = undefined;
    if (receivers !== undefined) for (const receiver of receivers) receiver.complete();
  }

  #finish(): void {
    this.#state = DONE;
    this.#cancelDeadline();
    this.#early = undefined;
    const socket = this.#socket;
    if (socket !== undefined) {
      socket.off('data', this.#onData);
      socket.off('end', this.#onEnd);
      socket.off('close', this.#onEnd);
      socket.off('error', this.#onError);
      // Late errors of a closing socket (EPIPE, ECONNRESET) must not become unhandled 'error' events.
      socket.on('error', ignore);
    }
  }

  #cancelDeadline(): void {
    const deadline = this.#deadline;
    this.#deadline = undefined;
    deadline?.unsubscribe();
  }

  readonly #onError = (error: NodeJS.ErrnoException): void => {
    this.fail(this.#describe(error, this, this.#state === OPEN));
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#state !== OPEN) return;
    const receivers = this.#receivers;
    if (receivers === undefined || receivers.length === 0) {
      if (!this.#subscribedOnce) (this.#early ??= []).push(chunk);
      return;
    }
    if (receivers.length === 1) receivers[0].next(chunk);
    else for (const receiver of receivers.slice()) receiver.next(chunk);
  };

  readonly #onEnd = (): void => {
    if (this.#state === DONE) return;
    const peer = this.remote;
    this.fail(
      this.#state === OPEN
        ? new CoapTransportError(`${formatPeer(peer)} closed the connection`, { reason: 'closed-by-peer', peer })
        : this.#describe(Object.assign(new Error('socket closed while connecting'), { code: 'ECONNRESET' }), this, false),
    );
  };
}

function ignore(): void {}

/** @internal */
export function stripZone(host: string): string {
  const percent = host.indexOf('%');
  return percent < 0 ? host : host.slice(0, percent);
}
