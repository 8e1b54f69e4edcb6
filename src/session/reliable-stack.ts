/**
 * The reliable stack (tcp, tls, ws, wss; RFC 8323): no message types, MIDs, ACKs or retransmission; signaling
 * instead. The framing step its transport names turns frames into PDUs (a byte stream through the
 * `StreamDeframer`, or one WebSocket message per PDU).
 *
 *   connect ──► our CSM ──► (requests wait) ──► peer's CSM ──► requests flow, many outstanding
 *                                   │ csmTimeout                    │ Ping ◄─► Pong, Release, Abort
 *                                   ▼                               ▼
 *                     CoapTransportError 'csm-timeout'     every exchange fails at once on loss
 *
 * libcoap's server sends its CSM at once and holds every response until it has ours, so ours goes first.
 * A malformed frame cannot be skipped on a stream: we send Abort (7.05) with a diagnostic and close.
 */
import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapDecodeError, CoapEncodeError, CoapTimeoutError, CoapTransportError, type PeerAddress } from '../errors';
import { formatPeer } from '../peer-address';
import { findUnknownCritical } from '../codec/option-registry';
import { STREAM_MAX_HEADER_SIZE, type StreamDeframer } from '../codec/stream-codec';
import { decodeWsMessage, encodeWsMessage, WS_HEADER_SIZE } from '../codec/ws-codec';
import { SignalCode, tokenToHex, type CoapPdu } from '../codec/pdu';
import { NOTHING_TO_CANCEL, transmitWith, type OutgoingPdu, type SendCallbacks } from '../exchange/exchange-context';
import { tokenKey } from '../exchange/token';
import { ResponseDeadlines } from '../exchange/response-deadlines';
import { TokenMatcher } from '../exchange/token-matcher';
import { BASE_CAPABILITIES, csmPdu, readCsm, type PeerCapabilities } from '../signaling/csm';
import { pingPdu, pongFor } from '../signaling/ping-pong';
import { abortedError, abortPdu, releasedError, releasePdu } from '../signaling/release-abort';
import type { Framing, Transport } from '../transport/transport';
import { StackBase } from './stack-base';
import type { Stack, StackConfig } from './pipeline';

/** Signaling settings of a reliable session. */
export interface ReliableOptions {
  /** How long to wait for the peer's CSM (and for a Pong), in milliseconds. @defaultValue 10000 */
  readonly csmTimeout?: number;
  /** Max-Message-Size we advertise in our CSM, and the largest frame we accept, in bytes. @defaultValue 65536 */
  readonly maxMessageSize?: number;
  /**
   * libcoap `coap_context_set_keepalive`: after this many milliseconds without anything from the peer, send a
   * Ping; 0 turns it off. @defaultValue 0
   */
  readonly keepalive?: number;
  /** Unanswered keepalive Pings after which the session fails (`CoapTransportError` reason `keepalive`). @defaultValue 3 */
  readonly keepaliveFailures?: number;
}

/** Our default Max-Message-Size: room for BERT-sized bodies without letting one peer make us buffer much. */
export const DEFAULT_RELIABLE_MAX_MESSAGE_SIZE = 65536;

/** libcoap `coap_session_max_pdu_size` over a reliable transport: the peer's Max-Message-Size less the header. */
export function reliableMaxPduSize(maxMessageSize: number, framing: Framing): number {
  return Math.max(0, maxMessageSize - frameHeaderSize(framing));
}

/** The largest frame header of a framing (RFC 8323 §5.3.1 counts the whole message). */
function frameHeaderSize(framing: Framing): number {
  return framing === 'websocket' ? WS_HEADER_SIZE : STREAM_MAX_HEADER_SIZE;
}

/** RFC 8323 §3.2 byte-stream framing: the codec's deframer and encoder (use-stream-framing.ts installs them). */
export interface StreamFraming {
  /** A deframer for one connection, refusing messages over `maxMessageSize`. */
  deframer(maxMessageSize: number): StreamDeframer;
  /** One message as a stream frame. */
  encode(pdu: OutgoingPdu): Uint8Array;
}

