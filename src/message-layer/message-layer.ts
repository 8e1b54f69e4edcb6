/**
 * The datagram message layer (RFC 7252 §4) for one peer: composes message IDs, NSTART, retransmission,
 * deduplication and the automatic ACK/RST replies. It knows nothing about tokens: every CON/NON from the
 * peer and every piggybacked response goes to `route`, the exchange layer's token matcher, which says
 * whether the message is wanted (ACK) or not (RST).
 */
import { Observable, type SchedulerLike } from 'rxjs';
import { CoapDecodeError, CoapResetError, type PeerAddress } from '../errors';
import { MessageType, type CoapPdu } from '../codec/pdu';
import { decodeDatagram, encodeDatagram } from '../codec/udp-codec';
import { emptyAck, emptyCon, reset } from './acknowledge';
import { DeduplicationWindow } from './deduplicate';
import { MessageIdAllocator } from './message-id';
import { NstartLimiter } from './nstart';
import { retransmit } from './retransmit';
import { exchangeLifetime, nonLifetime, type TransmissionParameters } from './transmission-params';

/** What the message layer reports (surfaced on the session's `events$`). */
export type MessageLayerEvent =
  | { readonly type: 'retransmitted'; readonly messageId: number; readonly attempt: number }
  | { readonly type: 'bad-packet'; readonly error: CoapDecodeError }
  | { readonly type: 'duplicate'; readonly messageId: number }
  | { readonly type: 'mid-exhausted'; readonly delay: number }
  | { readonly type: 'rejected'; readonly messageId: number };

/** A message to send without type and MID (the message layer assigns them). */
export type OutgoingPdu = Omit<CoapPdu, 'type' | 'messageId'>;

/** Wiring of a {@link MessageLayer}. */
export interface MessageLayerConfig {
  /** Sends one datagram to the peer. */
  readonly send: (frame: Uint8Array) => void;
  /** The exchange layer: returns true when the message is for a live exchange. */
  readonly route: (pdu: CoapPdu) => boolean;
  readonly params: TransmissionParameters;
  readonly scheduler: SchedulerLike;
  /** Jitter source, uniform in [0, 1). */
  readonly random: () => number;
  /** First message ID (RFC 7252 §4.4: random). */
  readonly firstMessageId: number;
  readonly onEvent: (event: MessageLayerEvent) => void;
  readonly peer: PeerAddress;
  /** Most message IDs remembered for deduplication. @defaultValue 4096 */
  readonly dedupCapacity?: number;
}

interface Outstanding {
  /** ACK (empty or piggybacked) received. */
  readonly acknowledged: () => void;
  /** RST received. */
  readonly reset: () => void;
}

/** Reliability for one datagram peer. */
export class MessageLayer {
  readonly #config: MessageLayerConfig;
  readonly #messageIds: MessageIdAllocator;
  readonly #nstart: NstartLimiter;
  readonly #dedup: DeduplicationWindow;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #exchangeLifetime: number;
  readonly #nonLifetime: number;

  constructor(config: MessageLayerConfig) {
    this.#config = config;
    this.#exchangeLifetime = exchangeLifetime(config.params);
    this.#nonLifetime = nonLifetime(config.params);
    this.#messageIds = new MessageIdAllocator(config.firstMessageId, this.#exchangeLifetime);
    this.#nstart = new NstartLimiter(config.params.nstart);
    this.#dedup = new DeduplicationWindow(config.dedupCapacity);
  }

