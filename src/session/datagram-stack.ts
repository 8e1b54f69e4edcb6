/**
 * The datagram stack (udp, dtls, unix-dgram): the message layer (CON/NON, MIDs, retransmission, dedup) under
 * the exchanges. A plain object that observes the transport's frames (not a subclass of rxjs's Subscriber,
 * whose constructor is internal in rxjs 8).
 */
import { Observable, type SchedulerLike, type TeardownLogic } from 'rxjs';
import { CoapDecodeError } from '../errors';
import { transmitWith, type OutgoingPdu, type SendCallbacks } from '../exchange/exchange-context';
import { multicastRequest } from '../exchange/multicast';
import type { RequestTemplate } from '../exchange/request';
import type { CoapResponse } from '../exchange/response';
import { ResponseDeadlines } from '../exchange/response-deadlines';
import { TokenMatcher } from '../exchange/token-matcher';
import { UDP_HEADER_SIZE } from '../codec/udp-codec';
import { MessageLayer, type MessageLayerEvent } from '../message-layer/message-layer';
import { randomMessageId } from '../message-layer/message-id';
import type { Transport } from '../transport/transport';
import { FailureWatchers, type FailureWatcher } from './failure-watchers';
import type { Stack, StackConfig } from './pipeline';

/** libcoap `coap_session_max_pdu_size` over datagrams: the MTU less the security overhead and the 4-byte header. */
export function datagramMaxPduSize(mtu: number, frameOverhead: number): number {
  return Math.max(0, mtu - frameOverhead - UDP_HEADER_SIZE);
}

/**
 * The message layer under the exchanges. A class, not closures: it exists once per session (heap per idle
 * session matters with thousands of sessions), and it is itself the subscriber of the transport's frames: it
 * has the shape of an rxjs Subscriber (`next`/`error`/`complete`, `closed`/`add`/`remove`/`unsubscribe`), which
 * rxjs takes as it is instead of wrapping it in two more objects, without subclassing `Subscriber` (internal in
 * rxjs 8). Should a later rxjs not recognise the shape, it wraps it as any observer: it works the same.
 */
export class DatagramStack implements Stack {
  readonly tokens: TokenMatcher;
  readonly scheduler: SchedulerLike;
  readonly responseTimeout: number;
  readonly nonTimeout: number;
  readonly peer: Transport['remote'];
  readonly frameOverhead: number;
  readonly reliable = false;
  readonly bert = false;
  readonly #messages: MessageLayer;
  readonly #onEvent: (event: MessageLayerEvent) => void;
  readonly #watchers = new FailureWatchers();
  /** Subscriber shape: true once unsubscribed; the teardown of the frames subscription. */
  closed = false;
  #teardown: TeardownLogic = undefined;
  /** Requests waiting for a separate response (after an empty ACK) or for the response to a NON; lazy. */
  #conDeadlines: ResponseDeadlines | undefined;
  #nonDeadlines: ResponseDeadlines | undefined;

