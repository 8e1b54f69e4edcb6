/**
 * CoAP over WebSockets (RFC 8323 §4): `coap+ws://` and `coaps+ws://`. One transport for Node and browsers,
 * generic over a WHATWG-style WebSocket constructor: the global `WebSocket` of a browser, or the `ws` package in
 * Node (`rxcoap/node` passes it, with TLS, socket addresses and error details, through a
 * {@link WebSocketConnector}). This file imports nothing of Node, so the browser bundle can carry it.
 *
 *   new WebSocket('ws://host:port/.well-known/coap', 'coap')     RFC 8323 §4.1: the path and the subprotocol
 *        │  binaryType 'arraybuffer'
 *        ▼
 *   'open' ──► subprotocol is 'coap'? ──► transport emitted ──► one binary message = one CoAP message (ws-codec)
 *        │                                                       a text message: the connection fails
 *        ▼
 *   'error' / 'close' ──► CoapTransportError with a reason (see {@link WebSocketFailureReason})
 *
 * Messages are taken from the moment the socket exists (the `ws` package may hand over the server's CSM in the
 * same tick as 'open') and kept for the first `frames$` subscriber. The connect timeout runs on the injected
 * scheduler.
 */
import { EMPTY, Observable, asyncScheduler, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapTransportError, type CoapError, type IpPeerAddress } from '../errors';
import { formatPeer } from '../peer-address';
import { FrameReceivers } from './frame-receivers';
import type { Transport, TransportEvent, TransportFactory } from './transport';

/** RFC 8323 §4.1: the WebSocket subprotocol of CoAP. */
export const COAP_WS_SUBPROTOCOL = 'coap';

/** RFC 8323 §4.1 / §8.3: the path a CoAP-over-WebSockets server listens on. */
export const COAP_WS_PATH = '/.well-known/coap';

/** The part of a WebSocket message event this transport reads. */
export interface WebSocketMessageEventLike {
  readonly data: unknown;
}

/** The part of a WebSocket close event this transport reads. */
export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
}

/**
 * The part of the WHATWG WebSocket interface this transport uses: browsers' `WebSocket` and the `ws` package
 * both have it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed: the peer's close frame makes it 2 before the close event comes. */
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: WebSocketMessageEventLike) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: WebSocketCloseEventLike) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket constructor: `new WebSocket(url, protocols)`; the `ws` package takes its client options as a third
 * argument (browsers ignore it).
 */
export type WebSocketConstructor = new (url: string, protocols: string | string[], options?: never) => WebSocketLike;

/**
 * What a platform adds to one connection attempt. The browser needs none (it does TLS, and tells nothing about a
 * failure); `rxcoap/node` gives the `ws` package its TLS options and reads addresses and errors from the socket.
 */
export interface WebSocketConnector {
  /** The constructor's third argument (the `ws` package's client options). */
  readonly options?: unknown;
  /**
   * The `binaryType` to ask for instead of `'arraybuffer'`: the `ws` package's `'nodebuffer'` hands over each message
   * as a Buffer (a Uint8Array) without the copy an ArrayBuffer of it costs.
   */
  readonly binaryType?: string;
  /** Events the transport passes on (a warning that certificate checks are off). */
  readonly events$?: Observable<TransportEvent>;
  /** The connection's addresses once it is open, when the platform knows them. */
  addresses?(): { readonly local: IpPeerAddress; readonly remote: IpPeerAddress } | undefined;
  /**
   * A typed error for what an `error` event carried (`event.error` of the `ws` package: a system error, a TLS
   * alert, an HTTP status), or undefined to let the transport describe it. `opened`: the transport was emitted.
   */
  describe?(cause: unknown, opened: boolean): CoapError | undefined;
  /**
   * Hands each message's data to `receive` instead of `onmessage` (the `ws` package's 'message' event: no
   * MessageEvent per message); a string for a text message. Returns what stops it.
   */
  listen?(socket: WebSocketLike, receive: (data: unknown) => void): () => void;
  /**
   * What can hold writes until `uncork` (the messages of one tick leave in one system call): the connection's
   * socket, asked for once the WebSocket is open and then used directly (no call through the platform per message).
   */
  corkable?(): Corkable | undefined;
}

/** A socket that holds writes (`cork`) until `uncork`: Node's `net.Socket`. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Options of {@link webSocketTransport}. */
export interface WebSocketTransportOptions {
  /** The WebSocket constructor: the browser's global `WebSocket`, or the `ws` package's in Node. */
  readonly WebSocket: WebSocketConstructor;
  /** Server host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  /** Server port (80 for `coap+ws`, 443 for `coaps+ws`). */
  readonly port: number;
  /** `wss:` (TLS) instead of `ws:`. @defaultValue false */
  readonly secure?: boolean;
  /** The resource of the WebSocket. @defaultValue `'/.well-known/coap'` (RFC 8323 §8.3) */
  readonly path?: string;
  /**
   * How long opening may take (connection, TLS, HTTP upgrade), in milliseconds, before the factory errors with
   * `CoapTransportError` reason `'connect-timeout'`. @defaultValue 10000
   */
  readonly connectTimeout?: number;
  /** Scheduler of the connect timeout. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** Called once per connection attempt (subscription) for what the platform adds. */
  readonly connector?: (remote: IpPeerAddress) => WebSocketConnector;
}