/**
 * Byte-stream framing, once installed: `useStreamFraming()` installs it (rxcoap/node calls that). Not imported
 * here, so a browser app on WebSockets (one message per frame) does not bundle the stream deframer.
 */
let streamFraming: StreamFraming | undefined;

/** @internal Installs byte-stream framing (use-stream-framing.ts). */
export function installStreamFraming(framing: StreamFraming): void {
  streamFraming = framing;
}

function installedStreamFraming(): StreamFraming {
  if (streamFraming === undefined) {
    throw new CoapArgumentError(
      "a byte-stream transport needs RFC 8323 stream framing, which the core leaves out of browser bundles: call useStreamFraming() from 'rxcoap' once (rxcoap/node does)",
      { field: 'transport' },
    );
  }
  return streamFraming;
}

/** A message waiting for the peer's CSM (RFC 8323 §5.3: requests flow once capabilities are known). */
interface Queued {
  readonly pdu: OutgoingPdu;
  readonly callbacks: SendCallbacks;
  cancelled: boolean;
}

/** A Ping waiting for its Pong. */
interface PingWaiter {
  readonly started: number;
  pong(rtt: number): void;
}

/**
 * The signaling stack under the exchanges for one reliable connection; the subscriber of its transport's frames
 * and the list of its failure watchers ({@link StackBase}).
 */
export class ReliableStack extends StackBase implements Stack {
  readonly tokens: TokenMatcher;
  readonly scheduler: SchedulerLike;
  readonly responseTimeout: number;
  readonly nonTimeout: number;
  readonly peer: PeerAddress;
  readonly frameOverhead = 0;
  readonly reliable = true;
  readonly #transport: Transport;
  readonly #framing: Framing;
  readonly #config: StackConfig;
  readonly #deframer: StreamDeframer | undefined;
  /** Byte streams: the installed framing (WebSockets need none: one message per frame). */
  readonly #stream: StreamFraming | undefined;
  readonly #csmTimeout: number;
  readonly #maxMessageSize: number;
  /** The largest frame header (what {@link reliableMaxPduSize} takes off). */
  readonly #headerSize: number;
  #capabilities: PeerCapabilities = BASE_CAPABILITIES;
  /**
   * RFC 8323 §6: BERT when both CSMs carry Block-Wise-Transfer (ours always does). Read it, do not set it (a field
   * kept with the capabilities: every request reads it).
   */
  bert = BASE_CAPABILITIES.blockWiseTransfer;
  #csmReceived = false;
  #queue: Queued[] | undefined = [];
  #csmTimer: Subscription | undefined;
  #keepaliveTimer: Subscription | undefined;
  #unansweredKeepalives = 0;
  #receivedSinceCheck = false;
  #pings: Map<string, PingWaiter> | undefined;
  #dead = false;
  /** Requests waiting for their responses: every request on a reliable transport is "sent" at once. */
  #deadlines: ResponseDeadlines | undefined;

