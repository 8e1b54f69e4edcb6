/**
 * CoAP over Unix-domain datagram sockets (Node only), as libcoap's AF_UNIX `COAP_PROTO_UDP` sessions: one
 * socket per session bound to a local path (the server answers to it), sending to the server's path. Node has
 * no AF_UNIX datagrams, so the socket comes from the optional native package `unix-dgram`, loaded only when a
 * Unix datagram transport is made.
 *
 * The local path: the caller's (`localPath`), or a generated short one (see `unix-path.ts`); a path in use is
 * an error, never taken over; a stale socket file is reclaimed. It is removed when the transport closes (the
 * session is released) or the process exits normally.
 */
import { constants } from 'node:os';
import { Observable, of, EMPTY, type Subscriber } from 'rxjs';
import { CoapArgumentError, CoapTransportError, type UnixPeerAddress } from '../errors';
import { FrameReceivers } from './frame-receivers';
import type { Transport, TransportEvent, TransportFactory } from './transport';
import { checkUnixPath, claimUnixPath, defaultLocalPath, longPathWarning, releaseUnixPath, trackUnixPath } from './unix-path';

/** Where to send from and to. */
export interface UnixDgramTransportOptions {
  /** The server's socket path, e.g. `/tmp/server.sock` (libcoap `coap-server -U coap -A /tmp/server.sock`). */
  readonly path: string;
  /**
   * Our own socket path (libcoap's `local_if` for AF_UNIX: unique per session). Over 25 bytes it gets a
   * `warning` event: libcoap does not answer such a client. @defaultValue a generated `/tmp/rxc…` path
   */
  readonly localPath?: string;
}

/** The part of `unix-dgram` this transport uses (its own typings are not published). */
interface UnixDgramSocket {
  on(event: 'message', listener: (message: Buffer, info: { path: string | null }) => void): this;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  on(event: 'congestion' | 'writable' | 'listening', listener: () => void): this;
  removeAllListeners(event?: string): this;
  bind(path: string): void;
  send(buffer: Buffer, offset: number, length: number, path: string): void;
  close(): void;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

/** How the module is loaded: replaceable in specs (to see the error when it is missing). */
let loadModule = (): UnixDgramModule => require('unix-dgram') as UnixDgramModule;
let loaded: UnixDgramModule | undefined;

/** @internal Specs: load `unix-dgram` with `loader` instead (undefined restores the default). */
export function setUnixDgramLoader(loader: (() => UnixDgramModule) | undefined): void {
  loadModule = loader ?? ((): UnixDgramModule => require('unix-dgram') as UnixDgramModule);
  loaded = undefined;
}

/**
 * @internal The `unix-dgram` module, or a `CoapArgumentError` saying how to get it (an optional dependency:
 * it builds with node-gyp, which needs a compiler, python3 and Node's headers).
 */
export function unixDgramModule(): UnixDgramModule {
  if (loaded !== undefined) return loaded;
  try {
    loaded = loadModule();
  } catch (error) {
    throw new CoapArgumentError(
      "Unix-domain datagram sockets need the optional package 'unix-dgram', which is not installed or did not build here: `npm install unix-dgram` (a native addon: node-gyp needs a C++ compiler, python3 and Node's headers); Unix stream sockets (coap+tcp://%2F...) need nothing extra",
      { field: 'server', cause: error },
    );
  }
  return loaded;
}

/**
 * A factory of Unix datagram transports (`framing: 'datagram'`, one CoAP message per datagram). Throws
 * `CoapArgumentError` at once for a bad path, or when `unix-dgram` cannot be loaded. Subscribing claims and
 * binds the local path (erroring with `CoapTransportError` reason `'path-in-use'` when it is taken) and emits
 * the transport; unsubscribing closes the socket and removes the local path.
 */
export function unixDgramTransport(options: UnixDgramTransportOptions): TransportFactory {
  if (options === null || typeof options !== 'object') throw new CoapArgumentError('unixDgramTransport needs an options object { path }');
  const path = checkUnixPath(options.path, 'path');
  const localPath = options.localPath === undefined ? undefined : checkUnixPath(options.localPath, 'localIf.path');
  if (localPath === path) throw new CoapArgumentError('the local path must differ from the server path', { field: 'localIf.path' });
  const module = unixDgramModule();
  const warning = localPath === undefined ? undefined : longPathWarning(localPath);
  return () =>
    new Observable<Transport>((subscriber) => {
      const connection = new UnixDgramConnection(module, path, localPath, warning, subscriber);
      return () => connection.close();
    });
}

/** System error names by number (unix-dgram reports negative errno values). */
let errnoNames: Map<number, string> | undefined;

function errnoName(error: NodeJS.ErrnoException): string | undefined {
  const code = error.code as unknown;
  if (typeof code === 'string') return code;
  if (typeof code !== 'number') return undefined;
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(constants.errno)) errnoNames.set(value, name);
  }
  return errnoNames.get(Math.abs(code));
}

/** Send errors that drop one datagram and leave the socket working (the receiver's queue is full). */
const DROPPED: ReadonlySet<string> = new Set(['EAGAIN', 'EWOULDBLOCK', 'ENOBUFS']);

/** How many generated paths to try when one is taken (by another process with the same PID in a container). */
const GENERATED_ATTEMPTS = 4;

