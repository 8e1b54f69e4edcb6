/**
 * The ONE place that chooses the stack under the exchanges (aiocoap protocol.py, undici connectH1): a datagram
 * transport gets the message layer (CON/NON, MIDs, retransmission, dedup); a reliable transport would get
 * signaling (CSM, Ping/Pong) in its place. Both offer the same {@link ExchangeContext} to the exchange layer.
 */
import { Observable, Subscriber, type SchedulerLike } from 'rxjs';
import { CoapArgumentError, CoapDecodeError } from '../errors';
import { transmitWith, type ExchangeContext, type OutgoingRequest, type SendCallbacks } from '../exchange/exchange-context';
import type { TokenGenerator } from '../exchange/token';
import { TokenMatcher } from '../exchange/token-matcher';
import { MessageLayer, type MessageLayerEvent } from '../message-layer/message-layer';
import { randomMessageId } from '../message-layer/message-id';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { Transport } from '../transport/transport';

/** What the session configures a stack with. */
export interface StackConfig {
  readonly params: TransmissionParameters;
  readonly scheduler: SchedulerLike;
  readonly random: () => number;
  readonly tokenGenerator: TokenGenerator;
  readonly onEvent: (event: MessageLayerEvent) => void;
  /** The session: its `maxPduSize()` (MTU less security overhead and header) is read per message. */
  readonly sizeLimit?: { maxPduSize(): number };
  /** First message ID. @defaultValue a CSPRNG draw ({@link randomMessageId}) */
  readonly firstMessageId?: number;
}

/** A connected stack: the exchange context plus what the session itself needs. */
export interface Stack extends ExchangeContext {
  /** CoAP ping; emits the round trip in milliseconds. */
  ping(): Observable<number>;
  /**
   * Registers an exchange to fail when the connection is lost or the session closes (called at once when that
   * already happened). An object, not a callback: one request at a time then allocates nothing here.
   */
  watch(watcher: FailureWatcher): void;
  /** Unregisters a watcher (its exchange ended). */
  unwatch(watcher: FailureWatcher): void;
  /** Fails every exchange running on this stack and stops its timers. */
  fail(error: unknown): void;
  /** Bytes the transport adds per frame (DTLS). */
  readonly frameOverhead: number;
  /** True when the stack carries CoAP over a reliable transport (no CON/NON). */
  readonly reliable: boolean;
}

/** Something to fail when the stack fails. */
export interface FailureWatcher {
  stackFailed(error: unknown): void;
}

/** Builds the stack for `transport`. */
export function createStack(transport: Transport, config: StackConfig): Stack {
  if (transport.reliable) {
    throw new CoapArgumentError('CoAP over reliable transports (TCP, TLS, WebSockets) is not supported by this version');
  }
  return datagramStack(transport, config);
}

function datagramStack(transport: Transport, config: StackConfig): Stack {
  return new DatagramStack(transport, config);
}

/**
 * The message layer under the exchanges. A class, not closures: it exists once per session, and it is itself
 * the subscriber of the transport's frames (an rxjs `Subscriber`, like rxjs's own `OperatorSubscriber`), so an
 * idle session holds no extra subscriber objects.
 */
class DatagramStack extends Subscriber<Uint8Array> implements Stack {
  readonly tokens: TokenMatcher;
  readonly scheduler: SchedulerLike;
  readonly responseTimeout: number;
  readonly nonTimeout: number;
  readonly peer: Transport['remote'];
  readonly frameOverhead: number;
  readonly reliable = false;
  readonly #messages: MessageLayer;
  readonly #onEvent: (event: MessageLayerEvent) => void;
  #failureSlot: FailureWatcher | null = null;
  #failureHandlers: Set<FailureWatcher> | undefined;
  #failure: { error: unknown } | undefined;

  constructor(transport: Transport, config: StackConfig) {
    super();
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
      onIdle: () => this.#compact(),
    });
    transport.frames$.subscribe(this);
  }

  /** A frame from the transport. */
  protected override _next(frame: Uint8Array): void {
    try {
      this.#messages.receive(frame);
    } catch (error) {
      // The layers below stop every throw; should one get through, it is a bad packet, not a torn-down session.
      this.reportBadPacket(error instanceof CoapDecodeError ? error : new CoapDecodeError('BAD_FRAME', `the datagram could not be processed: ${(error as Error)?.message ?? error}`));
    }
  }

  reportBadPacket(error: CoapDecodeError): void {
    this.#onEvent({ type: 'bad-packet', error });
  }

  /** The transport ended its frames: the connection is gone (its factory reports why). */
  protected override _complete(): void {
    this.unsubscribe();
  }

  protected override _error(): void {
    this.unsubscribe();
  }

  send(request: OutgoingRequest, confirmable: boolean, callbacks: SendCallbacks): () => void {
    return confirmable ? this.#messages.sendConfirmable(request, callbacks) : this.#messages.sendNonConfirmable(request, callbacks);
  }

  transmit(request: OutgoingRequest, confirmable: boolean): Observable<never> {
    return transmitWith(this, request, confirmable);
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

  watch(watcher: FailureWatcher): void {
    if (this.#failure !== undefined) {
      watcher.stackFailed(this.#failure.error);
      return;
    }
    // The first watcher in a slot, further ones in a Set: one request at a time touches no hash table.
    if (this.#failureSlot === null) this.#failureSlot = watcher;
    else (this.#failureHandlers ??= new Set()).add(watcher);
  }

  unwatch(watcher: FailureWatcher): void {
    if (this.#failureSlot === watcher) this.#failureSlot = null;
    else this.#failureHandlers?.delete(watcher);
  }

  /** Idle: drop the tables that are empty (heap per idle session matters with thousands of sessions). */
  #compact(): void {
    this.tokens.compact();
    if (this.#failureHandlers?.size === 0) this.#failureHandlers = undefined;
  }

  fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = { error };
    this.unsubscribe(); // stop receiving
    this.#messages.close();
    const handlers = [...(this.#failureHandlers ?? [])];
    if (this.#failureSlot !== null) handlers.unshift(this.#failureSlot);
    this.#failureSlot = null;
    this.#failureHandlers = undefined;
    for (const handler of handlers) handler.stackFailed(error);
  }
}

