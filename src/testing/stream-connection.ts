/**
 * One TCP, TLS, WS or WSS connection of the test peer, speaking RFC 8323: the peer's CSM first, requests held
 * until the client's CSM has arrived (as libcoap does), Ping/Pong, Release and Abort both ways, notifications as
 * frames, Abort on a malformed stream (or WebSocket message), and the stream faults of {@link TestStreamFault}.
 * The wire (`peer-wire.ts`) is a socket with §3.2 framing or a WebSocket with §4.2 messages.
 */
import type { PeerWire } from './peer-wire';
import { SignalOption, isCritical } from '../codec/option-numbers';
import { optionsAndPayloadSize, tokenExtensionSize } from '../codec/options';
import { decodeUint, encodeString, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, SignalCode, createPdu, getOption, isRequestCode, type CoapOption, type CoapPdu } from '../codec/pdu';
import { DEFAULT_MAX_MESSAGE_SIZE, StreamDeframer, encodeStreamFrame } from '../codec/stream-codec';
import { decodeWsMessage, encodeWsMessage } from '../codec/ws-codec';
import { CoapDecodeError, type PeerAddress } from '../errors';
import type { ReceivedPdu, SentPdu, TestConnection, TestStreamTransport } from './test-peer-api';
import { isSuppressed, type Observer, type ObserverChannel, type PeerLog, type RequestClient, type ResponseParts } from './test-peer-core';
import type { RequestFaults, StreamFaults } from './test-peer-faults';
import type { ObserverRegistry } from './test-peer-observers';
import type { ResourceServer } from './test-peer-resources';
import type { PeerTimers } from './test-peer-timers';
import type { TestResource } from './test-resource';

/** What a connection shares with the rest of the peer. */
export interface StreamContext {
  readonly log: PeerLog;
  readonly timers: PeerTimers;
  readonly resources: ResourceServer;
  readonly observers: ObserverRegistry;
  readonly faults: RequestFaults;
  readonly streamFaults: StreamFaults;
  /** Max-Message-Size of the peer's CSM, and the largest frame it accepts. */
  readonly maxMessageSize: number;
  /** Block-Wise-Transfer in the peer's CSM. */
  readonly blockWiseTransfer: boolean;
  readonly isClosed: () => boolean;
}

/** How a response goes out: normally, half of it before the connection drops, or padded past the client's limit. */
type ResponseMode = { readonly kind: 'normal' } | { readonly kind: 'drop-mid' } | { readonly kind: 'oversize'; readonly by: number };

const NORMAL: ResponseMode = { kind: 'normal' };
/** Requests kept while waiting for the client's CSM, and frames while the peer's own CSM is held back. */
const MAX_QUEUED = 1000;
/** Room left in a frame for header, token and options when the block size is chosen from Max-Message-Size. */
const FRAME_HEADROOM = 128;
/** Options a CSM may carry (RFC 8323 §5.3, RFC 8974 §2.3): all elective. */
const CSM_OPTIONS: ReadonlySet<number> = new Set([SignalOption.MaxMessageSize, SignalOption.BlockWiseTransfer, SignalOption.ExtendedTokenLength]);

/** WebSocket message length (RFC 8323 §4.2): no length field. */
function webSocketSizeOf(tokenLength: number, body: number): number {
  return 2 + tokenExtensionSize(tokenLength) + tokenLength + body;
}

/** Frame length for a token length and a body (options, marker, payload) length. */
function frameSizeOf(tokenLength: number, body: number): number {
  const lengthExtension = body < 13 ? 0 : body < 269 ? 1 : body < 65805 ? 2 : 4;
  return 2 + lengthExtension + tokenExtensionSize(tokenLength) + tokenLength + body;
}

