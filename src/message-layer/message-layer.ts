/**
 * The datagram message layer (RFC 7252 §4) for one peer: composes message IDs, NSTART, retransmission,
 * deduplication and the automatic ACK/RST replies. It knows nothing about tokens: every CON/NON from the peer
 * and every piggybacked response goes to `route`, the exchange layer's token matcher, which says whether the
 * message is wanted (ACK) or not (RST).
 *
 * This is the per-datagram hot path, so it is imperative inside (aiocoap `messagemanager.py`, not one
 * Observable per message): a CON is a small record, and ONE timer per peer, armed for the earliest deadline
 * and never cancelled early, drives every retransmission (an ACK just drops the record). With one request at a
 * time that is one timer per ACK_TIMEOUT instead of one per request. Every timer still comes from the injected
 * scheduler, so the RFC schedule is exact in virtual time.
 */
import { sameBytes } from '../codec/bytes';
import type { SchedulerLike, Subscription } from 'rxjs';
import { retransmitClock, type RetransmitClient, type RetransmitClock } from './retransmit-clock';
import { CoapDecodeError, CoapEncodeError, CoapResetError, CoapTimeoutError, type PeerAddress } from '../errors';
import { MessageType, tokenToHex, type CoapPdu, type OutgoingPdu } from '../codec/pdu';
import { decodeDatagram, encodeDatagram, UDP_HEADER_SIZE } from '../codec/udp-codec';
import { emptyAck, emptyCon, reset } from './acknowledge';
import { initialTimeout } from './backoff';
import { DeduplicationWindow } from './deduplicate';
import { MessageIdAllocator } from './message-id';
import { exchangeLifetime, nonLifetime, type TransmissionParameters } from './transmission-params';
import { formatPeer } from '../peer-address';

/** What the message layer reports (surfaced on the session's `events$`). */
export type MessageLayerEvent =
  | { readonly type: 'retransmitted'; readonly messageId: number; readonly attempt: number }
  | { readonly type: 'bad-packet'; readonly error: CoapDecodeError }
  | { readonly type: 'duplicate'; readonly messageId: number }
  | { readonly type: 'mid-exhausted'; readonly delay: number }
  | { readonly type: 'rejected'; readonly messageId: number }
  | { readonly type: 'mismatched-ack'; readonly messageId: number };

/**
 * How a send ends: exactly one is called, once, unless the send is cancelled first. The one definition for both
 * stacks (the reliable stack calls `acknowledged` once the request is written: RFC 8323 has no ACK).
 */
export interface SendCallbacks {
  /** The peer has the request: a CON was acknowledged (empty or piggybacked ACK, routed just before); a NON, or a
   * request on a reliable transport, was sent. */
  acknowledged(): void;
  /** RST (`CoapResetError`), timeout (`CoapTimeoutError`) or an encoding error. */
  failed(error: unknown): void;
}

/** Wiring of a {@link MessageLayer}. */
export interface MessageLayerConfig {
  /** Sends datagrams to the peer (the transport itself: an object, not a closure, per session). */
  readonly transport: {
    send(frame: Uint8Array): void;
    /** Multicast: replies (ACK, RST) go to the member that sent the message, not to the group. */
    reply?(frame: Uint8Array): void;
    /** Multicast: messages come from many members, de-duplicated per source (RFC 7252 §4.5 is per endpoint). */
    readonly multicast?: boolean;
    frameSource?(): PeerAddress;
  };
  /** The exchange layer's token matcher: `route` returns true when the message is for a live exchange. */
  readonly router: { route(pdu: CoapPdu): boolean };
  readonly params: TransmissionParameters;
  readonly scheduler: SchedulerLike;
  /** Jitter source, uniform in [0, 1). */
  readonly random: () => number;
  /** First message ID (RFC 7252 §4.4: random). */
  readonly firstMessageId: number;
  readonly onEvent: (event: MessageLayerEvent) => void;
  readonly peer: PeerAddress;
  /** Told when nothing is outstanding any more (time to drop idle state); an object, not a closure per session. */
  readonly idleListener?: { messagesIdle(): void };
  /**
   * The session, whose `maxPduSize()` (libcoap `coap_session_max_pdu_size`: path MTU less the security overhead
   * and the 4-byte header) is read per message: a larger message fails at once with `CoapEncodeError` instead
   * of being lost by the socket (Node reports no EMSGSIZE for a send without callback). @defaultValue no limit
   */
  readonly sizeLimit?: { maxPduSize(): number };
  /** Most message IDs remembered for deduplication. @defaultValue 4096 */
  readonly dedupCapacity?: number;
}

