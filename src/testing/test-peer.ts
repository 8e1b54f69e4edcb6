/**
 * A CoAP server on loopback UDP for specs, examples and users' tests (`rxcoap/testing`): scripted
 * resources, `/.well-known/core`, Observe (RFC 7641), block-wise transfers (RFC 7959), message
 * deduplication and separate responses (RFC 7252), and faults to inject (drop, delay, 5.03, RST,
 * Echo challenges of RFC 9175 §2).
 *
 * Node-only (`node:dgram`). Unlike the library's protocol layers it uses real timers, since it is a
 * server run beside the code under test; `close()` clears every timer and closes the socket.
 */
import { sameBytes } from '../codec/bytes';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { CoapDecodeError, type PeerAddress } from '../errors';
import { decodeBlock, encodeBlock, sizeToSzx, type BlockValue } from '../codec/block';
import { OptionNumber, isCritical } from '../codec/option-numbers';
import { decodeString, decodeUint, encodeUint } from '../codec/option-values';
import {
  EMPTY_BYTES,
  EMPTY_CODE,
  Method,
  MessageType,
  ResponseCode,
  createPdu,
  getOption,
  getOptions,
  isRequestCode,
  tokenToHex,
  withOption,
  type CoapOption,
  type CoapPdu,
} from '../codec/pdu';
import { decodeDatagram, encodeDatagram } from '../codec/udp-codec';
import { Block1Assembler } from './block1-assembler';
import { bodyEtag, sliceBlock2 } from './block2-slice';
import { assertLoopback, bindLoopbackSocket, formatAuthority, socketTypeFor, type LoopbackHost } from './loopback';
import { seededRandom, type RandomSource } from './seeded-random';
import {
  formatLinkFormat,
  normalizePath,
  type NotifyType,
  type TestHandler,
  type TestReply,
  type TestRequest,
  type TestResource,
  type TestResponse,
} from './test-resource';

/** Options of {@link startTestPeer}. */
export interface TestPeerOptions {
  /** Loopback address to bind; anything else is rejected. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** UDP port; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
  /** Resources served from the start. */
  readonly resources?: readonly TestResource[];
  /** Largest Block2 size served, in bytes (16..1024); larger bodies go block-wise. @defaultValue 1024 */
  readonly blockSize?: number;
  /** Largest Block1 size accepted per block; a larger client block is acknowledged with this SZX (RFC 7959 §2.3). @defaultValue 1024 */
  readonly maxBlock1Size?: number;
  /** Largest request body, in bytes; larger uploads get 4.13 with Size1. @defaultValue 1048576 */
  readonly maxBodySize?: number;
  /** Notification type (RFC 7641 §4.5). @defaultValue `'NON'` */
  readonly notifyType?: NotifyType;
  /**
   * With NON notifications, every Nth notification to an observer is sent CON instead, as libcoap does
   * with `-N` (every 5th) so it learns about observers that went away (RFC 7641 §4.5). Off when unset.
   */
  readonly confirmableEvery?: number;
  /** First retransmission timeout of the peer's own CON messages, in milliseconds (doubled each time, no jitter). @defaultValue 2000 */
  readonly ackTimeout?: number;
  /** Retransmissions of the peer's own CON messages before giving up. @defaultValue 4 */
  readonly maxRetransmit?: number;
  /** How long a CON's response is remembered for duplicates, in milliseconds (RFC 7252 EXCHANGE_LIFETIME). @defaultValue 247000 */
  readonly dedupLifetime?: number;
  /** Observe sequence number of the first registration response (24-bit, wraps). @defaultValue 1 */
  readonly observeSequenceStart?: number;
  /** Seed of the random source used for `drop` faults and the peer's message IDs. @defaultValue 1 */
  readonly seed?: number;
  /** Received messages kept in {@link TestPeer.received}. @defaultValue 1000 */
  readonly logSize?: number;
}

/** A fault injected into request handling with {@link TestPeer.setFault}. */
export interface TestFault {
  /** Only requests to this path are affected. @defaultValue every path */
  readonly path?: string;
  /** Probability (0..1) of silently dropping a request, drawn from the seeded random source. */
  readonly drop?: number;
  /** Silently drops this many requests, then no more. */
  readonly dropCount?: number;
  /** Handles each request this many milliseconds late. */
  readonly delay?: number;
  /** Answers 5.03 Service Unavailable with this Max-Age (seconds; RFC 7252 §5.9.3.4). */
  readonly serviceUnavailable?: { readonly maxAge?: number };
  /** Answers every request with RST. */
  readonly reset?: boolean;
  /**
   * Answers 4.01 Unauthorized with an Echo option until the client repeats the value (RFC 9175 §2.4);
   * the client endpoint is then fresh until the fault changes. `true` uses a value from the seeded source.
   */
  readonly echo?: boolean | Uint8Array;
}

/** A message the peer received, with wire details for specs that inspect it. */
export interface ReceivedPdu extends CoapPdu {
  /** Size of the datagram in bytes. */
  readonly size: number;
  /** The sender. */
  readonly source: PeerAddress;
}

/** A message the peer sent. */
export interface SentPdu extends CoapPdu {
  /** Size of the datagram in bytes. */
  readonly size: number;
  /** The receiver. */
  readonly destination: PeerAddress;
}