/** A TCP/TLS (or WS/WSS, on a WebSocket wire) connection: implements {@link TestConnection} for users and delivers its observers' notifications. */
export class StreamConnection implements TestConnection, ObserverChannel {
  readonly id: number;
  readonly transport: TestStreamTransport;
  readonly remote: PeerAddress;
  readonly pskIdentity: string | undefined;
  readonly authorized: boolean;
  clientCsm: { maxMessageSize: number; blockWiseTransfer: boolean } | undefined;
  answered = 0;

  readonly #wire: PeerWire;
  readonly #context: StreamContext;
  readonly #key: string;
  /** Stream framing only: WebSocket messages need no deframing. */
  readonly #deframer: StreamDeframer | undefined;
  readonly #encode: (pdu: CoapPdu) => Uint8Array;
  readonly #sizeOf: (tokenLength: number, body: number) => number;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Requests that came before the client's CSM. */
  readonly #held: CoapPdu[] = [];
  /** Frames waiting for the peer's own CSM to go out first (RFC 8323 §5.3). */
  readonly #outbox: { frame: Uint8Array; pdu: CoapPdu }[] = [];
  readonly #pings: { resolve: (pong: CoapPdu) => void; reject: (error: Error) => void }[] = [];
  readonly #onClosed: (connection: StreamConnection) => void;
  #client: RequestClient;
  #csmSent = false;
  #stalled = false;
  /** No more input is processed: closed, closing after Abort, or released by the client. */
  #done = false;
  #closed = false;

  constructor(
    wire: PeerWire,
    context: StreamContext,
    init: { id: number; transport: TestStreamTransport; pskIdentity?: string; authorized?: boolean },
    onClosed: (connection: StreamConnection) => void,
  ) {
    this.#wire = wire;
    this.#context = context;
    this.#onClosed = onClosed;
    this.id = init.id;
    this.transport = init.transport;
    this.pskIdentity = init.pskIdentity;
    this.authorized = init.authorized ?? false;
    this.remote = wire.remote;
    this.#key = `${init.transport}#${init.id}`;
    const stream = wire.framing === 'stream';
    this.#deframer = stream ? new StreamDeframer({ maxMessageSize: context.maxMessageSize }) : undefined;
    this.#encode = stream ? encodeStreamFrame : encodeWsMessage;
    this.#sizeOf = stream ? frameSizeOf : webSocketSizeOf;
    this.#client = { key: this.#key, source: this.remote, transport: init.transport, channel: this };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts reading and sends the CSM (at once, later, or never, as the stream fault says). */
  start(): void {
    this.#wire.start({
      data: (bytes) => this.#onData(bytes),
      refused: (why) => {
        if (this.#done || this.#context.isClosed()) return;
        this.#context.log.stats.malformed++;
        this.abort(why);
      },
      close: () => this.#onClose(),
    });
    const faults = this.#context.streamFaults;
    const plan = faults.csmPlan(this.transport);
    if (plan === 0) this.#sendCsm();
    else if (plan !== 'never') this.#setTimer(() => this.#sendCsm(), plan);
    if (faults.stallsAt(this.transport, 0)) this.#stalled = true;
  }

  // ---- TestConnection ------------------------------------------------------------------------

  release(options: { readonly alternativeAddress?: string; readonly holdOff?: number } = {}): void {
    const signal: CoapOption[] = [];
    // RFC 8323 §5.5: Alternative-Address (2, a URI authority) and Hold-Off (4, seconds) are Release's options.
    if (options.alternativeAddress !== undefined) signal.push({ number: SignalOption.AlternativeAddress, value: encodeString(options.alternativeAddress) });
    if (options.holdOff !== undefined) signal.push({ number: SignalOption.HoldOff, value: encodeUint(options.holdOff) });
    this.#writeNow(createPdu({ code: SignalCode.Release, options: signal }));
  }