const QUEUED = 0;
const OUTSTANDING = 1;
const DONE = 2;

/** One CON (or ping) from queueing to its end. */
interface Job {
  state: number;
  readonly pdu: OutgoingPdu | null; // null: ping (empty CON)
  readonly callbacks: SendCallbacks;
  /** RST ends a ping successfully. */
  readonly resetIsSuccess: boolean;
  messageId: number;
  frame: Uint8Array | null;
  attempt: number;
  /** Current timeout (doubles after each retransmission). */
  timeout: number;
  deadline: number;
  started: number;
}

/**
 * Multicast sessions' deduplication windows, one per member, by message layer: kept aside (multicast sessions
 * are few) so that no unicast session pays a field for them (heap per idle session).
 */
const memberWindows = new WeakMap<MessageLayer, Map<string, DeduplicationWindow>>();

/** Reliability for one datagram peer. */
export class MessageLayer implements RetransmitClient {
  readonly #config: MessageLayerConfig;
  readonly #messageIds: MessageIdAllocator;
  /** Created with the first CON/NON from the peer. */
  #dedup: DeduplicationWindow | undefined;
  /** Outstanding CONs by message ID; null once idle (an idle session holds no hash table). */
  #outstanding: Map<number, Job> | null = null;
  /**
   * The first outstanding CON sits in a slot of its own, the rest in the Map: with one CON at a time (NSTART 1,
   * lockstep) no hash table insert/delete happens per message.
   */
  #slot: Job | null = null;
  /** CONs waiting for an NSTART slot or a message ID (cancelled ones are skipped when reached). */
  #queue: Job[] | undefined;
  /** Wakes this layer when a retransmission is due (one timer for every layer on the scheduler). */
  readonly #clock: RetransmitClock;
  #midTimer: Subscription | undefined;
  #midWaiters: (() => void)[] | undefined;
  #closed = false;
  readonly #exchangeLifetime: number;
  readonly #nonLifetime: number;

  constructor(config: MessageLayerConfig) {
    this.#config = config;
    this.#clock = retransmitClock(config.scheduler);
    this.#exchangeLifetime = exchangeLifetime(config.params);
    this.#nonLifetime = nonLifetime(config.params);
    this.#messageIds = new MessageIdAllocator(config.firstMessageId, this.#exchangeLifetime);
  }

  /**
   * Sends `pdu` as a CON once an NSTART slot (RFC 7252 §4.7) and a message ID are free, and retransmits it until
   * an ACK or RST comes or MAX_RETRANSMIT retransmissions have timed out (RFC 7252 §4.2). Returns the canceller.
   */
  sendConfirmable(pdu: OutgoingPdu, callbacks: SendCallbacks): () => void {
    return this.#enqueue({ state: QUEUED, pdu, callbacks, resetIsSuccess: false, messageId: -1, frame: null, attempt: 0, timeout: 0, deadline: 0, started: 0 });
  }

  /** CoAP ping (RFC 7252 §4.3): an empty CON, retransmitted like any CON; the RST (or ACK) ends it. */
  ping(callbacks: SendCallbacks): () => void {
    return this.#enqueue({ state: QUEUED, pdu: null, callbacks, resetIsSuccess: true, messageId: -1, frame: null, attempt: 0, timeout: 0, deadline: 0, started: 0 });
  }

