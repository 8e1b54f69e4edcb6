/**
 * A client session: libcoap's `coap_session_t` for one server, as cold Observables. The socket opens on the
 * first subscription and stays open until the last reference is released; every request is its own exchange
 * with a fresh token, and unsubscribing cancels it.
 */
import { BehaviorSubject, EMPTY, map, Observable, ReplaySubject, Subject, take, type SchedulerLike, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';
import { CoapArgumentError, CoapSessionClosedError } from '../errors';
import { tokenToHex, type MethodName } from '../codec/pdu';
import type { TokenGenerator } from '../exchange/token';
import { observeExchange, type LiveObservation } from '../exchange/observe';
import type { RequestTemplate } from '../exchange/request';
import { CoapResponse } from '../exchange/response';
import { blockwiseRequest, completeBlock2Body, sendsAsIs, type BlockwiseOptions } from '../exchange/blockwise';
import { EchoState } from '../exchange/echo';
import type { MessageLayerEvent } from '../message-layer/message-layer';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import { exponentialBackoff } from '../message-layer/backoff';
import type { TransportFactory } from '../transport/transport';
import { createStack, maxPduSizeBeforeConnect, type FailureWatcher, type Stack } from './pipeline';
import { SessionRequest, toResponse } from './session-request';
import { failureWatcher } from './failure-watchers';
import { tracedTransport } from './traced-transport';
import type { ReliableOptions } from './reliable-stack';
import type { ReconnectOptions } from './session-options';
import { shareLatest } from './share-latest';
import { RefCount } from './refcount';
import { buildRequest, checkObserveInit, type RequestInit } from './request-init';
import type { SessionEvent } from './session-events';
import { checkMtu, type BlockMode, type CoapLogger } from './session-options';
import type { CoapProto } from './transport-registry';
import type { CoapOption } from '../codec/pdu';

/** Everything a session is made of; assembled by `CoapContext`. */
export interface SessionConfig {
  readonly proto: CoapProto;
  /** The server as the user named it (for messages). */
  readonly server: string;
  readonly transport: TransportFactory;
  /** Uri-Host/Uri-Port implied by the server address. */
  readonly hostOptions: readonly CoapOption[];
  readonly scheduler: SchedulerLike;
  readonly params: TransmissionParameters;
  readonly random: () => number;
  readonly tokenGenerator: TokenGenerator;
  readonly mtu: number;
  /** Security overhead per datagram before the handshake tells the real one. */
  readonly frameOverhead: number;
  /** A reliable transport (TCP, TLS, WebSockets): signaling instead of the message layer. */
  readonly reliable?: boolean;
  /** Signaling settings (CSM timeout, keepalive) for reliable transports. */
  readonly signaling?: ReliableOptions;
  /** Reconnect with back-off and re-register live observations when the connection is lost (opt-in). */
  readonly reconnect?: ReconnectOptions;
  readonly blockMode: Required<BlockMode>;
  readonly maxBlockSize: number;
  readonly maxBodySize: number;
  readonly logger: CoapLogger | undefined;
  /** The server is a multicast group (RFC 7252 §8): NON requests that collect answers for `leisure` + ACK_TIMEOUT. */
  readonly multicast?: { readonly leisure: number };
  readonly onClosed: (session: ClientSession) => void;
}

/** Request init without method and path, for the shorthands. */
export type ShorthandInit = Omit<RequestInit, 'method' | 'path'>;

/** Options of `session.observe()`. */
export interface ObserveInit extends ShorthandInit {
  /** Method of the registration: GET (default) or FETCH (RFC 8132). */
  readonly method?: 'GET' | 'FETCH';
  /** Send a deregistration (Observe=1) when the last subscriber leaves, as libcoap does. @defaultValue true */
  readonly deregister?: boolean;
  /** Re-register when Max-Age passes without a notification. @defaultValue true */
  readonly reregister?: boolean;
  /** Milliseconds added to Max-Age before re-registering. @defaultValue 2000 */
  readonly reregisterMargin?: number;
}

/** What {@link ClientSession.state$} emits. */
export type SessionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Work that waits out a reconnect and runs again on the new connection. */
interface Resumer {
  resume(stack: Stack): void;
  fail(error: unknown): void;
}

/** Options of `session.release()`. */
export interface ReleaseOptions {
  /** Send a NON deregistration for every live observation before closing (libcoap does). @defaultValue true */
  readonly cancelObservations?: boolean;
}

/**
 * rxjs's `defer` and `of`, for the Observables made here: those two bring rxjs's `from` (promises, iterables,
 * streams, schedulers) into every browser bundle, about a kilobyte gzipped that no request needs. A throw in
 * `factory` errors the subscriber, as with `defer`.
 */
function deferred<T>(factory: () => Observable<T>): Observable<T> {
  return new Observable<T>((subscriber) => factory().subscribe(subscriber));
}

function just<T>(value: T): Observable<T> {
  return new Observable<T>((subscriber) => {
    subscriber.next(value);
    subscriber.complete();
  });
}

/** The init of a shorthand called without one. */
const NO_INIT: ShorthandInit = {};


/** A CoAP client session to one server. */
export class ClientSession {
  readonly #config: SessionConfig;
  readonly #refs: RefCount;
  /** Created when somebody listens (heap per idle session matters with thousands of sessions). */
  #events: Subject<SessionEvent> | undefined;
  /** RFC 9175 §2: an Echo value from the server, sent with the next request. */
  #echo: EchoState | undefined;
  #plainBlockOptions: BlockwiseOptions | undefined;
  #mtu: number;
  #ready: ReplaySubject<Stack> | undefined;
  #stack: Stack | undefined;
  /** The stack while it waits to be ready (the server's CSM). */
  #connecting: Stack | undefined;
  /** Our address on the connection, for the 'connected' event. */
  #local: import('../errors').PeerAddress | undefined;
  #connection: Subscription | undefined;
  #closed = false;
  /** Observations waiting out a reconnect (`reconnect` option). */
  #resumers: Set<Resumer> | undefined;
  /** Reconnect attempts since the connection was lost; the pending attempt's timer. */
  #reconnectAttempts = 0;
  #reconnectTimer: Subscription | undefined;
  #state: SessionState = 'idle';
  #state$: BehaviorSubject<SessionState> | undefined;
  /** Whether closing sends deregistrations (release's `cancelObservations`). */
  #deregisterOnClose = true;
  /** Shared observations by target, live ones (cancelled on release) and deregistrations still running; lazy. */
  #observations: Map<string, Observable<CoapResponse>> | undefined;
  #liveObservations: Set<LiveObservation> | undefined;
  #detached: Set<Subscription> | undefined;
  /** Multicast only: the TTL / hop limit requests leave with (libcoap's default 1) and the open transport to set it on. */
  #multicast: { hops: number; transport: import('../transport/transport').Transport | undefined } | undefined;

  /**
   * The connection's state, the current one first: `'idle'` (not connected yet, or lost without `reconnect`: the
   * next request connects), `'connecting'`, `'connected'`, `'reconnecting'` (waiting to try again, `reconnect`
   * option), `'closed'` (released; completes).
   */
  get state$(): Observable<SessionState> {
    if (this.#closed) return just<SessionState>('closed');
    return (this.#state$ ??= new BehaviorSubject<SessionState>(this.#state)).asObservable();
  }

  /** The connection's state now (see {@link ClientSession.state$}). */
  get state(): SessionState {
    return this.#state;
  }

  #setState(state: SessionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#state$?.next(state);
  }

  /** Session events (libcoap's event handler): connected, closed, failed, retransmitted, bad-packet... */
  get events$(): Observable<SessionEvent> {
    if (this.#closed) return EMPTY;
    return (this.#events ??= new Subject<SessionEvent>()).asObservable();
  }

  /** @internal Created by `CoapContext`. */
  constructor(config: SessionConfig) {
    this.#config = config;
    this.#mtu = config.mtu;
    this.#refs = new RefCount(() => this.#close('released'));
  }

  /** The protocol: `'udp'` or `'dtls'`. */
  get proto(): CoapProto {
    return this.#config.proto;
  }

  /** The server as given. */
  get server(): string {
    return this.#config.server;
  }

  /** True once released (or its context freed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Current reference count. */
  get references(): number {
    return this.#refs.count;
  }

  /**
   * Sends a request; emits the response (any code: see `throwOnErrorCode()`) and completes.
   * Cold: nothing is sent before subscribe; unsubscribe cancels (stops retransmission, frees the token).
   */
  request(init: RequestInit = {}): Observable<CoapResponse> {
    // buildRequest checks `init` (it may be anything at run time) and then reads its method and path.
    return this.#request(init, undefined, undefined);
  }

  #request(init: RequestInit, method: RequestInit['method'], path: string | undefined): Observable<CoapResponse> {
    if (this.#config.multicast !== undefined) return this.#multicastRequest(init, method, path);
    return new ClientSession.#RequestObservable(this, init, method, path);
  }

  /**
   * What {@link ClientSession.request} and the shorthands return: a cold Observable whose subscribe reads its
   * fields instead of a closure (and its context) made per call. rxjs 7 calls `_subscribe` on subscribe, inside
   * its try/catch (`Observable#_trySubscribe`); its own `Subject` overrides it the same way.
   */
  static readonly #RequestObservable = class RequestObservable extends Observable<CoapResponse> {
    readonly #session: ClientSession;
    readonly #init: RequestInit;
    readonly #method: RequestInit['method'];
    readonly #path: string | undefined;

    constructor(session: ClientSession, init: RequestInit, method: RequestInit['method'], path: string | undefined) {
      super();
      this.#session = session;
      this.#init = init;
      this.#method = method;
      this.#path = path;
    }

    /** @internal */
    protected _subscribe(subscriber: Subscriber<CoapResponse>): TeardownLogic {
      const session = this.#session;
      const init = this.#init;
      const request = buildRequest(init, session.#config, this.#method, this.#path);
      const stack = session.#stack;
      if (stack !== undefined) return session.#runRequest(stack, request, init, subscriber);
      session.#runWhenConnected(request, init, subscriber);
      return undefined;
    }
  };

  /** A request subscribed before the connection is up: it starts once the stack is (or errors with the connection). */
  #runWhenConnected(request: RequestTemplate, init: RequestInit, subscriber: Subscriber<CoapResponse>): void {
    subscriber.add(
      this.#connect()
        .pipe(take(1))
        .subscribe({
          next: (stack) => {
            // Outside the subscribe function rxjs no longer catches: a failure while starting must error this
            // request, not escape as an uncaught exception (issue 16 finding 3).
            try {
              subscriber.add(this.#runRequest(stack, request, init, subscriber));
            } catch (error) {
              subscriber.error(error);
            }
          },
          error: (error) => subscriber.error(error),
        }),
    );
  }

  /**
   * RFC 7252 §8: a NON to the group; every member's answer is emitted (its `remote` says which member) until
   * leisure plus ACK_TIMEOUT has passed, then the Observable completes. No block-wise follow-up: each answer is
   * emitted as it came (RFC 7959 §2.8 continues a transfer by unicast, to one member).
   */
  #multicastRequest(init: RequestInit, method: RequestInit['method'], path: string | undefined): Observable<CoapResponse> {
    return deferred(() => {
      if ((init as { confirmable?: unknown } | null)?.confirmable === true) {
        throw new CoapArgumentError('a multicast request is sent as NON only (RFC 7252 §8.1): leave confirmable out or set it to false', { field: 'confirmable' });
      }
      const request = buildRequest(init, this.#config, method, path);
      const window = this.#config.multicast!.leisure + this.#config.params.ackTimeout;
      return this.#onStack((stack) =>
        stack.multicast !== undefined
          ? stack.multicast(request, window)
          : new Observable<CoapResponse>((subscriber) => subscriber.error(new CoapArgumentError('a multicast group needs a datagram transport', { field: 'server' }))),
      );
    });
  }

  /**
   * Sets the TTL (IPv4) or hop limit (IPv6) of this multicast session's requests (libcoap `coap_mcast_set_hops`):
   * 0..255, 1 by default (the local link). Returns false when it cannot: the session is not multicast, or the
   * socket refused. Set before the first request, it applies when the socket opens. Throws
   * {@link CoapArgumentError} for a value that is no integer in 0..255.
   */
  setMcastHops(hops: number): boolean {
    if (typeof hops !== 'number' || !Number.isInteger(hops) || hops < 0 || hops > 255) {
      throw new CoapArgumentError(`hops must be an integer in 0..255, got ${String(hops)}`, { field: 'hops' });
    }
    if (this.#config.multicast === undefined || this.#closed) return false;
    const multicast = (this.#multicast ??= { hops: 1, transport: undefined });
    if (multicast.transport !== undefined && multicast.transport.setMulticastHops?.(hops) !== true) return false;
    multicast.hops = hops;
    return true;
  }

  #runRequest(stack: Stack, request: RequestTemplate, init: RequestInit, subscriber: Subscriber<CoapResponse>): TeardownLogic {
    const blockwise = this.#config.blockMode.useLibrary ? this.#blockwiseOptions(init) : undefined;
    if (blockwise === undefined || sendsAsIs(request, blockwise)) {
      // Nothing to split (the common case): one object, no Observable chain per request; only the response says
      // whether block-wise work follows (more blocks, an Echo).
      return new SessionRequest(stack, request, init, blockwise, subscriber);
    }
    const watcher = failureWatcher((error) => subscriber.error(error));
    stack.watch(watcher);
    if (subscriber.closed) return undefined;
    const transfer = blockwiseRequest(stack, request, blockwise).pipe(map((result) => toResponse(result, stack))).subscribe(subscriber);
    return () => {
      stack.unwatch(watcher);
      transfer.unsubscribe();
    };
  }

  /** GET `path`. */
  get(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('GET', path, init);
  }

  /** PUT `path`. */
  put(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('PUT', path, init);
  }

  /** POST `path`. */
  post(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('POST', path, init);
  }

  /** DELETE `path`. */
  delete(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('DELETE', path, init);
  }

  /** FETCH `path` (RFC 8132). */
  fetch(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('FETCH', path, init);
  }

  /** PATCH `path` (RFC 8132). */
  patch(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('PATCH', path, init);
  }

  /** iPATCH `path` (RFC 8132). */
  ipatch(path: string, init?: ShorthandInit): Observable<CoapResponse> {
    return this.#shorthand('IPATCH', path, init);
  }

  /**
   * Observes a resource (RFC 7641): emits the registration response, then every fresh notification, in order.
   * If the server does not accept the observation, emits its one response and completes; a non-2.xx
   * notification is emitted and ends it. Several `observe()` calls for the same target share one registration
   * (a late subscriber gets the latest notification at once); the last unsubscribe deregisters.
   */
  observe(path: string, init?: ObserveInit): Observable<CoapResponse>;
  observe(init: ObserveInit & { readonly path?: string; readonly uri?: string }): Observable<CoapResponse>;
  observe(pathOrInit: string | (ObserveInit & { readonly path?: string; readonly uri?: string }), init: ObserveInit = {}): Observable<CoapResponse> {
    return deferred(() => {
      if (this.#config.multicast !== undefined) throw new CoapArgumentError('observing a multicast group is not supported: observe each member by unicast', { field: 'session' });
      checkObserveInit(typeof pathOrInit === 'string' ? init : pathOrInit);
      const full = typeof pathOrInit === 'string' ? { ...init, path: pathOrInit } : pathOrInit;
      const request = buildRequest(full, this.#config);
      const key = observationKey(request, full);
      const observations = (this.#observations ??= new Map<string, Observable<CoapResponse>>());
      let shared = observations.get(key);
      if (shared === undefined) {
        const source = this.#onStack((stack) =>
          observeExchange(stack, request, {
            confirmable: full.confirmable,
            deregister: full.deregister,
            reregister: full.reregister,
            reregisterMargin: full.reregisterMargin,
            track: (this.#liveObservations ??= new Set()),
            runDetached: (work) => {
              if (!stack.failed) this.#runDetached(work); // no deregistration over a connection that is gone
            },
            onReregister: () => this.#emit({ type: 'reregistered', path: full.path ?? full.uri ?? '' }),
            // A notification larger than one block: fetch the rest without Observe, emit it whole (RFC 7959 §3.4).
            completeBody: this.#config.blockMode.useLibrary
              ? (first) => completeBlock2Body(stack, request, first, this.#blockwiseOptions(full))
              : undefined,
          }),
          true,
        );
        // On reset, forget it, unless a newer observation of the same target took its place already.
        const created: Observable<CoapResponse> = shareLatest(source, () => {
          if (observations.get(key) === created) observations.delete(key);
        });
        observations.set(key, created);
        shared = created;
      }
      return shared;
    });
  }

  /** CoAP ping (empty CON answered by RST, RFC 7252 §4.3): emits the round trip in milliseconds. */
  ping(): Observable<number> {
    if (this.#config.multicast !== undefined) {
      // RFC 7252 §8.1: multicast carries NON only; a ping is an empty CON.
      return deferred(() => {
        throw new CoapArgumentError('a CoAP ping is an empty CON, which a multicast group cannot take (RFC 7252 §8.1)', { field: 'session' });
      });
    }
    return this.#onStack((stack) => stack.ping());
  }

  /** Sets the path MTU (libcoap `coap_session_set_mtu`): 64..65535 bytes. */
  setMtu(mtu: number): void {
    this.#mtu = checkMtu(mtu);
  }

  /** The path MTU in bytes. */
  get mtu(): number {
    return this.#mtu;
  }

  /**
   * Largest CoAP message this session sends, header excluded (libcoap `coap_session_max_pdu_size`). Datagrams:
   * the MTU minus the (D)TLS overhead minus the 4-byte header. Reliable transports: the server's CSM
   * Max-Message-Size (1152 before it arrives, RFC 8323 §5.3.1) minus the largest frame header.
   */
  maxPduSize(): number {
    const stack = this.#stack;
    if (stack !== undefined) return stack.maxPduSize(this.#mtu);
    return maxPduSizeBeforeConnect(this.#config.reliable === true, this.#mtu, this.#config.frameOverhead);
  }

  /** Adds a reference (libcoap `coap_session_reference`); returns the new count. */
  reference(): number {
    return this.#refs.reference();
  }

  /**
   * Drops a reference (libcoap `coap_session_release`); at 0 the session closes on purpose:
   * - every live observation sends its deregistration (a NON with Observe=1, as libcoap does; not with
   *   `cancelObservations: false`) and then **completes**, as RxJS users expect of a source that ended;
   * - a request still waiting for its response (and one still waiting for the connection) errors with
   *   `CoapSessionClosedError`;
   * - the socket closes.
   * A transport failure, by contrast, errors everything (requests and observations) with its own error.
   * Returns the new count.
   */
  release(options: ReleaseOptions = {}): number {
    if (this.#refs.count === 1 && options.cancelObservations === false) this.#deregisterOnClose = false;
    return this.#refs.release();
  }

  /** @internal Closes whatever the count (context free). */
  dispose(): void {
    this.#refs.releaseAll();
  }

  #shorthand(method: MethodName, path: string, init: ShorthandInit = NO_INIT): Observable<CoapResponse> {
    // #request's two lines (a call fewer per request: at a few requests a second every call runs cold).
    if (this.#config.multicast !== undefined) return this.#multicastRequest(init, method, path);
    return new ClientSession.#RequestObservable(this, init, method, path);
  }

  /**
   * Runs `work` on the connected stack (connecting first), failing it when the connection or session ends.
   * `resumable` work (observations) instead waits out a reconnect when the session has `reconnect` set, and runs
   * again on the new connection: the same Observable goes on.
   */
  #onStack<T>(work: (stack: Stack) => Observable<T>, resumable = false): Observable<T> {
    return new Observable<T>((subscriber) => {
      let inner: Subscription | undefined;
      let current: { stack: Stack; watcher: FailureWatcher } | undefined;
      const stop = (): void => {
        if (current !== undefined) current.stack.unwatch(current.watcher);
        current = undefined;
        const running = inner;
        inner = undefined;
        running?.unsubscribe();
      };
      const run = (stack: Stack): void => {
        if (subscriber.closed) return;
        const watcher = failureWatcher((error) => {
          if (resumable && this.#config.reconnect !== undefined && !this.#closed) {
            stop(); // the stack is gone: nothing to deregister on it
            (this.#resumers ??= new Set()).add(resumer);
          } else subscriber.error(error);
        });
        current = { stack, watcher };
        stack.watch(watcher);
        try {
          if (!subscriber.closed && current?.stack === stack) {
            inner = work(stack).subscribe({
              next: (value) => subscriber.next(value),
              error: (error) => subscriber.error(error),
              complete: () => subscriber.complete(),
            });
          }
        } catch (error) {
          subscriber.error(error); // a failure while starting errors this work, whenever it starts
        }
      };
      const resumer: Resumer = { resume: run, fail: (error) => subscriber.error(error) };
      if (this.#stack !== undefined) run(this.#stack);
      else subscriber.add(this.#connect().pipe(take(1)).subscribe({ next: run, error: (error) => subscriber.error(error) }));
      return () => {
        this.#resumers?.delete(resumer);
        stop();
      };
    });
  }

  #blockwiseOptions(init: RequestInit): BlockwiseOptions {
    const stack = this.#stack;
    const maxPduSize = stack !== undefined ? stack.maxPduSize(this.#mtu) : this.maxPduSize();
    // The common request sets none of the per-request hints: one options object serves them all (per MTU).
    const plain = init.confirmable === undefined && init.token === undefined && init.block2 === undefined && init.block1Size === undefined;
    const bert = stack?.bert === true;
    if (plain && this.#plainBlockOptions?.maxPduSize === maxPduSize && this.#plainBlockOptions.bert === bert) return this.#plainBlockOptions;
    const { singleBody, noPreemptiveRequestTag } = this.#config.blockMode;
    const options: BlockwiseOptions = {
      confirmable: init.confirmable,
      token: init.token,
      maxPduSize,
      maxBlockSize: this.#config.maxBlockSize,
      maxBodySize: this.#config.maxBodySize,
      singleBody,
      noPreemptiveRequestTag,
      block2: init.block2,
      block1Size: init.block1Size,
      bert,
      echo: (this.#echo ??= new EchoState()),
      onEvent: this.#onEvent,
    };
    if (plain) this.#plainBlockOptions = options;
    return options;
  }

  /**
   * @internal The stack can carry requests (for reliable transports: the server's CSM arrived, RFC 8323 §5.3,
   * so every request is sized by its Max-Message-Size).
   */
  stackReady(stack: Stack): void {
    if (this.#connecting !== stack) return;
    this.#connecting = undefined;
    this.#stack = stack;
    const transport = stack.peer;
    this.#setState('connected');
    this.#emit({ type: 'connected', local: this.#local ?? transport, remote: transport });
    if (this.#reconnectAttempts > 0) {
      this.#emit({ type: 'reconnected', attempts: this.#reconnectAttempts });
      this.#reconnectAttempts = 0;
    }
    // Observations that waited out the reconnect register again on this connection.
    const resumers = this.#resumers;
    this.#resumers = undefined;
    for (const resumer of resumers ?? []) resumer.resume(stack);
    // Connected: requests use #stack directly; the ReplaySubject is only for those that waited (and no
    // long-lived closure holds it).
    const waiting = this.#ready;
    this.#ready = undefined;
    waiting?.next(stack);
    waiting?.complete();
  }

  /** @internal The stack failed by itself (a Release, an Abort, a CSM or keepalive timeout): tear down. */
  stackFailed(error: unknown): void {
    this.#fail(error);
  }

  /** One callback for the stack's and block-wise events. */
  readonly #onEvent = (event: SessionEvent | MessageLayerEvent): void => this.#emit(event);

  #emit(event: SessionEvent): void {
    this.#events?.next(event);
  }

  #connect(): Observable<Stack> {
    if (this.#closed) return new Observable((subscriber) => subscriber.error(new CoapSessionClosedError('the session was released')));
    if (this.#stack !== undefined) return just(this.#stack);
    if (this.#ready !== undefined) return this.#ready;
    const ready = (this.#ready = new ReplaySubject<Stack>(1));
    this.#subscribeTransport();
    return ready;
  }

  #subscribeTransport(): void {
    const { logger } = this.#config;
    this.#setState(this.#reconnectAttempts > 0 ? 'reconnecting' : 'connecting');
    this.#connection = this.#config.transport().subscribe({
      next: (transport) => {
        this.#local = transport.local;
        if (this.#config.multicast !== undefined) {
          const multicast = (this.#multicast ??= { hops: 1, transport: undefined });
          multicast.transport = transport;
          if (transport.setMulticastHops?.(multicast.hops) === false) this.#emit({ type: 'warning', message: `the socket refused ${multicast.hops} multicast hops` });
        }
        // Datagrams are traced as they pass; a reliable stack traces each message after deframing.
        const traceFrames = logger?.pdu === undefined || transport.reliable ? undefined : logger.pdu.bind(logger);
        const traced = traceFrames === undefined ? transport : tracedTransport(transport, traceFrames);
        // The session reports its own 'closed' (with the reason); the rest of the transport's events pass through.
        transport.events$.subscribe((event) => {
          if (event.type !== 'closed' && event.type !== 'connected') this.#emit(event);
        });
        try {
          const stack = createStack(traced, {
            sizeLimit: this,
            params: this.#config.params,
            scheduler: this.#config.scheduler,
            random: this.#config.random,
            tokenGenerator: this.#config.tokenGenerator,
            onEvent: this.#onEvent,
            owner: this,
            reliable: this.#config.signaling,
            trace: logger?.pdu === undefined || !transport.reliable ? undefined : logger.pdu.bind(logger),
          });
          this.#connecting = stack;
          // A datagram stack is ready at once; a reliable one once the server's CSM is in (it calls stackReady).
          if (!stack.reliable) this.stackReady(stack);
        } catch (error) {
          this.#fail(error);
        }
      },
      error: (error) => this.#fail(error),
    });
  }

  #fail(error: unknown): void {
    const ready = this.#ready;
    this.#emit({ type: 'failed', error: error as Error });
    this.#config.logger?.warn?.(`session to ${this.#config.server} failed: ${(error as Error).message}`);
    const stack = this.#stack ?? this.#connecting;
    this.#stack = undefined;
    this.#connecting = undefined;
    this.#connection?.unsubscribe();
    this.#connection = undefined;
    if (this.#multicast !== undefined) this.#multicast.transport = undefined;
    this.#ready = undefined; // the next request connects again
    stack?.fail(error); // resumable work (observations) registers itself in #resumers here
    ready?.error(error);
    if (this.#closed) return;
    if (this.#resumers !== undefined && this.#resumers.size > 0) this.#scheduleReconnect(error);
    else this.#setState('idle');
  }

  /**
   * `reconnect` (libcoap develop's RECONNECT_* events): tries again after a delay that doubles per attempt, up to
   * `maxDelay`, all on the scheduler; gives up after `maxAttempts`, failing the waiting observations.
   */
  #scheduleReconnect(error: unknown): void {
    const options = this.#config.reconnect!;
    const attempt = ++this.#reconnectAttempts;
    if (attempt > (options.maxAttempts ?? 10)) {
      const resumers = this.#resumers;
      this.#resumers = undefined;
      this.#reconnectAttempts = 0;
      this.#emit({ type: 'reconnect-failed', attempts: attempt - 1, error: error as Error });
      this.#setState('idle');
      for (const resumer of resumers ?? []) resumer.fail(error);
      return;
    }
    const delay = exponentialBackoff(attempt, options.initialDelay ?? 1000, options.maxDelay ?? 30_000);
    this.#setState('reconnecting');
    this.#emit({ type: 'reconnecting', attempt, delay, error: error as Error });
    this.#reconnectTimer = this.#config.scheduler.schedule(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed || this.#resumers === undefined || this.#resumers.size === 0) {
        this.#reconnectAttempts = 0;
        if (!this.#closed) this.#setState('idle');
        return;
      }
      // Success resumes the observations (stackReady); a failure comes back to #fail, which tries again.
      this.#connect().pipe(take(1)).subscribe({ error: () => undefined });
    }, delay);
  }

  #runDetached(work: Observable<never>): void {
    if (this.#closed) return;
    // The work may end synchronously (a loopback-fast peer), before `subscribe` returns.
    let subscription: Subscription | undefined;
    let ended = false;
    const end = (): void => {
      ended = true;
      if (subscription !== undefined) this.#detached?.delete(subscription);
    };
    subscription = work.subscribe({ error: end, complete: end });
    if (!ended) (this.#detached ??= new Set()).add(subscription);
  }

  #close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    // libcoap: a released session cancels its observations with NON deregistrations; they complete.
    for (const observation of [...(this.#liveObservations ?? [])]) observation.cancelNow(this.#deregisterOnClose);
    this.#liveObservations = undefined;
    for (const subscription of this.#detached ?? []) subscription.unsubscribe();
    this.#detached = undefined;
    const stack = this.#stack ?? this.#connecting;
    const ready = this.#ready;
    this.#stack = undefined;
    this.#connecting = undefined;
    this.#ready = undefined;
    stack?.close(); // RFC 8323 §5.5: a Release on reliable transports
    stack?.fail(new CoapSessionClosedError());
    // Work still waiting for the connection ends too (it would wait forever otherwise).
    ready?.error(new CoapSessionClosedError('the session was closed before it connected'));
    this.#connection?.unsubscribe();
    this.#connection = undefined;
    this.#reconnectTimer?.unsubscribe();
    this.#reconnectTimer = undefined;
    const resumers = this.#resumers;
    this.#resumers = undefined;
    for (const resumer of resumers ?? []) resumer.fail(new CoapSessionClosedError('the session was closed while reconnecting'));
    this.#setState('closed');
    this.#state$?.complete();
    this.#state$ = undefined;
    this.#emit({ type: 'closed', reason });
    this.#events?.complete();
    this.#events = undefined;
    this.#config.onClosed(this);
  }
}

/** Observations of the same target share one registration: same method, options, body and message type. */
function observationKey(request: RequestTemplate, init: ObserveInit): string {
  let key = `${request.code}|${init.confirmable === false ? 'N' : 'C'}|${init.deregister === false ? 'k' : 'd'}`;
  for (const option of request.options) key += `|${option.number}=${tokenToHex(option.value)}`;
  return `${key}|${tokenToHex(request.payload)}`;
}