  /** CONs sent and not yet acknowledged, and those queued by NSTART (for tests and diagnostics). */
  get pending(): { outstanding: number; queued: number } {
    return { outstanding: this.#nstart.active, queued: this.#nstart.waiting };
  }

  /**
   * Sends `pdu` as a CON: waits for an NSTART slot and a free message ID, then retransmits until an ACK
   * (completes) or RST ({@link CoapResetError}), or times out ({@link CoapTimeoutError}).
   */
  sendConfirmable(pdu: OutgoingPdu, info?: { token?: string }): Observable<never> {
    return this.#nstart.run(this.#withMessageId((messageId, subscriber) => {
      const frame = encodeDatagram({ ...pdu, type: MessageType.CON, messageId });
      this.#track(messageId, subscriber, () => subscriber.complete());
      subscriber.add(
        retransmit({
          send: () => this.#config.send(frame),
          params: this.#config.params,
          scheduler: this.#config.scheduler,
          random: this.#config.random,
          info: { peer: this.#config.peer, token: info?.token, messageId },
        }).subscribe({
          next: (attempt) => this.#config.onEvent({ type: 'retransmitted', messageId, attempt }),
          error: (error) => subscriber.error(error),
        }),
      );
    }));
  }

  /** Sends `pdu` once as a NON (with a fresh message ID) and completes. */
  sendNonConfirmable(pdu: OutgoingPdu): Observable<never> {
    return this.#withMessageId((messageId, subscriber) => {
      this.#config.send(encodeDatagram({ ...pdu, type: MessageType.NON, messageId }));
      subscriber.complete();
    });
  }

  /** CoAP ping (RFC 7252 §4.3): an empty CON the peer answers with RST; emits the round trip in milliseconds. */
  ping(): Observable<number> {
    return this.#nstart.run(this.#withMessageId<number>((messageId, subscriber) => {
      const frame = emptyCon(messageId);
      const started = this.#config.scheduler.now();
      const done = (): void => {
        subscriber.next(this.#config.scheduler.now() - started);
        subscriber.complete();
      };
      this.#track(messageId, subscriber, done, done);
      subscriber.add(
        retransmit({
          send: () => this.#config.send(frame),
          params: this.#config.params,
          scheduler: this.#config.scheduler,
          random: this.#config.random,
          info: { peer: this.#config.peer, messageId },
        }).subscribe({ error: (error) => subscriber.error(error) }),
      );
    }));
  }

  /** Handles one datagram from the peer. Never throws. */
  receive(frame: Uint8Array): void {
    let pdu: CoapPdu;
    try {
      pdu = decodeDatagram(frame);
    } catch (error) {
      this.#rejectMalformed(frame, error as CoapDecodeError);
      return;
    }
    const { messageId } = pdu;
    switch (pdu.type) {
      case MessageType.ACK: {
        const outstanding = this.#outstanding.get(messageId);
        if (outstanding === undefined) return; // RFC 7252 §4.2: an unexpected ACK is silently ignored
        if (pdu.code !== 0) this.#config.route(pdu); // piggybacked response
        outstanding.acknowledged();
        return;
      }
      case MessageType.RST: {
        this.#outstanding.get(messageId)?.reset();
        return;
      }
      default:
        this.#receiveRequestOrResponse(pdu);
    }
  }

  #receiveRequestOrResponse(pdu: CoapPdu): void {
    const { messageId } = pdu;
    const confirmable = pdu.type === MessageType.CON;
    if (pdu.code === 0) {
      // RFC 7252 §4.3: an empty CON is a ping, answered with RST; an empty NON is ignored.
      if (confirmable) this.#config.send(reset(messageId));
      return;
    }
    const now = this.#config.scheduler.now();
    const seen = this.#dedup.lookup(messageId, now);
    if (seen.duplicate) {
      this.#config.onEvent({ type: 'duplicate', messageId });
      if (confirmable && seen.reply !== null) this.#config.send(seen.reply);
      return;
    }
    const accepted = this.#config.route(pdu);
    // RFC 7252 §4.2/§4.3: ACK what we process; RST a CON or NON we cannot use (unknown token).
    const reply = accepted ? (confirmable ? emptyAck(messageId) : null) : reset(messageId);
    if (!accepted) this.#config.onEvent({ type: 'rejected', messageId });
    if (reply !== null) this.#config.send(reply);
    this.#dedup.remember(messageId, now, confirmable ? this.#exchangeLifetime : this.#nonLifetime, reply);
  }

  #rejectMalformed(frame: Uint8Array, error: CoapDecodeError): void {
    this.#config.onEvent({ type: 'bad-packet', error });
    // RFC 7252 §4.2/§4.3: a CON or NON with a format error is rejected with RST when its MID is readable.
    const type = frame.length >= 4 ? (frame[0] >> 4) & 3 : -1;
    if (error.messageId !== undefined && frame[0] >> 6 === 1 && (type === MessageType.CON || type === MessageType.NON)) {
      this.#config.send(reset(error.messageId));
    }
  }

  #track(messageId: number, subscriber: { add(teardown: () => void): void; error(e: unknown): void }, onAck: () => void, onReset?: () => void): void {
    this.#outstanding.set(messageId, {
      acknowledged: onAck,
      reset: onReset ?? (() => subscriber.error(new CoapResetError('the peer answered the request with RST', { peer: this.#config.peer, messageId }))),
    });
    subscriber.add(() => this.#outstanding.delete(messageId));
  }

  /** Runs `start` with a fresh message ID, waiting (on the scheduler) while every MID is within its lifetime. */
  #withMessageId<T = never>(start: (messageId: number, subscriber: import('rxjs').Subscriber<T>) => void): Observable<T> {
    return new Observable<T>((subscriber) => {
      const attempt = (): void => {
        const { scheduler } = this.#config;
        const delay = this.#messageIds.delayUntilAvailable(scheduler.now());
        if (delay > 0) {
          this.#config.onEvent({ type: 'mid-exhausted', delay });
          subscriber.add(scheduler.schedule(attempt, delay));
          return;
        }
        const messageId = this.#messageIds.allocate(scheduler.now());
        try {
          start(messageId, subscriber);
        } catch (error) {
          subscriber.error(error);
        }
      };
      attempt();
    });
  }
}