  /** Sends `pdu` once as a NON with a fresh message ID; `acknowledged` is called once it is sent. */
  sendNonConfirmable(pdu: OutgoingPdu, callbacks: SendCallbacks): () => void {
    let cancelled = false;
    const send = (): void => {
      if (cancelled || this.#closed) return;
      const messageId = this.#allocate(send, this.#config.scheduler.now());
      if (messageId < 0) return;
      let frame: Uint8Array;
      try {
        frame = this.#checkSize(encodeDatagram({ type: MessageType.NON, code: pdu.code, messageId, token: pdu.token, options: pdu.options, payload: pdu.payload }));
      } catch (error) {
        callbacks.failed(error);
        return;
      }
      this.#config.transport.send(frame);
      callbacks.acknowledged();
    };
    send();
    return () => {
      cancelled = true;
    };
  }

  /** Handles one datagram from the peer. Never throws. */
  receive(frame: Uint8Array): void {
    if (this.#closed) return;
    let pdu: CoapPdu;
    try {
      pdu = decodeDatagram(frame);
    } catch (error) {
      this.#rejectMalformed(frame, error as CoapDecodeError);
      return;
    }
    const type = pdu.type;
    if (type === MessageType.ACK || type === MessageType.RST) {
      const job = this.#slot !== null && this.#slot.messageId === pdu.messageId ? this.#slot : this.#outstanding?.get(pdu.messageId);
      if (job === undefined) return; // RFC 7252 §4.2: an unexpected ACK (or RST) is silently ignored
      if (type === MessageType.ACK) {
        if (pdu.code !== 0) {
          // RFC 7252 §5.3.2: a piggybacked response matches the request by message ID AND token. Anything else
          // (a spoofed or confused ACK) is ignored: the CON stays outstanding and the real ACK still counts.
          if (job.pdu === null || !sameBytes(pdu.token, job.pdu.token)) {
            this.#config.onEvent({ type: 'mismatched-ack', messageId: pdu.messageId });
            return;
          }
          this.#route(pdu); // the exchange gets the response (or rejects it: it fails itself then)
        }
        this.#finish(job);
        job.callbacks.acknowledged();
      } else {
        this.#finish(job);
        if (job.resetIsSuccess) job.callbacks.acknowledged();
        else job.callbacks.failed(new CoapResetError('the peer answered the request with RST', { peer: this.#config.peer, messageId: pdu.messageId }));
      }
      return;
    }
    this.#receiveRequestOrResponse(pdu);
  }

  /**
   * Hands a response to the exchange layer. The exchanges guard their own handlers; this is the last line:
   * nothing from the network may throw out of this layer (a throw here would reach the socket listener).
   */
  #route(pdu: CoapPdu): boolean {
    try {
      return this.#config.router.route(pdu);
    } catch (error) {
      this.#config.onEvent({
        type: 'bad-packet',
        error: error instanceof CoapDecodeError ? error : new CoapDecodeError('BAD_FRAME', `the message could not be processed: ${(error as Error)?.message ?? error}`, { messageId: pdu.messageId }),
      });
      return false;
    }
  }

  /** The frame, or `CoapEncodeError` when it exceeds the largest datagram of the path (RFC 7252 §4.6). */
  #checkSize(frame: Uint8Array): Uint8Array {
    const sizeLimit = this.#config.sizeLimit;
    if (sizeLimit === undefined) return frame;
    const limit = sizeLimit.maxPduSize();
    if (frame.length - UDP_HEADER_SIZE > limit) {
      throw new CoapEncodeError(
        `a message of ${frame.length - UDP_HEADER_SIZE} bytes (plus the 4-byte header) is too large for the session's maximum PDU size of ${limit} bytes: send the body block-wise or raise the MTU`,
      );
    }
    return frame;
  }

  /** Stops every timer and forgets every message (the connection is gone). Callbacks are not called. */
  close(): void {
    this.#closed = true;
    this.#clock.close(this);
    this.#midTimer?.unsubscribe();
    this.#midTimer = undefined;
    this.#midWaiters = undefined;
    if (this.#slot !== null) this.#slot.state = DONE;
    this.#slot = null;
    for (const job of this.#outstanding?.values() ?? []) job.state = DONE;
    this.#outstanding = null;
    for (const job of this.#queue ?? []) job.state = DONE;
    this.#queue = undefined;
  }

  #enqueue(job: Job): () => void {
    if (this.#outstandingCount() < this.#config.params.nstart && !this.#hasQueued()) this.#start(job);
    else (this.#queue ??= []).push(job);
    return () => {
      if (job.state === OUTSTANDING) this.#finish(job);
      job.state = DONE; // a queued job is skipped when the queue reaches it
    };
  }

  #outstandingCount(): number {
    return (this.#slot === null ? 0 : 1) + (this.#outstanding === null ? 0 : this.#outstanding.size);
  }

  #hasQueued(): boolean {
    const queue = this.#queue;
    if (queue === undefined) return false;
    while (queue.length > 0 && queue[0].state !== QUEUED) queue.shift();
    return queue.length > 0;
  }

  #start(job: Job): void {
    if (this.#closed) return;
    const now = this.#config.scheduler.now();
    const messageId = this.#allocate(null, now);
    if (messageId < 0) {
      (this.#queue ??= []).unshift(job);
      return;
    }
    const { params } = this.#config;
    let frame: Uint8Array;
    try {
      const pdu = job.pdu;
      frame =
        pdu === null
          ? emptyCon(messageId)
          : this.#checkSize(encodeDatagram({ type: MessageType.CON, code: pdu.code, messageId, token: pdu.token, options: pdu.options, payload: pdu.payload }));
    } catch (error) {
      job.state = DONE;
      job.callbacks.failed(error);
      return;
    }
    job.state = OUTSTANDING;
    job.messageId = messageId;
    job.frame = frame;
    job.started = now;
    // RFC 7252 §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR].
    job.timeout = initialTimeout(params, this.#config.random);
    job.deadline = now + job.timeout;
    if (this.#slot === null) this.#slot = job;
    else (this.#outstanding ??= new Map()).set(messageId, job);
    this.#config.transport.send(frame);
    this.#clock.add(this, job.deadline);
  }

  #finish(job: Job): void {
    if (job.state !== OUTSTANDING) return;
    job.state = DONE;
    job.frame = null;
    if (this.#slot === job) this.#slot = null;
    else this.#outstanding!.delete(job.messageId);
    this.#drain();
    if (this.#slot === null && (this.#outstanding === null || this.#outstanding.size === 0) && !this.#hasQueued()) this.#goIdle();
  }

  /**
   * Nothing outstanding: leave the clock and drop the tables now, not when the clock next wakes (heap per idle
   * session is measured right after its last exchange).
   */
  #goIdle(): void {
    if (!this.#clock.remove(this)) return;
    this.#outstanding = null;
    this.#config.idleListener?.messagesIdle();
  }

  #drain(): void {
    const nstart = this.#config.params.nstart;
    while (this.#outstandingCount() < nstart && this.#hasQueued()) {
      const job = this.#queue!.shift()!;
      this.#start(job);
      if (job.state === QUEUED) return; // waiting for a message ID
    }
  }

  /**
   * A fresh message ID, or -1 after arranging a retry for when one is free (RFC 7252 §4.4 back-pressure):
   * `retry` for a NON, the queue drain for CONs (null).
   */
  #allocate(retry: (() => void) | null, now: number): number {
    const { scheduler } = this.#config;
    const messageId = this.#messageIds.allocate(now);
    if (messageId >= 0) return messageId;
    const delay = this.#messageIds.delayUntilAvailable(now);
    this.#config.onEvent({ type: 'mid-exhausted', delay });
    if (retry !== null) (this.#midWaiters ??= []).push(retry);
    if (this.#midTimer === undefined) {
      this.#midTimer = scheduler.schedule(() => {
        this.#midTimer = undefined;
        const waiters = this.#midWaiters ?? [];
        this.#midWaiters = undefined;
        for (const waiter of waiters) waiter();
        this.#drain();
      }, delay);
    }
    return -1;
  }

  /** @internal The clock woke: retransmits or fails what is due, and rejoins the clock for what is left. */
  retransmitDue(now: number): void {
    // Out of the clock while this runs (the clock took it out, as before with the timer lapsed): a CON failed here
    // that leaves the layer idle does not drop the tables in the middle of the walk. Back in at the end when
    // something is left.
    if (this.#closed) return;
    const params = this.#config.params;
    // The slot first, then the Map (a copy: callbacks may start queued CONs while this runs).
    const jobs: Job[] = this.#outstanding === null ? [] : [...this.#outstanding.values()];
    if (this.#slot !== null) jobs.unshift(this.#slot);
    for (const job of jobs) {
      if (job.state !== OUTSTANDING) continue;
      if (job.deadline <= now) {
        if (job.attempt >= params.maxRetransmit) {
          this.#finish(job);
          job.callbacks.failed(
            new CoapTimeoutError(`no acknowledgement after ${job.attempt + 1} transmissions`, {
              peer: this.#config.peer,
              token: job.pdu === null ? undefined : tokenToHex(job.pdu.token),
              messageId: job.messageId,
              attempts: job.attempt + 1,
              elapsed: now - job.started,
            }),
          );
          continue;
        }
        // RFC 7252 §4.2: retransmit and double the timeout.
        job.attempt++;
        job.timeout *= 2;
        job.deadline += job.timeout;
        this.#config.transport.send(job.frame!);
        this.#config.onEvent({ type: 'retransmitted', messageId: job.messageId, attempt: job.attempt });
      }
    }
    if (this.#closed) return;
    // The earliest deadline left, over what is outstanding now (CONs the callbacks above started included).
    let next = Infinity;
    if (this.#slot !== null && this.#slot.state === OUTSTANDING && this.#slot.deadline < next) next = this.#slot.deadline;
    if (this.#outstanding !== null) for (const job of this.#outstanding.values()) if (job.state === OUTSTANDING && job.deadline < next) next = job.deadline;
    if (next < Infinity) this.#clock.add(this, next);
    else if (this.#outstandingCount() === 0) {
      // Nothing outstanding any more: the peer is idle. Drop the table and let the layers above do the same.
      this.#outstanding = null;
      this.#config.idleListener?.messagesIdle();
    }
  }

  #receiveRequestOrResponse(pdu: CoapPdu): void {
    const { messageId } = pdu;
    const confirmable = pdu.type === MessageType.CON;
    if (pdu.code === 0) {
      // RFC 7252 §4.3: an empty CON is a ping, answered with RST; an empty NON is ignored.
      if (confirmable) this.#reply(reset(messageId));
      return;
    }
    const now = this.#config.scheduler.now();
    const dedup = this.#config.transport.multicast === true ? this.#sourceWindow() : (this.#dedup ??= new DeduplicationWindow(this.#config.dedupCapacity));
    if (dedup.isDuplicate(messageId, now)) {
      this.#config.onEvent({ type: 'duplicate', messageId });
      const reply = confirmable ? dedup.replyOf(messageId) : null;
      if (reply !== null) this.#reply(reply);
      return;
    }
    const accepted = this.#route(pdu);
    // RFC 7252 §4.2/§4.3: ACK what we process; RST a CON or NON we cannot use (unknown token).
    const reply = accepted ? (confirmable ? emptyAck(messageId) : null) : reset(messageId);
    if (!accepted) this.#config.onEvent({ type: 'rejected', messageId });
    if (reply !== null) this.#reply(reply);
    dedup.remember(messageId, now, confirmable ? this.#exchangeLifetime : this.#nonLifetime, reply);
  }

  #rejectMalformed(frame: Uint8Array, error: CoapDecodeError): void {
    this.#config.onEvent({ type: 'bad-packet', error });
    // RFC 7252 §4.2/§4.3: a CON or NON with a format error is rejected with RST when its MID is readable.
    const type = frame.length >= 4 ? (frame[0] >> 4) & 3 : -1;
    if (error.messageId !== undefined && frame[0] >> 6 === 1 && (type === MessageType.CON || type === MessageType.NON)) {
      this.#reply(reset(error.messageId));
    }
  }

  /** An ACK or RST to whoever sent the message being handled (the peer; on multicast, that member). */
  #reply(frame: Uint8Array): void {
    const transport = this.#config.transport;
    if (transport.reply !== undefined) transport.reply(frame);
    else transport.send(frame);
  }

  /** The source of the message being handled: on multicast the member that sent it, else the peer. */
  messageSource(): PeerAddress {
    return this.#config.transport.frameSource?.() ?? this.#config.peer;
  }

  /** Multicast: the deduplication window of the member that sent the message being handled. */
  #sourceWindow(): DeduplicationWindow {
    const key = formatPeer(this.messageSource());
    let windows = memberWindows.get(this);
    if (windows === undefined) memberWindows.set(this, (windows = new Map()));
    let window = windows.get(key);
    if (window === undefined) {
      // Bounded: a flood of sources evicts the oldest window (members are few; strangers are dropped anyway).
      if (windows.size >= 256) windows.delete(windows.keys().next().value as string);
      windows.set(key, (window = new DeduplicationWindow(this.#config.dedupCapacity)));
    }
    return window;
  }
}