  abort(diagnostic = 'aborted by the test peer', badCsmOption?: number): void {
    if (this.#done) return;
    const signal: CoapOption[] = badCsmOption === undefined ? [] : [{ number: SignalOption.BadCsmOption, value: encodeUint(badCsmOption) }];
    // RFC 8323 §5.6: Abort, with a diagnostic payload, and the sender closes the connection at once.
    this.#writeNow(createPdu({ code: SignalCode.Abort, options: signal, payload: new TextEncoder().encode(diagnostic) }));
    this.#done = true;
    this.#wire.endThenDestroy();
  }

  drop(): void {
    this.#done = true;
    this.#wire.destroy();
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#wire.end();
  }

  ping(custody = false): Promise<CoapPdu> {
    if (this.#closed) return Promise.reject(new Error('the connection is closed'));
    return new Promise((resolve, reject) => {
      this.#pings.push({ resolve, reject });
      this.#write(createPdu({ code: SignalCode.Ping, options: custody ? [{ number: SignalOption.Custody, value: EMPTY_BYTES }] : [] }));
    });
  }

  /** Closes at once (the peer is closing). */
  destroy(): void {
    this.#done = true;
    this.#wire.destroy();
  }

  // ---- receiving -----------------------------------------------------------------------------

  #onData(bytes: Uint8Array): void {
    if (this.#done || this.#context.isClosed()) return;
    let pdus: CoapPdu[];
    try {
      pdus = this.#deframer !== undefined ? this.#deframer.push(bytes) : [this.#decodeWsMessage(bytes)];
    } catch (error) {
      this.#context.log.stats.malformed++;
      // RFC 8323 §5.6: a stream that cannot be parsed is aborted with a diagnostic, then closed.
      this.abort(error instanceof CoapDecodeError ? error.message : 'malformed frame');
      return;
    }
    // Everything answered for one chunk goes out in one write.
    this.#wire.cork();
    try {
      for (const pdu of pdus) {
        if (this.#done) break;
        this.#onPdu(pdu);
      }
    } finally {
      this.#wire.uncork();
    }
  }

  /** RFC 8323 §4.2 / §5.3.1: one WebSocket message, no larger than the peer's Max-Message-Size. */
  #decodeWsMessage(message: Uint8Array): CoapPdu {
    const limit = this.#context.maxMessageSize;
    if (message.length > limit) throw new CoapDecodeError('MESSAGE_TOO_LARGE', `WebSocket message of ${message.length} bytes exceeds the maximum message size ${limit}`, { fatal: true });
    return decodeWsMessage(message);
  }

  #onPdu(pdu: CoapPdu): void {
    const log = this.#context.log;
    const received: ReceivedPdu = { ...pdu, size: this.#sizeOf(pdu.token.length, optionsAndPayloadSize(pdu.options, pdu.payload)), source: this.remote, transport: this.transport };
    log.record(received);
    const code = pdu.code;
    if (isRequestCode(code)) {
      log.emit('request', received);
      if (this.clientCsm !== undefined) this.#onRequest(pdu);
      // libcoap holds every request until the client's CSM has arrived (RFC 8323 §5.3: the CSM comes first).
      else if (this.#held.length < MAX_QUEUED) this.#held.push(pdu);
      return;
    }
    switch (code) {
      case SignalCode.CSM:
        this.#onCsm(pdu);
        return;
      case SignalCode.Ping: {
        // RFC 8323 §5.4: a Pong with the Ping's token, echoing Custody.
        if (this.#stalled) return;
        const custody = getOption(pdu, SignalOption.Custody);
        this.#write(createPdu({ code: SignalCode.Pong, token: pdu.token, options: custody === undefined ? [] : [{ number: SignalOption.Custody, value: EMPTY_BYTES }] }));
        return;
      }
      case SignalCode.Pong:
        this.#pings.shift()?.resolve(pdu);
        return;
      case SignalCode.Release:
        // RFC 8323 §5.5: the sender of Release leaves it to this side to close, which it does once its output is flushed.
        this.#done = true;
        this.#wire.end();
        return;
      case SignalCode.Abort:
        // RFC 8323 §5.6: the client has given up on the connection.
        this.drop();
        return;
      default:
        // Responses we did not ask for, empty messages (RFC 8323 §3.4) and unknown signals are ignored.
        return;
    }
  }

  #onCsm(pdu: CoapPdu): void {
    for (const option of pdu.options) {
      // RFC 8323 §5.3: an unknown critical option in a CSM is answered with Abort and Bad-CSM-Option.
      if (isCritical(option.number) && !CSM_OPTIONS.has(option.number)) {
        this.abort(`unsupported critical CSM option ${option.number}`, option.number);
        return;
      }
    }
    const previous = this.clientCsm;
    const mmsValue = getOption(pdu, SignalOption.MaxMessageSize);
    const maxMessageSize = mmsValue === undefined ? (previous?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE) : decodeUint(mmsValue);
    const blockWiseTransfer = (previous?.blockWiseTransfer ?? false) || getOption(pdu, SignalOption.BlockWiseTransfer) !== undefined;
    this.clientCsm = { maxMessageSize, blockWiseTransfer };
    // What the client accepts decides the largest block sent to it (RFC 8323 §5.3.1), and BERT (§6).
    let maxSzx = 6;
    while (maxSzx > 0 && (16 << maxSzx) + FRAME_HEADROOM > maxMessageSize) maxSzx--;
    const bertUnits = Math.floor((maxMessageSize - FRAME_HEADROOM) / 1024);
    this.#client = {
      key: this.#key,
      source: this.remote,
      transport: this.transport,
      channel: this,
      maxSzx,
      bertUnits: blockWiseTransfer && this.#context.blockWiseTransfer && bertUnits >= 2 ? bertUnits : undefined,
    };
    const held = this.#held.splice(0);
    for (const request of held) {
      if (this.#done) break;
      this.#onRequest(request);
    }
  }

  #onRequest(pdu: CoapPdu): void {
    if (this.#stalled || this.#done) return;
    const action = this.#context.streamFaults.onRequest(this.transport, this.answered, pdu);
    let mode = NORMAL;
    if (action !== undefined) {
      switch (action.kind) {
        case 'stall':
          this.#stalled = true;
          return;
        case 'abort':
          this.abort(action.diagnostic, action.badCsmOption);
          return;
        case 'release':
          this.release(action);
          return;
        case 'drop':
          if (!action.midResponse) {
            this.drop();
            return;
          }
          mode = { kind: 'drop-mid' };
          break;
        case 'oversize':
          mode = { kind: 'oversize', by: action.by };
          break;
      }
    }
    const interception = this.#context.faults.intercept(pdu);
    if (interception === undefined) this.#answer(pdu, mode);
    else if (interception.kind === 'drop') this.#context.log.stats.dropped++;
    else this.#setTimer(() => this.#answer(pdu, mode), interception.delay);
  }

  #answer(pdu: CoapPdu, mode: ResponseMode): void {
    if (this.#done || this.#stalled) return;
    this.#context.log.stats.requests++;
    const outcome = this.#context.resources.respond(pdu, this.#client);
    // No RST on a stream (RFC 8323 §2): RequestFaults never answers 'reset' here.
    if (outcome === 'reset') return;
    if ('kind' in outcome) {
      this.#setTimer(() => this.#respond(pdu, outcome.produce(), mode), outcome.delay);
      return;
    }
    this.#respond(pdu, outcome, mode);
  }

  #respond(request: CoapPdu, parts: ResponseParts, mode: ResponseMode): void {
    if (this.#done || this.#stalled) return;
    // RFC 7967 §2: No-Response suppresses the response on any transport.
    if (!isSuppressed(request, parts.code)) {
      let response = createPdu({ code: parts.code, token: request.token, options: parts.options, payload: parts.payload });
      if (mode.kind === 'oversize') response = this.#padded(response, mode.by);
      if (mode.kind === 'drop-mid') {
        this.#done = true;
        this.#wire.writeHalfThenDestroy(this.#encode(response));
        return;
      }
      this.#write(response);
    }
    this.answered++;
    if (this.#context.streamFaults.stallsAt(this.transport, this.answered)) this.#stalled = true;
  }

  /** The response with its payload grown so the frame is (at least) `by` bytes larger than the client's Max-Message-Size. */
  #padded(response: CoapPdu, by: number): CoapPdu {
    const target = (this.clientCsm?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE) + by;
    const optionsSize = optionsAndPayloadSize(response.options, EMPTY_BYTES);
    const sizeWith = (payloadLength: number): number => this.#sizeOf(response.token.length, optionsSize + (payloadLength > 0 ? 1 + payloadLength : 0));
    let length = response.payload.length;
    // The length field grows with the payload: grow past the target, then back to the smallest frame that reaches it.
    while (sizeWith(length) < target) length += target - sizeWith(length);
    while (length > response.payload.length && sizeWith(length - 1) >= target) length--;
    const payload = new Uint8Array(length).fill(0x78);
    payload.set(response.payload);
    return { ...response, payload };
  }

  // ---- notifications (ObserverChannel) -------------------------------------------------------

  deliver(observer: Observer, parts: ResponseParts, _resource: TestResource | undefined): void {
    if (this.#done || this.#stalled) return;
    observer.notifications++;
    this.#context.log.stats.notifications++;
    // RFC 8323 §7: no CON/NON on a stream; a notification is a response frame with the registration's token.
    this.#write(createPdu({ code: parts.code, token: observer.token, options: parts.options, payload: parts.payload }));
  }

  removed(): void {
    // Nothing is pending per observer on a reliable transport.
  }

  // ---- sending -------------------------------------------------------------------------------

  #sendCsm(): void {
    if (this.#csmSent || this.#closed) return;
    const options: CoapOption[] = [{ number: SignalOption.MaxMessageSize, value: encodeUint(this.#context.maxMessageSize) }];
    // RFC 8323 §5.3.2: Block-Wise-Transfer says this side does block-wise transfers and BERT.
    if (this.#context.blockWiseTransfer) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
    this.#writeNow(createPdu({ code: SignalCode.CSM, options }));
    this.#csmSent = true;
    for (const { frame, pdu } of this.#outbox.splice(0)) this.#transmit(frame, pdu);
  }

  /** Sends after the peer's CSM (held back until then). */
  #write(pdu: CoapPdu): void {
    if (this.#closed) return;
    const frame = this.#encode(pdu);
    if (this.#csmSent) this.#transmit(frame, pdu);
    else if (this.#outbox.length < MAX_QUEUED) this.#outbox.push({ frame, pdu });
  }

  /** Sends at once, CSM or not: the peer's own CSM, and Release/Abort from faults. */
  #writeNow(pdu: CoapPdu): void {
    if (this.#closed) return;
    this.#transmit(this.#encode(pdu), pdu);
  }

  #transmit(frame: Uint8Array, pdu: CoapPdu): void {
    if (!this.#wire.writable) return;
    this.#wire.write(frame);
    const log = this.#context.log;
    if (log.has('sent')) {
      const sent: SentPdu = { ...pdu, size: frame.length, destination: this.remote, transport: this.transport };
      log.emit('sent', sent);
    }
  }

  // ---- lifetime ------------------------------------------------------------------------------

  #setTimer(work: () => void, delay: number): void {
    const timer = this.#context.timers.set(() => {
      this.#timers.delete(timer);
      if (!this.#closed) work();
    }, delay);
    this.#timers.add(timer);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#done = true;
    for (const timer of this.#timers) this.#context.timers.clear(timer);
    this.#timers.clear();
    this.#held.length = 0;
    this.#outbox.length = 0;
    // RFC 8323 §7.1: observations end with the connection.
    this.#context.observers.removeClient(this.#key);
    const error = new Error('the connection closed before the Pong');
    for (const ping of this.#pings.splice(0)) ping.reject(error);
    this.#onClosed(this);
  }
}

