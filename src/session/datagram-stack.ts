/**
 * The datagram stack (udp, dtls, unix-dgram): the message layer (CON/NON, MIDs, retransmission, dedup) under
 * the exchanges. It observes the transport's frames itself ({@link StackBase}: not a subclass of rxjs's
 * Subscriber, whose constructor is internal in rxjs 8).
 */
import { Observable, type SchedulerLike } from 'rxjs';
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
import { StackBase } from './stack-base';
import type { Stack, StackConfig } from './pipeline';

/** libcoap `coap_session_max_pdu_size` over datagrams: the MTU less the security overhead and the 4-byte header. */
export function datagramMaxPduSize(mtu: number, frameOverhead: number): number {
  return Math.max(0, mtu - frameOverhead - UDP_HEADER_SIZE);
}

/**
 * The message layer under the exchanges. A class, not closures: it exists once per session (heap per idle
 * session matters with thousands of sessions), and it is itself the subscriber of the transport's frames
 * ({@link StackBase}) and the list of its failure watchers.
 */
export class DatagramStack extends StackBase implements Stack {
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
  /** Requests waiting for a separate response (after an empty ACK) or for the response to a NON; lazy. */
  #conDeadlines: ResponseDeadlines | undefined;
  #nonDeadlines: ResponseDeadlines | undefined;

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
      idleListener: this,
    });
    transport.frames$.subscribe(this);
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
    if (this.failed) return;
    this.unsubscribe(); // stop receiving
    this.#messages.close();
    this.#conDeadlines?.close();
    this.#nonDeadlines?.close();
    this.failWatchers(error);
  }
}