  constructor(transport: Transport, framing: Framing, config: StackConfig) {
    super();
    this.tokens = new TokenMatcher(config.tokenGenerator);
    this.scheduler = config.scheduler;
    this.responseTimeout = config.params.separateResponseTimeout;
    // RFC 8323 has no NON: every request waits alike (and one deadline queue serves them all).
    this.nonTimeout = this.responseTimeout;
    this.peer = transport.remote;
    this.#transport = transport;
    this.#framing = framing;
    this.#config = config;
    const options = config.reliable ?? {};
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_RELIABLE_MAX_MESSAGE_SIZE;
    this.#csmTimeout = options.csmTimeout ?? 10_000;
    this.#maxMessageSize = maxMessageSize;
    this.#headerSize = frameHeaderSize(framing);
    if (framing === 'stream') {
      this.#stream = installedStreamFraming(); // throws before anything is sent when not installed
      this.#deframer = this.#stream.deframer(maxMessageSize);
    }
    transport.frames$.subscribe(this);
    // RFC 8323 §5.3: the CSM is the first message on the connection. Block-Wise-Transfer: we do block-wise.
    this.#write(csmPdu(maxMessageSize, true));
    this.#csmTimer = this.scheduler.schedule(() => {
      this.#csmTimer = undefined;
      this.#die(new CoapTransportError(`no CSM from ${formatPeer(this.peer)} within ${this.#csmTimeout} ms`, { peer: this.peer, reason: 'csm-timeout' }));
    }, this.#csmTimeout);
    const keepalive = options.keepalive ?? 0;
    if (keepalive > 0) this.#armKeepalive(keepalive, options.keepaliveFailures ?? 3);
  }

  /** The peer's capabilities (its CSM, or RFC 8323's base values before it). */
  get capabilities(): PeerCapabilities {
    return this.#capabilities;
  }

  /** A frame from the transport: a chunk of the byte stream, or one WebSocket message. */
  next(frame: Uint8Array): void {
    if (this.#dead) return;
    this.#receivedSinceCheck = true;
    const deframer = this.#deframer;
    if (deframer === undefined) {
      // RFC 8323 §4.2: one WebSocket message is one CoAP message, which must fit our Max-Message-Size (§5.3.1).
      // (Inline, like the guard below: on a request stream at a few a second every call is a cold one.)
      if (frame.length > this.#maxMessageSize) {
        this.#abort(new CoapDecodeError('MESSAGE_TOO_LARGE', `WebSocket message of ${frame.length} bytes exceeds the maximum message size ${this.#maxMessageSize}`, { fatal: true }));
        return;
      }
      let pdu: CoapPdu;
      try {
        pdu = decodeWsMessage(frame);
      } catch (error) {
        this.#abortUndecodable(error);
        return;
      }
      try {
        this.#receive(pdu);
      } catch (error) {
        this.#receiveFailed(error);
      }
      return;
    }
    // Message by message as the deframer completes them (no array per chunk); a malformed frame aborts.
    try {
      deframer.write(frame);
    } catch (error) {
      this.#abortUndecodable(error);
      return;
    }
    while (!this.#dead) {
      let pdu: CoapPdu | undefined;
      try {
        pdu = deframer.read();
      } catch (error) {
        this.#abortUndecodable(error);
        return;
      }
      if (pdu === undefined) return;
      try {
        this.#receive(pdu);
      } catch (error) {
        this.#receiveFailed(error);
      }
    }
  }

  #abortUndecodable(error: unknown): void {
    this.#abort(error instanceof CoapDecodeError ? error : new CoapDecodeError('BAD_FRAME', String(error), { fatal: true }));
  }

  /** The exchanges guard their handlers; should a throw get through, it is a bad message, not a crash. */
  #receiveFailed(error: unknown): void {
    this.reportBadPacket(error instanceof CoapDecodeError ? error : new CoapDecodeError('BAD_FRAME', `the message could not be processed: ${(error as Error)?.message ?? error}`));
  }

  reportBadPacket(error: CoapDecodeError): void {
    this.#config.onEvent({ type: 'bad-packet', error });
  }

  /**
   * Sends `pdu` now, or once the peer's CSM is in (requests wait for it). Returns the canceller. RFC 8323 §2.2: no
   * CON/NON on reliable transports; "sent" is as acknowledged as it gets.
   */
  send(pdu: OutgoingPdu, _confirmable: boolean, callbacks: SendCallbacks): () => void {
    if (!this.#csmReceived) return this.#enqueue(pdu, callbacks);
    let frame: Uint8Array;
    try {
      frame = this.#stream !== undefined ? this.#stream.encode(pdu) : encodeWsMessage(pdu);
      const limit = this.#capabilities.maxMessageSize;
      if (frame.length > limit) {
        throw new CoapEncodeError(`a message of ${frame.length} bytes is larger than the peer's Max-Message-Size of ${limit} bytes (RFC 8323 §5.3.1): send the body block-wise`);
      }
    } catch (error) {
      callbacks.failed(error);
      return NOTHING_TO_CANCEL;
    }
    const trace = this.#config.trace;
    if (trace !== undefined) trace('sent', frame, this.#framing);
    this.#transport.send(frame);
    callbacks.acknowledged();
    return NOTHING_TO_CANCEL;
  }

  #enqueue(pdu: OutgoingPdu, callbacks: SendCallbacks): () => void {
    const queued: Queued = { pdu, callbacks, cancelled: false };
    (this.#queue ??= []).push(queued);
    return () => {
      queued.cancelled = true;
    };
  }

  transmit(request: OutgoingPdu, confirmable: boolean): Observable<never> {
    return transmitWith(this, request, confirmable);
  }

  /** RFC 8323 §5.4: Ping, answered by a Pong with the same token; emits the round trip in milliseconds. */
  ping(): Observable<number> {
    return new Observable<number>((subscriber) => {
      const token = this.tokens.newToken();
      const key = tokenKey(token);
      const pings = (this.#pings ??= new Map<string, PingWaiter>());
      pings.set(key, {
        started: this.scheduler.now(),
        pong: (rtt) => {
          subscriber.next(rtt);
          subscriber.complete();
        },
      });
      const timer = this.scheduler.schedule(() => {
        subscriber.error(new CoapTimeoutError(`no Pong within ${this.#csmTimeout} ms`, { peer: this.peer, token: tokenToHex(token), elapsed: this.#csmTimeout }));
      }, this.#csmTimeout);
      const cancel = this.send(pingPdu(token), false, { acknowledged: noop, failed: (error) => subscriber.error(error) });
      return () => {
        cancel();
        timer.unsubscribe();
        pings.delete(key);
      };
    });
  }

  /** One queue: on a reliable transport CON and NON wait alike (the request timer of RFC 8323 is the same). */
  responseDeadlines(_confirmable: boolean): ResponseDeadlines {
    return (this.#deadlines ??= new ResponseDeadlines(this.scheduler));
  }

  /** The peer's Max-Message-Size less the largest header (RFC 8323 §5.3.1 counts the whole message). */
  maxPduSize(_mtu: number): number {
    return Math.max(0, this.#capabilities.maxMessageSize - this.#headerSize);
  }

  /** RFC 8323 §5.5: closing on purpose, we say so with a Release before the connection closes. */
  close(): void {
    if (this.#dead) return;
    this.#write(releasePdu());
  }

  fail(error: unknown): void {
    if (this.failed) return;
    this.#dead = true;
    this.#stopTimers();
    this.#deadlines?.close();
    this.unsubscribe(); // stop receiving
    this.#queue = undefined;
    this.#pings = undefined;
    this.failWatchers(error);
  }

  #receive(pdu: CoapPdu): void {
    const trace = this.#config.trace;
    if (trace !== undefined) trace('received', this.#encode(pdu), this.#framing);
    const code = pdu.code;
    if (code >> 5 === 7) {
      this.#signal(pdu);
      return;
    }
    if (code === 0) return; // RFC 8323 §3.4: an Empty message is ignored (a keepalive of sorts)
    if (code >> 5 === 0) return; // a request from the server: this client serves no resources
    // RFC 8323 §3: no RST on reliable transports; a response for no live exchange is dropped.
    if (!this.tokens.route(pdu)) this.#config.onEvent({ type: 'rejected', messageId: 0 });
  }

  #signal(pdu: CoapPdu): void {
    switch (pdu.code) {
      case SignalCode.CSM: {
        // RFC 8323 §5.3: a critical CSM option we do not understand ends the connection (Abort, Bad-CSM-Option).
        const unknown = findUnknownCritical(pdu.options, SignalCode.CSM);
        if (unknown !== undefined) {
          this.#abortFor(
            new CoapTransportError(`the server's CSM carries critical option ${unknown}, which this client does not understand`, { peer: this.peer, reason: 'aborted', badCsmOption: unknown }),
            `unknown critical CSM option ${unknown}`,
            unknown,
          );
          return;
        }
        this.#capabilities = readCsm(pdu, this.#capabilities);
        this.bert = this.#capabilities.blockWiseTransfer;
        if (!this.#csmReceived) {
          this.#csmReceived = true;
          this.#csmTimer?.unsubscribe();
          this.#csmTimer = undefined;
          const queue = this.#queue ?? [];
          this.#queue = undefined;
          for (const queued of queue) if (!queued.cancelled && !this.#dead) this.send(queued.pdu, false, queued.callbacks);
          this.#config.owner?.stackReady(this);
        }
        return;
      }
      case SignalCode.Ping:
        this.#write(pongFor(pdu));
        return;
      case SignalCode.Pong: {
        this.#unansweredKeepalives = 0;
        const pings = this.#pings;
        if (pings === undefined || pings.size === 0) return;
        let key = tokenKey(pdu.token);
        // RFC 8323 §5.4 says a Pong echoes the Ping's token; libcoap 4.3.1 and 4.3.4 answer with an empty one.
        // Pongs come in order, so a tokenless Pong answers the oldest Ping waiting.
        if (!pings.has(key) && pdu.token.length === 0) key = pings.keys().next().value as string;
        const waiter = pings.get(key);
        if (waiter === undefined) return;
        pings.delete(key);
        waiter.pong(this.scheduler.now() - waiter.started);
        return;
      }
      case SignalCode.Release:
        this.#die(releasedError(pdu, this.peer));
        return;
      case SignalCode.Abort:
        this.#die(abortedError(pdu, this.peer));
        return;
      default:
        return; // RFC 8323 §5: unknown signals are ignored
    }
  }

  /** Writes a signaling message (no size check: they are small, and the CSM must go before the peer's). */
  #write(pdu: CoapPdu): void {
    const frame = this.#encode(pdu);
    this.#config.trace?.('sent', frame, this.#framing);
    this.#transport.send(frame);
  }

  #encode(pdu: OutgoingPdu): Uint8Array {
    return this.#stream !== undefined ? this.#stream.encode(pdu) : encodeWsMessage(pdu);
  }

  /** Sends an Abort with `diagnostic` (and Bad-CSM-Option), then fails with `error`. */
  #abortFor(error: unknown, diagnostic: string, badCsmOption?: number): void {
    try {
      this.#write(abortPdu(diagnostic, badCsmOption));
    } catch {
      // our own diagnostic encodes; nothing else to do if it does not
    }
    this.#die(error);
  }

  /** RFC 8323 §5.6: a stream we cannot parse is aborted with a diagnostic, then closed. */
  #abort(error: CoapDecodeError): void {
    this.reportBadPacket(error);
    try {
      this.#write(abortPdu(error.message));
    } catch {
      // the diagnostic is our own text: it encodes; nothing else to do if it does not
    }
    this.#die(error);
  }

  /** The connection cannot go on: the session tears it down (and fails every exchange). */
  #die(error: unknown): void {
    if (this.#dead) return;
    this.#dead = true;
    const owner = this.#config.owner;
    if (owner !== undefined) owner.stackFailed(error);
    else this.fail(error);
  }

  /**
   * libcoap keepalive: one timer per interval. A Ping goes out when nothing came from the peer during the last
   * interval; after `failures` unanswered ones the peer is taken for dead (a silent peer never leaves a session
   * "connected" forever).
   */
  #armKeepalive(interval: number, failures: number): void {
    this.#keepaliveTimer = this.scheduler.schedule(() => {
      if (this.#dead) return;
      if (this.#receivedSinceCheck) this.#unansweredKeepalives = 0;
      else if (++this.#unansweredKeepalives > failures) {
        this.#die(new CoapTransportError(`${formatPeer(this.peer)} answered none of ${failures} keepalive pings`, { peer: this.peer, reason: 'keepalive' }));
        return;
      } else if (this.#csmReceived) this.#write(pingPdu(this.tokens.newToken()));
      this.#receivedSinceCheck = false;
      this.#armKeepalive(interval, failures);
    }, interval);
  }

  #stopTimers(): void {
    this.#csmTimer?.unsubscribe();
    this.#csmTimer = undefined;
    this.#keepaliveTimer?.unsubscribe();
    this.#keepaliveTimer = undefined;
  }
}


function noop(): void {}