/**
 * Why a WebSocket connection failed or ended: the `reason` of the factory's `CoapTransportError`.
 * - `'refused'`, `'reset'`, `'unreachable'`, `'resolve-failed'`, `'bind-failed'`: as on TCP (Node only: browsers
 *   do not say);
 * - `'connect-timeout'`: `connectTimeout` passed before the WebSocket opened;
 * - `'handshake-rejected'`: the server answered the HTTP upgrade with another status than 101 (e.g. 400, 404);
 * - `'bad-subprotocol'`: the server did not select the `coap` subprotocol;
 * - `'non-binary-frame'`: the server sent a text message (RFC 8323 §4.2: CoAP goes in binary messages);
 * - `'frame-too-large'`: a message larger than the client accepts (WebSocket close code 1009);
 * - `'protocol-error'`: the server broke the WebSocket protocol (close code 1002, 1003, 1007, or a bad frame);
 * - `'closed-by-peer'`: the server closed the WebSocket (a close frame or the connection);
 * - `'connect-failed'`: opening failed and the platform does not say why (a browser);
 * - `'error'`: anything else.
 */
export type WebSocketFailureReason =
  | 'refused'
  | 'reset'
  | 'unreachable'
  | 'resolve-failed'
  | 'bind-failed'
  | 'connect-timeout'
  | 'handshake-rejected'
  | 'bad-subprotocol'
  | 'non-binary-frame'
  | 'frame-too-large'
  | 'protocol-error'
  | 'closed-by-peer'
  | 'connect-failed'
  | 'error';

/**
 * A factory of CoAP-over-WebSockets transports (`framing: 'websocket'`, `reliable: true`, `maxFrameOverhead: 0`).
 * Subscribing opens `ws[s]://host:port/.well-known/coap` with subprotocol `coap`; the Observable emits the
 * transport once the WebSocket is open, and errors with a `CoapTransportError` (reason: see
 * {@link WebSocketFailureReason}; a `CoapTlsError` from the Node connector for certificate and PSK failures) when
 * opening fails or the connection is lost. Unsubscribing closes the WebSocket (close code 1000).
 *
 * Throws `CoapArgumentError` at once for bad options.
 */