  constructor(transport: Transport, config: StackConfig) {
    const tokens = (this.tokens = new TokenMatcher(config.tokenGenerator));
    this.scheduler = config.scheduler;
    this.responseTimeout = config.params.separateResponseTimeout;
    this.nonTimeout = config.params.nonTimeout;
    this.peer = transport.remote;
    this.frameOverhead = transport.maxFrameOverhead;
    this.#onEvent = config.onEvent;
    this.#messages = new MessageLayer({
      transport,
      router: tokens,
      params: config.params,
      scheduler: config.scheduler,
      random: config.random,
      firstMessageId: config.firstMessageId ?? randomMessageId(),
      sizeLimit: config.sizeLimit,
      onEvent: config.onEvent,
      peer: transport.remote,
      idleListener: this,
    });
    transport.frames$.subscribe(this);
  }

  /** @internal Subscriber shape: keeps the frames subscription's teardown. */
  add(teardown: TeardownLogic): void {
    if (teardown === undefined || teardown === null) return;
    if (this.closed) runTeardown(teardown);
    else if (this.#teardown === undefined) this.#teardown = teardown;
    else {
      const previous = this.#teardown;
      this.#teardown = () => {
        runTeardown(previous);
        runTeardown(teardown);
      };
    }
  }

  /** @internal Subscriber shape. */
  remove(): void {}

  /** @internal Stops receiving frames. */
  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    const teardown = this.#teardown;
    this.#teardown = undefined;
    if (teardown !== undefined) runTeardown(teardown);
  }

  /** @internal The message layer went idle: drop the empty tables. */
  messagesIdle(): void {
    this.#compact();
  }

  /** A frame from the transport (this object is the observer of `frames$`). */
  next(frame: Uint8Array): void {
    try {
      this.#messages.receive(frame);
    } catch (error) {
      // The layers below stop every throw; should one get through, it is a bad packet, not a torn-down session.
      this.reportBadPacket(error instanceof CoapDecodeError ? error : new CoapDecodeError('BAD_FRAME', `the datagram could not be processed: ${(error as Error)?.message ?? error}`));
    }
  }

  /** The source of the frame being handled: a multicast member's address, else the peer. */
  messageSource(): Transport['remote'] {
    return this.#messages.messageSource();
  }

  reportBadPacket(error: CoapDecodeError): void {
    this.#onEvent({ type: 'bad-packet', error });
  }

  /** The transport ended its frames: the connection is gone (its factory reports why). */
  complete(): void {
    this.unsubscribe();
  }

  error(): void {
    this.unsubscribe();
  }

  send(request: OutgoingPdu, confirmable: boolean, callbacks: SendCallbacks): () => void {
    return confirmable ? this.#messages.sendConfirmable(request, callbacks) : this.#messages.sendNonConfirmable(request, callbacks);
  }

  transmit(request: OutgoingPdu, confirmable: boolean): Observable<never> {
    return transmitWith(this, request, confirmable);
  }

  /** A request to a multicast group: every member's answer until `window` ms have passed (RFC 7252 §8). */
  multicast(request: RequestTemplate, window: number): Observable<CoapResponse> {
    return multicastRequest(this, request, window);
  }

  ping(): Observable<number> {
    return new Observable<number>((subscriber) => {
      const started = this.scheduler.now();
      return this.#messages.ping({
        acknowledged: () => {
          subscriber.next(this.scheduler.now() - started);
          subscriber.complete();
        },
        failed: (error) => subscriber.error(error),
      });
    });
  }

  /** CON and NON requests wait differently long, so each has its queue. */
  responseDeadlines(confirmable: boolean): ResponseDeadlines {
    return confirmable ? (this.#conDeadlines ??= new ResponseDeadlines(this.scheduler)) : (this.#nonDeadlines ??= new ResponseDeadlines(this.scheduler));
  }

  /** True once the stack failed (the connection is gone). */
  get failed(): boolean {
    return this.#watchers.failed;
  }

  watch(watcher: FailureWatcher): void {
    this.#watchers.watch(watcher);
  }

  unwatch(watcher: FailureWatcher): void {
    this.#watchers.unwatch(watcher);
  }

  /** RFC 7252 §4.6 via libcoap: the MTU less the security overhead less the 4-byte header. */
  maxPduSize(mtu: number): number {
    return datagramMaxPduSize(mtu, this.frameOverhead);
  }

  /** Idle: drop the tables that are empty (heap per idle session matters with thousands of sessions). */
  #compact(): void {
    this.tokens.compact();
  }

  /** Datagrams need no goodbye: the observations sent their deregistrations already. */
  close(): void {}

  fail(error: unknown): void {
    if (this.#watchers.failed) return;
    this.unsubscribe(); // stop receiving
    this.#messages.close();
    this.#conDeadlines?.close();
    this.#nonDeadlines?.close();
    this.#watchers.fail(error);
  }
}

function runTeardown(teardown: TeardownLogic): void {
  if (typeof teardown === 'function') teardown();
  else if (teardown !== undefined && teardown !== null) teardown.unsubscribe();
}