/** Counters of a test peer. */
export interface TestPeerStats {
  /** Requests handled (duplicates and dropped ones not counted). */
  requests: number;
  /** Duplicate requests answered from the cache or ignored (RFC 7252 §4.5). */
  duplicates: number;
  /** Requests dropped by a fault. */
  dropped: number;
  /** Datagrams that were not valid CoAP. */
  malformed: number;
  /** Observe notifications sent (retransmissions not counted). */
  notifications: number;
  /** Retransmissions of the peer's own CON messages. */
  retransmissions: number;
}

/** Events of a test peer. */
export interface TestPeerEvents {
  /** Every valid datagram received. */
  message: (pdu: ReceivedPdu) => void;
  /** Every request received (before faults and deduplication). */
  request: (pdu: ReceivedPdu) => void;
  /** Every datagram sent. */
  sent: (pdu: SentPdu) => void;
}

/** A running loopback CoAP server. Create with {@link startTestPeer}. */
export interface TestPeer {
  /** Where it listens. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** Received messages, oldest first; the last `logSize` are kept. */
  readonly received: readonly ReceivedPdu[];
  /** Counters. */
  readonly stats: Readonly<TestPeerStats>;
  /** `'coap://127.0.0.1:PORT/path'` (IPv6 in brackets). */
  uri(path?: string): string;
  /** Adds or replaces a resource. */
  addResource(resource: TestResource): void;
  /** Removes a resource; its observers get a 4.04 notification and are forgotten (RFC 7641 §3.2). */
  removeResource(path: string): void;
  /** Replaces a resource's GET representation and notifies its observers. */
  update(path: string, representation: TestHandler | Uint8Array | string): void;
  /** Sends a notification to every observer of `path` now. Returns how many were notified. */
  notify(path: string): number;
  /** Observers currently registered for `path`. */
  observerCount(path: string): number;
  /** Injects a fault into request handling, or clears it with `null`. */
  setFault(fault: TestFault | null): void;
  /** Listens to an event. */
  on<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this;
  /** Stops listening. */
  off<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this;
  /** Clears every timer and closes the socket. */
  close(): Promise<void>;
}

/**
 * Starts a CoAP server on a loopback UDP port.
 *
 * @example
 * ```ts
 * const peer = await startTestPeer({ resources: [{ path: '/hello', get: 'world' }] });
 * // ... GET peer.uri('/hello') ...
 * await peer.close();
 * ```
 * @param options - see {@link TestPeerOptions}
 * @returns the running peer, once its socket is bound
 * @throws CoapArgumentError (as a rejection) for a non-loopback host or a bad block size
 */
export async function startTestPeer(options: TestPeerOptions = {}): Promise<TestPeer> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the test peer host');
  const peer = new CoapTestPeer(host, options);
  await peer.bind(options.port ?? 0);
  return peer;
}

/** The response a request or notification produces, before type, message ID and token are set. */
interface ResponseParts {
  readonly code: number;
  readonly options: CoapOption[];
  readonly payload: Uint8Array;
}

/** A registered observer (RFC 7641 §4.1): keyed by client endpoint and token. */
interface Observer {
  readonly key: string;
  readonly source: PeerAddress;
  readonly token: Uint8Array;
  readonly path: string;
  readonly request: CoapPdu;
  /** Block2 SZX the client asked for at registration. */
  readonly block2?: BlockValue;
  notifications: number;
  /** Message ID of the CON notification awaiting an ACK. */
  pendingMessageId?: number;
  /** Transmissions of the current CON notification (continues when a newer one replaces it, RFC 7641 §4.5.2). */
  attempts: number;
}

/** One of the peer's own CON messages awaiting an ACK. */
interface PendingConfirmable {
  timer: NodeJS.Timeout;
  readonly onAck: () => void;
  readonly onGiveUp: () => void;
}

const WELL_KNOWN_CORE = '/.well-known/core';
const LINK_FORMAT = 40;

/** Options this server understands: any other critical option makes a request 4.02 (RFC 7252 §5.4.1). */
const understoodOptions: ReadonlySet<number> = new Set([
  OptionNumber.IfMatch,
  OptionNumber.UriHost,
  OptionNumber.ETag,
  OptionNumber.IfNoneMatch,
  OptionNumber.Observe,
  OptionNumber.UriPort,
  OptionNumber.UriPath,
  OptionNumber.ContentFormat,
  OptionNumber.UriQuery,
  OptionNumber.HopLimit,
  OptionNumber.Accept,
  OptionNumber.Block2,
  OptionNumber.Block1,
  OptionNumber.Size2,
  OptionNumber.ProxyUri,
  OptionNumber.ProxyScheme,
  OptionNumber.Size1,
  OptionNumber.Echo,
  OptionNumber.NoResponse,
  OptionNumber.RequestTag,
]);

const textEncoder = new TextEncoder();

function toBytes(value: Uint8Array | string | undefined): Uint8Array {
  if (value === undefined) return EMPTY_BYTES;
  return typeof value === 'string' ? textEncoder.encode(value) : value;
}

function endpointKey(address: PeerAddress): string {
  return `${address.host}|${address.port}`;
}

function isSuccess(code: number): boolean {
  return code >> 5 === 2;
}