/** One bound socket, as an object (it lives as long as its session). */
class UnixDgramConnection implements Transport {
  readonly maxFrameOverhead = 0;
  readonly reliable = false;
  readonly framing = 'datagram' as const;
  readonly events$: Observable<TransportEvent>;
  local: UnixPeerAddress;
  readonly remote: UnixPeerAddress;
  readonly #module: UnixDgramModule;
  readonly #subscriber: Subscriber<Transport>;
  readonly #generated: boolean;
  #socket: UnixDgramSocket | undefined;
  #bound = false;
  #closed = false;
  #attempts = 0;
  #sending = false;
  readonly #receivers = new FrameReceivers();

  constructor(module: UnixDgramModule, path: string, localPath: string | undefined, warning: string | undefined, subscriber: Subscriber<Transport>) {
    this.#module = module;
    this.#subscriber = subscriber;
    this.remote = { path };
    this.#generated = localPath === undefined;
    this.local = { path: localPath ?? defaultLocalPath() };
    this.events$ = warning === undefined ? EMPTY : of<TransportEvent>({ type: 'warning', message: warning });
    this.#claim();
  }

  /** Datagrams from the server's path only (anyone who knows our path could send to it). */
  get frames$(): Observable<Uint8Array> {
    return this.#receivers.observable();
  }

  /** Only the server's datagrams are passed on: every frame comes from `remote`. */
  frameSource(): UnixPeerAddress {
    return this.remote;
  }

  send(frame: Uint8Array): void {
    const socket = this.#socket;
    if (this.#closed || !this.#bound || socket === undefined) return;
    // A full queue at the server (EAGAIN: a Unix datagram socket queues only net.unix.max_dgram_qlen datagrams,
    // 10 by default) drops the datagram, as a full UDP buffer would: CON retransmits (see #onError).
    const buffer = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length);
    this.#sending = true;
    try {
      socket.send(buffer, 0, buffer.length, this.remote.path);
    } finally {
      this.#sending = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shut();
    this.#receivers.close();
  }

  #claim(): void {
    const path = this.local.path;
    claimUnixPath(path, (error) => {
      if (this.#closed) return;
      if (error !== undefined) {
        // A generated path that happens to be taken: take another (a user's path is never replaced).
        if (this.#generated && ++this.#attempts < GENERATED_ATTEMPTS) {
          this.local = { path: defaultLocalPath() };
          this.#claim();
        } else this.#fail(error);
        return;
      }
      this.#bind(path);
    });
  }

  #bind(path: string): void {
    let socket: UnixDgramSocket;
    try {
      socket = this.#module.createSocket('unix_dgram');
    } catch (error) {
      this.#fail(new CoapTransportError(`cannot create a Unix datagram socket: ${(error as Error).message}`, { reason: 'error', peer: this.remote, cause: error }));
      return;
    }
    this.#socket = socket;
    socket.on('error', (error) => this.#onError(error));
    socket.on('congestion', ignore);
    socket.on('writable', ignore);
    socket.on('message', (message, info) => this.#onMessage(message, info.path));
    // unix-dgram binds synchronously: 'error' (EADDRINUSE, EACCES) or 'listening' has been emitted on return.
    socket.bind(path);
    if (this.#closed || this.#socket !== socket) return;
    this.#bound = true;
    trackUnixPath(path);
    this.#subscriber.next(this);
  }

  #onMessage(message: Buffer, source: string | null): void {
    if (this.#closed || source !== this.remote.path) return;
    this.#receivers.deliver(message);
  }

  #onError(error: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    const code = errnoName(error);
    // unix-dgram's sendto reports a full queue as an 'error' (its 'congestion' event is for connected sockets):
    // a lost datagram, not a lost connection.
    if (error.syscall === 'send' && DROPPED.has(code ?? '')) return;
    // unix-dgram reports a failed send (ENOENT: the server is gone) inside send(): fail after the caller's turn,
    // as a UDP socket would, not in the middle of the message layer's send.
    if (this.#sending) {
      queueMicrotask(() => this.#onError(error));
      return;
    }
    const syscall = error.syscall ?? (/^(\w+)/.exec(error.message)?.[1] ?? '');
    let text: string;
    let reason: string;
    if (syscall === 'bind' || !this.#bound) {
      reason = code === 'EADDRINUSE' ? 'path-in-use' : 'bind-failed';
      text = `cannot bind the local socket path ${this.local.path}: ${code ?? error.message}`;
    } else if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      // Nothing is bound to the server's path: the Unix counterpart of an ICMP port unreachable over UDP.
      reason = 'refused';
      text = `nothing listens on ${this.remote.path} (${code})`;
    } else {
      reason = 'error';
      text = `the Unix datagram exchange with ${this.remote.path} failed: ${code ?? error.message}`;
    }
    const failure = new CoapTransportError(text, { reason, syscallCode: code, peer: this.remote, cause: error });
    this.close();
    this.#subscriber.error(failure);
  }

  #fail(error: CoapTransportError): void {
    this.close();
    this.#subscriber.error(error);
  }

  /** Closes the socket and removes our path (only once it was ours: a refused path is not touched). */
  #shut(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      socket.removeAllListeners('message');
      socket.on('error', ignore);
      try {
        socket.close();
      } catch {
        // Closing twice or a closed descriptor: nothing left to release.
      }
    }
    if (this.#bound) releaseUnixPath(this.local.path);
    this.#bound = false;
  }
}

function ignore(): void {}