export function webSocketTransport(options: WebSocketTransportOptions): TransportFactory {
  const checked = checkWebSocketOptions(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const connector = options.connector;
  const url = webSocketUrl(checked.secure, checked.host, checked.port, checked.path);
  const remote: IpPeerAddress = { host: checked.host, port: checked.port };
  return () =>
    new Observable<Transport>((subscriber) => {
      const platform = connector?.(remote);
      const connection = new WebSocketConnection(subscriber, remote, platform);
      let socket: WebSocketLike;
      try {
        socket = new checked.WebSocket(url, COAP_WS_SUBPROTOCOL, platform?.options as never);
      } catch (error) {
        connection.fail(platform?.describe?.(error, false) ?? new CoapTransportError(`cannot open a WebSocket to ${url}: ${describeCause(error)}`, { reason: 'error', peer: remote, cause: error }));
        return undefined;
      }
      connection.attach(socket);
      connection.deadline(scheduler, checked.connectTimeout, () =>
        new CoapTransportError(`opening the WebSocket to ${formatPeer(remote)} timed out after ${checked.connectTimeout} ms`, { reason: 'connect-timeout', peer: remote }),
      );
      return () => connection.close();
    });
}

interface CheckedWebSocketOptions {
  readonly WebSocket: WebSocketConstructor;
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly path: string;
  readonly connectTimeout: number;
}

function checkWebSocketOptions(options: WebSocketTransportOptions): CheckedWebSocketOptions {
  if (options === null || typeof options !== 'object') throw new CoapArgumentError('webSocketTransport needs an options object { WebSocket, host, port }');
  const { WebSocket, host, port, secure, path, connectTimeout } = options;
  if (typeof WebSocket !== 'function') {
    throw new CoapArgumentError("WebSocket must be a WebSocket constructor (the browser's global WebSocket, or the ws package in Node)", { field: 'WebSocket' });
  }
  if (typeof host !== 'string' || host === '' || /[\s/?#@[\]]/.test(host)) throw new CoapArgumentError('host must be a host name or an IP address (IPv6 without brackets)', { field: 'host' });
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CoapArgumentError(`port must be an integer in 1..65535, got ${String(port)}`, { field: 'port' });
  }
  if (secure !== undefined && typeof secure !== 'boolean') throw new CoapArgumentError('secure must be a boolean', { field: 'secure' });
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || /[\s#]/.test(path))) {
    throw new CoapArgumentError('path must start with / and hold no spaces or #', { field: 'path' });
  }
  if (connectTimeout !== undefined && (typeof connectTimeout !== 'number' || !Number.isFinite(connectTimeout) || connectTimeout <= 0)) {
    throw new CoapArgumentError(`connectTimeout must be a positive number of milliseconds, got ${String(connectTimeout)}`, { field: 'connectTimeout' });
  }
  return { WebSocket, host, port, secure: secure ?? false, path: path ?? COAP_WS_PATH, connectTimeout: connectTimeout ?? 10000 };
}

/** `ws://host:port/.well-known/coap` (IPv6 literals in brackets; the port always given). */
export function webSocketUrl(secure: boolean, host: string, port: number, path: string = COAP_WS_PATH): string {
  return `${secure ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

function describeCause(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/** The bytes of a binary message: an ArrayBuffer (browsers, `binaryType` 'arraybuffer') or a view (Node Buffers). */
function binaryData(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  // Compared by tag, not instanceof: the ArrayBuffer may come from another realm (a worker, a test sandbox).
  if (data instanceof ArrayBuffer || Object.prototype.toString.call(data) === '[object ArrayBuffer]') return new Uint8Array(data as ArrayBuffer);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** RFC 6455 §7.4.1 close codes, read as failure reasons. */
function reasonOfCloseCode(code: number): WebSocketFailureReason {
  if (code === 1009) return 'frame-too-large';
  if (code === 1002 || code === 1003 || code === 1007) return 'protocol-error';
  return 'closed-by-peer';
}

const CONNECTING = 0;
const OPEN = 1;
const DONE = 2;

/**
 * One WebSocket connection, as an object rather than a nest of closures (it lives as long as its session).
 * Messages that arrive before anyone subscribes to `frames$` are kept for the first subscriber.
 */
class WebSocketConnection implements Transport {
  readonly maxFrameOverhead = 0;
  readonly reliable = true;
  readonly framing = 'websocket' as const;
  readonly events$: Observable<TransportEvent>;
  local: IpPeerAddress = { host: '', port: 0 };
  remote: IpPeerAddress;
  readonly #subscriber: Subscriber<Transport>;
  readonly #platform: WebSocketConnector | undefined;
  #socket: WebSocketLike | undefined;
  #state = CONNECTING;
  readonly #receivers = new FrameReceivers(true);
  #corked = false;
  /** The platform's socket, once open (Node): the messages of one tick leave in one write. */
  #corkable: Corkable | undefined;
  #deadline: Subscription | undefined;
  #unlisten: (() => void) | undefined;

  constructor(subscriber: Subscriber<Transport>, remote: IpPeerAddress, platform: WebSocketConnector | undefined) {
    this.#subscriber = subscriber;
    this.remote = remote;
    this.#platform = platform;
    this.events$ = platform?.events$ ?? EMPTY;
  }

  attach(socket: WebSocketLike): void {
    this.#socket = socket;
    socket.binaryType = this.#platform?.binaryType ?? 'arraybuffer';
    // Every handler is in place before 'open': `ws` may deliver the server's first message in the same tick.
    socket.onopen = this.#onOpen;
    const listen = this.#platform?.listen;
    if (listen !== undefined) this.#unlisten = listen(socket, this.#receive);
    else socket.onmessage = this.#onMessage;
    socket.onerror = this.#onError;
    socket.onclose = this.#onClose;
  }

  deadline(scheduler: SchedulerLike, delay: number, error: () => CoapError): void {
    this.#deadline = scheduler.schedule(() => {
      this.#deadline = undefined;
      if (this.#state === CONNECTING) this.fail(error());
    }, delay);
  }

  get frames$(): Observable<Uint8Array> {
    return this.#receivers.observable();
  }

  /**
   * Sends one CoAP message as one binary WebSocket message (RFC 8323 §4.2). Where the platform can, the messages of
   * one tick leave in one write (each stays its own WebSocket frame).
   */
  send(frame: Uint8Array): void {
    const socket = this.#socket;
    // Closing already (the peer's close frame came, its close event has not yet): the frame could not leave, and a
    // browser would log "WebSocket is already in CLOSING or CLOSED state" for it. The close event fails the transport.
    if (this.#state !== OPEN || socket === undefined || socket.readyState !== OPEN) return;
    const corkable = this.#corkable;
    if (!this.#corked && corkable !== undefined) {
      this.#corked = true;
      corkable.cork();
      queueMicrotask(this.#uncork);
    }
    try {
      socket.send(frame);
    } catch (error) {
      this.fail(new CoapTransportError(`sending to ${formatPeer(this.remote)} failed: ${describeCause(error)}`, { reason: 'error', peer: this.remote, cause: error }));
    }
  }

  readonly #uncork = (): void => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#corkable?.uncork();
  };

  /** Closes the WebSocket (unsubscribe): close code 1000 after what this tick sent (a Release). */
  close(): void {
    if (this.#state === DONE) return;
    const socket = this.#socket;
    this.#finish();
    this.#uncork();
    if (socket === undefined) return;
    try {
      socket.close(1000);
    } catch {
      // closing a socket that is already closing
    }
  }

  /** Fails the connection: the factory errors with `error`, the WebSocket is closed. */
  fail(error: CoapError, closeCode?: number): void {
    if (this.#state === DONE) return;
    const socket = this.#socket;
    this.#finish();
    this.#uncork();
    try {
      socket?.close(closeCode ?? 1000);
    } catch {
      // already closing
    }
    this.#subscriber.error(error);
    this.#receivers.close();
  }

  #finish(): void {
    this.#state = DONE;
    const deadline = this.#deadline;
    this.#deadline = undefined;
    deadline?.unsubscribe();
    this.#receivers.stop();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      socket.onopen = null;
      socket.onmessage = null;
      const unlisten = this.#unlisten;
      this.#unlisten = undefined;
      unlisten?.();
      socket.onclose = null;
      // Not null: an EventEmitter-based WebSocket (`ws`) throws an 'error' nobody listens to.
      socket.onerror = ignore;
    }
  }

  readonly #onOpen = (): void => {
    const socket = this.#socket;
    if (this.#state !== CONNECTING || socket === undefined) return;
    // RFC 8323 §4.1: the server must select the coap subprotocol (browsers and `ws` refuse a wrong one themselves).
    if (socket.protocol !== COAP_WS_SUBPROTOCOL) {
      this.fail(
        new CoapTransportError(`${formatPeer(this.remote)} did not select the WebSocket subprotocol coap (it selected ${socket.protocol === '' ? 'none' : socket.protocol})`, {
          reason: 'bad-subprotocol',
          peer: this.remote,
        }),
        1002,
      );
      return;
    }
    const deadline = this.#deadline;
    this.#deadline = undefined;
    deadline?.unsubscribe();
    this.#state = OPEN;
    this.#corkable = this.#platform?.corkable?.();
    const addresses = this.#platform?.addresses?.();
    if (addresses !== undefined) {
      this.local = addresses.local;
      this.remote = addresses.remote;
    }
    this.#subscriber.next(this);
  };

  readonly #onMessage = (event: WebSocketMessageEventLike): void => this.#receive(event.data);

  readonly #receive = (data: unknown): void => {
    if (this.#state === DONE) return;
    const message = data instanceof Uint8Array ? data : binaryData(data); // Node's Buffers: no call
    if (message === undefined) {
      // RFC 8323 §4.2: CoAP messages travel in binary messages only.
      this.fail(
        new CoapTransportError(`${formatPeer(this.remote)} sent a ${typeof data === 'string' ? 'text' : 'non-binary'} WebSocket message (RFC 8323 §4.2: CoAP goes in binary messages)`, {
          reason: 'non-binary-frame',
          peer: this.remote,
        }),
        1003,
      );
      return;
    }
    this.#receivers.deliver(message);
  };

  readonly #onError = (event: unknown): void => {
    if (this.#state === DONE) return;
    const cause = (event as { error?: unknown } | null)?.error;
    if (cause === undefined) return; // a browser: the close event that follows has the code
    // `ws` says why (a system error, TLS, HTTP); its close event follows, not always at once: fail now.
    this.fail(
      this.#platform?.describe?.(cause, this.#state === OPEN) ??
        new CoapTransportError(`the WebSocket to ${formatPeer(this.remote)} failed: ${describeCause(cause)}`, { reason: 'error', peer: this.remote, cause }),
    );
  };

  readonly #onClose = (event: WebSocketCloseEventLike): void => {
    if (this.#state === DONE) return;
    const peer = this.remote;
    const where = formatPeer(peer);
    const code = typeof event?.code === 'number' ? event.code : 1006;
    const said = typeof event?.reason === 'string' && event.reason !== '' ? `: ${event.reason}` : '';
    if (this.#state === CONNECTING) {
      this.fail(new CoapTransportError(`the WebSocket to ${where} could not be opened (close code ${code}${said}; refused, TLS, or HTTP: the platform does not say)`, { reason: 'connect-failed', peer }));
      return;
    }
    const reason = reasonOfCloseCode(code);
    this.fail(new CoapTransportError(`${where} closed the WebSocket (close code ${code}${said})`, { reason, peer }));
  };
}

function ignore(): void {}