function errorResponse(code: number, diagnostic: string, options: CoapOption[] = []): ResponseParts {
  // RFC 7252 §5.5.2: a diagnostic payload is human-readable UTF-8 text.
  return { code, options, payload: textEncoder.encode(diagnostic) };
}

class CoapTestPeer implements TestPeer {
  address: { host: LoopbackHost; port: number };
  readonly received: ReceivedPdu[] = [];
  readonly stats: TestPeerStats = { requests: 0, duplicates: 0, dropped: 0, malformed: 0, notifications: 0, retransmissions: 0 };

  readonly #socket: Socket;
  readonly #resources = new Map<string, TestResource>();
  readonly #intervals = new Map<string, NodeJS.Timeout>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #listeners: { [E in keyof TestPeerEvents]: Set<TestPeerEvents[E]> } = { message: new Set(), request: new Set(), sent: new Set() };
  /** endpoint|MID -> encoded reply (null while none is due, e.g. a NON) and when it was stored. */
  readonly #dedup = new Map<string, { reply: Uint8Array | null; at: number }>();
  readonly #observers = new Map<string, Observer>();
  readonly #pending = new Map<string, PendingConfirmable>();
  /** endpoint|MID of recent NON notifications -> observer key, so an RST to one cancels it (RFC 7641 §3.6). */
  readonly #notificationIds = new Map<string, string>();
  /** Bodies of recent non-GET responses, for Block2 follow-ups of a POST/PUT/FETCH (RFC 7959 §2.6). */
  readonly #responseBodies = new Map<string, ResponseParts>();
  readonly #verifiedEchoClients = new Set<string>();
  readonly #block1: Block1Assembler;
  readonly #random: RandomSource;
  readonly #maxBlock2Szx: number;
  readonly #notifyType: NotifyType;
  readonly #confirmableEvery: number;
  readonly #ackTimeout: number;
  readonly #maxRetransmit: number;
  readonly #dedupLifetime: number;
  readonly #logSize: number;
  #fault: TestFault | null = null;
  #faultDropsLeft = 0;
  #echoValue: Uint8Array = EMPTY_BYTES;
  #observeSequence: number;
  #messageId: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(host: LoopbackHost, options: TestPeerOptions) {
    this.address = { host, port: 0 };
    this.#maxBlock2Szx = sizeToSzx(options.blockSize ?? 1024);
    this.#block1 = new Block1Assembler(options.maxBodySize ?? 1_048_576, sizeToSzx(options.maxBlock1Size ?? 1024));
    this.#notifyType = options.notifyType ?? 'NON';
    this.#confirmableEvery = options.confirmableEvery ?? 0;
    this.#ackTimeout = options.ackTimeout ?? 2000;
    this.#maxRetransmit = options.maxRetransmit ?? 4;
    this.#dedupLifetime = options.dedupLifetime ?? 247_000;
    this.#logSize = options.logSize ?? 1000;
    this.#observeSequence = (options.observeSequenceStart ?? 1) & 0xffffff;
    this.#random = seededRandom(options.seed ?? 1);
    this.#messageId = Math.floor(this.#random() * 0x10000);
    this.#socket = createSocket({ type: socketTypeFor(host), reuseAddr: false });
    for (const resource of options.resources ?? []) this.addResource(resource);
  }

  async bind(port: number): Promise<void> {
    try {
      const bound = await bindLoopbackSocket(this.#socket, this.address.host as LoopbackHost, port, (message, remote) => this.#onDatagram(message, remote));
      this.address = { host: this.address.host, port: bound };
    } catch (error) {
      this.#closed = true;
      this.#clearTimers();
      throw error;
    }
  }


  uri(path = '/'): string {
    return `coap://${formatAuthority(this.address.host, this.address.port)}${path.startsWith('/') ? path : '/' + path}`;
  }

  addResource(resource: TestResource): void {
    const path = normalizePath(resource.path);
    this.#stopInterval(path);
    this.#resources.set(path, { ...resource, path });
    const every = resource.notifyEvery;
    if (every !== undefined && every > 0 && !this.#closed) {
      this.#intervals.set(path, setInterval(() => this.notify(path), every));
    }
  }

  removeResource(path: string): void {
    const key = normalizePath(path);
    this.#stopInterval(key);
    this.#resources.delete(key);
    for (const observer of [...this.#observers.values()]) {
      if (observer.path !== key) continue;
      // RFC 7641 §3.2: a non-2.xx notification (here 4.04) ends the observation.
      this.#sendNotificationParts(observer, errorResponse(ResponseCode.NotFound, 'resource removed'), undefined);
      this.#removeObserver(observer);
    }
  }

  update(path: string, representation: TestHandler | Uint8Array | string): void {
    const key = normalizePath(path);
    const resource = this.#resources.get(key);
    if (resource === undefined) throw new Error(`no resource at ${key}`);
    this.#resources.set(key, { ...resource, get: representation });
    this.notify(key);
  }

  notify(path: string): number {
    if (this.#closed) return 0;
    const key = normalizePath(path);
    let count = 0;
    for (const observer of [...this.#observers.values()]) {
      if (observer.path !== key) continue;
      this.#notifyObserver(observer);
      count++;
    }
    return count;
  }

  observerCount(path: string): number {
    const key = normalizePath(path);
    let count = 0;
    for (const observer of this.#observers.values()) if (observer.path === key) count++;
    return count;
  }

  setFault(fault: TestFault | null): void {
    this.#fault = fault;
    this.#faultDropsLeft = fault?.dropCount ?? 0;
    this.#verifiedEchoClients.clear();
    const echo = fault?.echo;
    if (echo instanceof Uint8Array) this.#echoValue = echo;
    else if (echo === true) {
      const value = new Uint8Array(8);
      for (let i = 0; i < value.length; i++) value[i] = Math.floor(this.#random() * 256);
      this.#echoValue = value;
    }
  }

  on<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this {
    (this.#listeners[event] as Set<TestPeerEvents[E]>).add(listener);
    return this;
  }

  off<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this {
    (this.#listeners[event] as Set<TestPeerEvents[E]>).delete(listener);
    return this;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#clearTimers();
    this.#observers.clear();
    this.#dedup.clear();
    this.#block1.clear();
    this.#closing = new Promise((resolve) => this.#socket.close(() => resolve()));
    return this.#closing;
  }

  // ---- receiving -------------------------------------------------------------------------------

  #onDatagram(message: Buffer, remote: RemoteInfo): void {
    if (this.#closed) return;
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.length);
    const source: PeerAddress = { host: remote.address, port: remote.port };
    let pdu: CoapPdu;
    try {
      pdu = decodeDatagram(bytes);
    } catch (error) {
      this.stats.malformed++;
      // RFC 7252 §4.2: a CON with a message format error is rejected with RST; anything else is ignored.
      if (error instanceof CoapDecodeError && error.messageId !== undefined && bytes.length >= 4 && ((bytes[0] >> 4) & 3) === MessageType.CON) {
        this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: error.messageId }), source);
      }
      return;
    }
    const received: ReceivedPdu = { ...pdu, size: bytes.length, source };
    this.received.push(received);
    if (this.received.length > this.#logSize) this.received.splice(0, this.received.length - this.#logSize);
    this.#emit('message', received);

    if (pdu.type === MessageType.ACK || pdu.type === MessageType.RST) {
      this.#onAckOrReset(pdu, source);
    } else if (pdu.code === EMPTY_CODE) {
      // RFC 7252 §4.3: an empty CON ("CoAP ping") is answered with RST; an empty NON is ignored.
      if (pdu.type === MessageType.CON) this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
    } else if (isRequestCode(pdu.code)) {
      this.#emit('request', received);
      this.#onRequest(pdu, source);
    } else if (pdu.type === MessageType.CON) {
      // A response or signal in a CON we did not ask for: reject it (RFC 7252 §4.2).
      this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
    }
  }

  #onAckOrReset(pdu: CoapPdu, source: PeerAddress): void {
    const key = `${endpointKey(source)}|${pdu.messageId}`;
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      this.#pending.delete(key);
      this.#clearTimer(pending.timer);
      if (pdu.type === MessageType.ACK) pending.onAck();
      else pending.onGiveUp();
      return;
    }
    // RFC 7641 §3.6: an RST in reply to a (NON) notification cancels the observation.
    const observerKey = this.#notificationIds.get(key);
    if (pdu.type === MessageType.RST && observerKey !== undefined) {
      const observer = this.#observers.get(observerKey);
      if (observer !== undefined) this.#removeObserver(observer);
    }
  }

  #onRequest(pdu: CoapPdu, source: PeerAddress): void {
    const fault = this.#fault;
    if (fault !== null && this.#faultApplies(fault, pdu)) {
      if (this.#faultDropsLeft > 0) {
        this.#faultDropsLeft--;
        this.stats.dropped++;
        return;
      }
      if (fault.drop !== undefined && fault.drop > 0 && this.#random() < fault.drop) {
        this.stats.dropped++;
        return;
      }
      if (fault.delay !== undefined && fault.delay > 0) {
        this.#setTimer(() => this.#handleRequest(pdu, source), fault.delay);
        return;
      }
    }
    this.#handleRequest(pdu, source);
  }

  #faultApplies(fault: TestFault, pdu: CoapPdu): boolean {
    return fault.path === undefined || normalizePath(fault.path) === pathOf(pdu);
  }

  #handleRequest(pdu: CoapPdu, source: PeerAddress): void {
    if (this.#closed) return;
    // RFC 7252 §4.5: a duplicate CON gets the same reply again, the handler is not re-run; a duplicate NON is ignored.
    const dedupKey = `${endpointKey(source)}|${pdu.messageId}`;
    const now = Date.now();
    const cached = this.#dedup.get(dedupKey);
    if (cached !== undefined && now - cached.at < this.#dedupLifetime) {
      this.stats.duplicates++;
      if (cached.reply !== null && pdu.type === MessageType.CON) this.#sendBytes(cached.reply, source);
      return;
    }
    this.#pruneDedup(now);
    const entry: { reply: Uint8Array | null; at: number } = { reply: null, at: now };
    this.#dedup.set(dedupKey, entry);
    this.stats.requests++;

    const outcome = this.#process(pdu, source);
    if (outcome === 'reset') {
      entry.reply = this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
      return;
    }
    if (typeof outcome === 'function') {
      // RFC 7252 §5.2.2: separate response; the CON is acknowledged now, the answer follows in its own CON.
      const delay = this.#resources.get(pathOf(pdu))?.separate ?? 0;
      if (pdu.type === MessageType.CON) {
        entry.reply = this.#send(createPdu({ type: MessageType.ACK, code: EMPTY_CODE, messageId: pdu.messageId }), source);
      }
      this.#setTimer(() => {
        const parts = outcome();
        const response = createPdu({ type: pdu.type, code: parts.code, messageId: this.#nextMessageId(), token: pdu.token, options: parts.options, payload: parts.payload });
        if (pdu.type === MessageType.CON) this.#sendConfirmable(response, source, () => undefined, () => undefined);
        else this.#send(response, source);
      }, delay);
      return;
    }
    const isCon = pdu.type === MessageType.CON;
    if (isSuppressed(pdu, outcome.code)) {
      // RFC 7967 §2.1: No-Response suppresses the response; a CON still needs its (empty) ACK.
      if (isCon) entry.reply = this.#send(createPdu({ type: MessageType.ACK, code: EMPTY_CODE, messageId: pdu.messageId }), source);
      return;
    }
    const response = createPdu({
      // RFC 7252 §5.2.1 piggybacked in the ACK for a CON; §5.2.3 a NON gets a NON response.
      type: isCon ? MessageType.ACK : MessageType.NON,
      code: outcome.code,
      messageId: isCon ? pdu.messageId : this.#nextMessageId(),
      token: pdu.token,
      options: outcome.options,
      payload: outcome.payload,
    });
    const bytes = this.#send(response, source);
    if (isCon) entry.reply = bytes;
  }

  /**
   * Works out the answer to a request: a response, RST, or a function producing the response later
   * (separate responses).
   */
  #process(pdu: CoapPdu, source: PeerAddress): ResponseParts | 'reset' | (() => ResponseParts) {
    const fault = this.#fault;
    const faulty = fault !== null && this.#faultApplies(fault, pdu);
    if (faulty && fault.reset === true) return 'reset';
    if (faulty && fault.serviceUnavailable !== undefined) {
      const maxAge = fault.serviceUnavailable.maxAge ?? 60;
      return errorResponse(ResponseCode.ServiceUnavailable, 'service unavailable', [{ number: OptionNumber.MaxAge, value: encodeUint(maxAge) }]);
    }
    const client = endpointKey(source);
    if (faulty && fault.echo !== undefined && fault.echo !== false && !this.#verifiedEchoClients.has(client)) {
      const echo = getOption(pdu, OptionNumber.Echo);
      if (echo === undefined || !sameBytes(echo, this.#echoValue)) {
        // RFC 9175 §2.2.1: 4.01 with an Echo option asks the client to repeat the value in a new request.
        return errorResponse(ResponseCode.Unauthorized, 'echo required', [{ number: OptionNumber.Echo, value: this.#echoValue }]);
      }
      this.#verifiedEchoClients.add(client);
    }

    for (const option of pdu.options) {
      // RFC 7252 §5.4.1: an unrecognized critical option in a request is answered with 4.02.
      if (isCritical(option.number) && !understoodOptions.has(option.number)) {
        return errorResponse(ResponseCode.BadOption, `unrecognized critical option ${option.number}`);
      }
    }
    if (getOption(pdu, OptionNumber.ProxyUri) !== undefined || getOption(pdu, OptionNumber.ProxyScheme) !== undefined) {
      return errorResponse(ResponseCode.ProxyingNotSupported, 'this test peer is not a proxy');
    }

    const path = pathOf(pdu);
    const query = getOptions(pdu, OptionNumber.UriQuery).map(decodeString);
    const resource = this.#resources.get(path) ?? (path === WELL_KNOWN_CORE ? this.#wellKnownCore() : undefined);
    if (resource === undefined) return errorResponse(ResponseCode.NotFound, `no resource at ${path}`);

    let block2Request: BlockValue | undefined;
    let block1Request: BlockValue | undefined;
    try {
      const block2Value = getOption(pdu, OptionNumber.Block2);
      const block1Value = getOption(pdu, OptionNumber.Block1);
      block2Request = block2Value === undefined ? undefined : decodeBlock(block2Value);
      block1Request = block1Value === undefined ? undefined : decodeBlock(block1Value);
    } catch {
      return errorResponse(ResponseCode.BadOption, 'invalid block option');
    }

    const method = pdu.code;
    const handler = this.#handlerFor(resource, method);
    if (handler === undefined) return errorResponse(ResponseCode.MethodNotAllowed, `method not allowed on ${path}`);

    // RFC 7959 §2.6: later blocks of a POST/PUT/FETCH response are served from the body already produced.
    const bodyKey = `${client}|${method}|${path}`;
    if (method !== Method.GET && block1Request === undefined && block2Request !== undefined && block2Request.num > 0) {
      const previous = this.#responseBodies.get(bodyKey);
      if (previous !== undefined) return this.#finishResponse(previous, pdu, resource, block2Request, undefined);
    }

    let payload = pdu.payload;
    let block1Echo: BlockValue | undefined;
    if (block1Request !== undefined) {
      const size1Value = getOption(pdu, OptionNumber.Size1);
      const requestTag = getOption(pdu, OptionNumber.RequestTag);
      // RFC 9175 §3.3: blocks with different Request-Tags belong to different bodies.
      const transferKey = `${bodyKey}|${requestTag === undefined ? '-' : tokenToHex(requestTag)}`;
      const result = this.#block1.accept(transferKey, block1Request, pdu.payload, size1Value === undefined ? undefined : decodeUint(size1Value));
      switch (result.kind) {
        case 'continue':
          // RFC 7959 §2.3: 2.31 Continue acknowledges a non-final block; its SZX may ask for smaller blocks.
          return { code: ResponseCode.Continue, options: [{ number: OptionNumber.Block1, value: encodeBlock(result.block) }], payload: EMPTY_BYTES };
        case 'incomplete':
          return errorResponse(ResponseCode.RequestEntityIncomplete, result.reason);
        case 'too-large':
          // RFC 7959 §2.9.3: 4.13 may carry Size1 with the largest body the server accepts.
          return errorResponse(ResponseCode.RequestEntityTooLarge, 'request body too large', [{ number: OptionNumber.Size1, value: encodeUint(result.limit) }]);
        case 'bad-block':
          return errorResponse(ResponseCode.BadRequest, result.reason);
        case 'complete':
          payload = result.body;
          block1Echo = result.block;
          break;
      }
    }

    // RFC 7641 §2: Observe on a GET registers (0) or deregisters (1).
    const observeValue = method === Method.GET ? getOption(pdu, OptionNumber.Observe) : undefined;
    const observe = observeValue === undefined ? undefined : decodeUint(observeValue);
    const observerKey = `${client}|${tokenToHex(pdu.token)}`;
    const existing = this.#observers.get(observerKey);
    if (existing !== undefined && method === Method.GET && (observe === 1 || (observe === undefined && (block2Request === undefined || block2Request.num === 0)))) {
      // Observe=1, or a plain GET reusing the observation's token: the client no longer wants notifications.
      this.#removeObserver(existing);
    }
    const registering = observe === 0 && resource.observable === true && (block2Request === undefined || block2Request.num === 0);

    const request: TestRequest = { pdu, method, path, query, payload, source, notification: false };
    const produce = (): ResponseParts => {
      const parts = this.#runHandler(handler, request, resource);
      if (method !== Method.GET) this.#rememberBody(bodyKey, parts);
      if (registering && isSuccess(parts.code) && !this.#closed) {
        const observer: Observer = { key: observerKey, source, token: pdu.token.slice(), path, request: pdu, block2: block2Request, notifications: 0, attempts: 0 };
        const replaced = this.#observers.get(observerKey);
        if (replaced !== undefined) this.#removeObserver(replaced);
        this.#observers.set(observerKey, observer);
        return this.#finishResponse(parts, pdu, resource, block2Request, block1Echo, this.#nextObserveSequence());
      }
      return this.#finishResponse(parts, pdu, resource, block2Request, block1Echo);
    };
    if (resource.separate !== undefined && resource.separate >= 0) return produce;
    return produce();
  }

  #handlerFor(resource: TestResource, method: number): TestHandler | undefined {
    switch (method) {
      case Method.GET:
      case Method.FETCH: {
        const get = resource.get;
        if (get === undefined || typeof get === 'function') return get;
        return () => get;
      }
      case Method.PUT:
        return resource.put;
      case Method.POST:
        return resource.post;
      case Method.DELETE:
        return resource.delete;
      default:
        return undefined;
    }
  }

  #runHandler(handler: TestHandler, request: TestRequest, resource: TestResource): ResponseParts {
    let reply: TestReply;
    try {
      reply = handler(request);
    } catch (error) {
      return errorResponse(ResponseCode.InternalServerError, error instanceof Error ? error.message : String(error));
    }
    const defaultCode =
      request.method === Method.GET || request.method === Method.FETCH ? ResponseCode.Content : request.method === Method.DELETE ? ResponseCode.Deleted : ResponseCode.Changed;
    const response: TestResponse = typeof reply === 'string' || reply instanceof Uint8Array ? { payload: reply } : reply;
    const code = response.code ?? defaultCode;
    let options: CoapOption[] = [...(response.options ?? [])];
    const payload = toBytes(response.payload);
    const contentFormat = response.contentFormat ?? resource.contentFormat;
    if (contentFormat !== undefined && isSuccess(code) && payload.length > 0 && !options.some((o) => o.number === OptionNumber.ContentFormat)) {
      options = withOption(options, OptionNumber.ContentFormat, [encodeUint(contentFormat)]);
    }
    if (code === ResponseCode.Content) {
      if (resource.maxAge !== undefined) options = withOption(options, OptionNumber.MaxAge, [encodeUint(resource.maxAge)]);
      if (resource.etag !== undefined) options = withOption(options, OptionNumber.ETag, [resource.etag]);
    }
    return { code, options, payload };
  }

  /** Adds Observe, Block1 (echo), Block2, Size2 and ETag to a response and cuts the block to send. */
  #finishResponse(parts: ResponseParts, request: CoapPdu, resource: TestResource, block2: BlockValue | undefined, block1: BlockValue | undefined, observeSequence?: number): ResponseParts {
    let options = parts.options;
    let payload = parts.payload;
    if (observeSequence !== undefined) options = withOption(options, OptionNumber.Observe, [encodeUint(observeSequence)]);
    // RFC 7959 §2.3: the response to the final block of a Block1 transfer carries Block1 too.
    if (block1 !== undefined) options = withOption(options, OptionNumber.Block1, [encodeBlock(block1)]);
    const wantsSize2 = getOption(request, OptionNumber.Size2) !== undefined;
    if (isSuccess(parts.code)) {
      const maxSzx = Math.min(this.#maxBlock2Szx, sizeToSzx(resource.blockSize ?? 1024));
      const slice = sliceBlock2(parts.payload, block2, maxSzx);
      if (slice.kind === 'out-of-range') {
        return errorResponse(ResponseCode.BadOption, `block ${block2?.num ?? 0} is past the end of the ${parts.payload.length}-byte body`);
      }
      if (slice.kind === 'block') {
        payload = slice.payload;
        options = withOption(options, OptionNumber.Block2, [encodeBlock(slice.block)]);
        // RFC 7959 §2.4: an ETag lets the client notice that the representation changed between blocks.
        if (getOption(parts, OptionNumber.ETag) === undefined) options = withOption(options, OptionNumber.ETag, [resource.etag ?? bodyEtag(parts.payload)]);
        // RFC 7959 §4: Size2 with the total size on the first block, and whenever the client asks with Size2 = 0.
        if (slice.block.num === 0 || wantsSize2) options = withOption(options, OptionNumber.Size2, [encodeUint(parts.payload.length)]);
      } else if (wantsSize2) {
        options = withOption(options, OptionNumber.Size2, [encodeUint(parts.payload.length)]);
      }
    }
    return { code: parts.code, options, payload };
  }

  #rememberBody(key: string, parts: ResponseParts): void {
    this.#responseBodies.delete(key);
    this.#responseBodies.set(key, parts);
    if (this.#responseBodies.size > 64) this.#responseBodies.delete(this.#responseBodies.keys().next().value as string);
  }

  #wellKnownCore(): TestResource {
    return {
      path: WELL_KNOWN_CORE,
      contentFormat: LINK_FORMAT,
      // RFC 6690 §4: the resource directory of this server, with §4.1 query filtering.
      get: (request) => formatLinkFormat(this.#resources.values(), request.query),
    };
  }

  // ---- observe ---------------------------------------------------------------------------------

  #notifyObserver(observer: Observer): void {
    const resource = this.#resources.get(observer.path);
    if (resource === undefined) {
      this.#sendNotificationParts(observer, errorResponse(ResponseCode.NotFound, 'resource removed'), undefined);
      this.#removeObserver(observer);
      return;
    }
    const handler = this.#handlerFor(resource, Method.GET);
    const request: TestRequest = {
      pdu: observer.request,
      method: Method.GET,
      path: observer.path,
      query: getOptions(observer.request, OptionNumber.UriQuery).map(decodeString),
      payload: EMPTY_BYTES,
      source: observer.source,
      notification: true,
    };
    const parts = handler === undefined ? errorResponse(ResponseCode.MethodNotAllowed, 'no GET handler') : this.#runHandler(handler, request, resource);
    if (!isSuccess(parts.code)) {
      // RFC 7641 §3.2: a non-2.xx notification ends the observation.
      this.#sendNotificationParts(observer, parts, undefined);
      this.#removeObserver(observer);
      return;
    }
    // RFC 7959 §2.6: a notification carries the first block; the client GETs the rest without Observe.
    const firstBlock = observer.block2 === undefined ? undefined : { num: 0, more: false, szx: observer.block2.szx };
    const finished = this.#finishResponse(parts, observer.request, resource, firstBlock, undefined, this.#nextObserveSequence());
    this.#sendNotificationParts(observer, finished, resource);
  }

  #sendNotificationParts(observer: Observer, parts: ResponseParts, resource: TestResource | undefined): void {
    observer.notifications++;
    this.stats.notifications++;
    const configured = resource?.notifyType ?? this.#notifyType;
    // libcoap -N: mostly NON, but every Nth notification CON so a vanished observer is noticed (RFC 7641 §4.5).
    const confirmable = configured === 'CON' || (this.#confirmableEvery > 0 && observer.notifications % this.#confirmableEvery === 0);
    const messageId = this.#nextMessageId();
    const pdu = createPdu({
      type: confirmable ? MessageType.CON : MessageType.NON,
      code: parts.code,
      messageId,
      token: observer.token,
      options: parts.options,
      payload: parts.payload,
    });
    const endpoint = endpointKey(observer.source);
    if (!confirmable) {
      this.#notificationIds.set(`${endpoint}|${messageId}`, observer.key);
      if (this.#notificationIds.size > 1000) this.#notificationIds.delete(this.#notificationIds.keys().next().value as string);
      this.#send(pdu, observer.source);
      return;
    }
    // RFC 7641 §4.5.2: a newer notification replaces one still being retransmitted; the count carries on.
    let attemptsSoFar = 0;
    if (observer.pendingMessageId !== undefined) {
      const previousKey = `${endpoint}|${observer.pendingMessageId}`;
      const previous = this.#pending.get(previousKey);
      if (previous !== undefined) {
        this.#clearTimer(previous.timer);
        this.#pending.delete(previousKey);
        attemptsSoFar = observer.attempts;
      }
    }
    observer.pendingMessageId = messageId;
    this.#sendConfirmable(
      pdu,
      observer.source,
      () => {
        observer.pendingMessageId = undefined;
        observer.attempts = 0;
      },
      // An RST, or no ACK after every retransmission: the client is gone (RFC 7641 §4.5).
      () => this.#removeObserver(observer),
      attemptsSoFar,
      (attempts) => {
        observer.attempts = attempts;
      },
    );
  }

  #removeObserver(observer: Observer): void {
    if (this.#observers.get(observer.key) === observer) this.#observers.delete(observer.key);
    if (observer.pendingMessageId !== undefined) {
      const key = `${endpointKey(observer.source)}|${observer.pendingMessageId}`;
      const pending = this.#pending.get(key);
      if (pending !== undefined) {
        this.#clearTimer(pending.timer);
        this.#pending.delete(key);
      }
      observer.pendingMessageId = undefined;
    }
  }

  #nextObserveSequence(): number {
    const value = this.#observeSequence;
    // RFC 7641 §4.4: a 24-bit sequence number that wraps around.
    this.#observeSequence = (this.#observeSequence + 1) & 0xffffff;
    return value;
  }

  // ---- sending ---------------------------------------------------------------------------------

  /**
   * Sends a CON and retransmits it with doubling timeouts until ACK or RST (RFC 7252 §4.2),
   * then calls `onAck`, or `onGiveUp` after RST or the last retransmission.
   */
  #sendConfirmable(
    pdu: CoapPdu,
    destination: PeerAddress,
    onAck: () => void,
    onGiveUp: () => void,
    startAttempts = 0,
    onAttempt: (attempts: number) => void = () => undefined,
  ): void {
    const bytes = this.#send(pdu, destination);
    const key = `${endpointKey(destination)}|${pdu.messageId}`;
    let attempts = startAttempts;
    onAttempt(attempts);
    const schedule = (): NodeJS.Timeout =>
      this.#setTimer(() => {
        const pending = this.#pending.get(key);
        if (pending === undefined) return;
        if (attempts >= this.#maxRetransmit) {
          this.#pending.delete(key);
          onGiveUp();
          return;
        }
        attempts++;
        onAttempt(attempts);
        this.stats.retransmissions++;
        this.#sendBytes(bytes, destination, pdu);
        pending.timer = schedule();
      }, this.#ackTimeout * 2 ** attempts);
    this.#pending.set(key, { timer: schedule(), onAck, onGiveUp });
  }

  #send(pdu: CoapPdu, destination: PeerAddress): Uint8Array {
    const bytes = encodeDatagram(pdu);
    this.#sendBytes(bytes, destination, pdu);
    return bytes;
  }

  #sendBytes(bytes: Uint8Array, destination: PeerAddress, pdu?: CoapPdu): void {
    if (this.#closed) return;
    this.#socket.send(bytes, destination.port, destination.host);
    if (this.#listeners.sent.size > 0) {
      const sent: SentPdu = { ...(pdu ?? decodeDatagram(bytes)), size: bytes.length, destination };
      this.#emit('sent', sent);
    }
  }

  #nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  #emit<E extends keyof TestPeerEvents>(event: E, value: Parameters<TestPeerEvents[E]>[0]): void {
    for (const listener of this.#listeners[event]) (listener as (value: Parameters<TestPeerEvents[E]>[0]) => void)(value);
  }

  #pruneDedup(now: number): void {
    // Map order is insertion order, so expired entries are at the front.
    for (const [key, entry] of this.#dedup) {
      if (now - entry.at < this.#dedupLifetime && this.#dedup.size <= 10_000) break;
      this.#dedup.delete(key);
    }
  }

  // ---- timers ----------------------------------------------------------------------------------

  #setTimer(work: () => void, delay: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) work();
    }, delay);
    this.#timers.add(timer);
    return timer;
  }

  #clearTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  #stopInterval(path: string): void {
    const interval = this.#intervals.get(path);
    if (interval !== undefined) clearInterval(interval);
    this.#intervals.delete(path);
  }

  #clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const interval of this.#intervals.values()) clearInterval(interval);
    this.#intervals.clear();
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
  }
}

/**
 * RFC 7967 §2: No-Response bits 2, 8 and 16 suppress 2.xx, 4.xx and 5.xx responses (0 suppresses nothing).
 */
function isSuppressed(request: CoapPdu, code: number): boolean {
  const value = getOption(request, OptionNumber.NoResponse);
  if (value === undefined) return false;
  const bits = decodeUint(value);
  const codeClass = code >> 5;
  const bit = codeClass === 2 ? 2 : codeClass === 4 ? 8 : codeClass === 5 ? 16 : 0;
  return (bits & bit) !== 0;
}

/** The request path from its Uri-Path options (RFC 7252 §6.5), `'/'` when there are none. */
function pathOf(pdu: CoapPdu): string {
  const segments = getOptions(pdu, OptionNumber.UriPath);
  if (segments.length === 0) return '/';
  let path = '';
  for (const segment of segments) path += '/' + decodeString(segment);
  return path;
}
