/**
 * Watches one session's frames for the watchdog (session-driver.ts): progress is a new request message (a
 * retransmission is not), and an answer is a response that matches the latest request (a piggybacked ACK with
 * its message ID and token, or a CON/NON with its token and a message ID not seen before). Wraps a transport
 * factory without adding any error handling: a throw in the session's receive path stays what it is.
 */
import { isUnixPeer } from '../src/peer-address';
import { Observable, map } from 'rxjs';
import type { Transport, TransportFactory } from '../src/transport/transport';
import { MessageType, tokenToHex, type CoapPdu } from '../src/codec/pdu';
import { decodeDatagram } from '../src/codec/udp-codec';
import type { Clock } from './session-driver';
import { hex } from './tally';

/** A response that answered a request of the session: it must be acted upon (emitted, or the next message sent). */
export interface MatchedResponse {
  /** Clock time it arrived. */
  readonly time: number;
  /** Its place in the probe's sequence of events (times can be equal, in virtual time always are). */
  readonly sequence: number;
  /** When its token was first sent (tells which request it belongs to). */
  readonly tokenFirstSent: number;
  /** A piggybacked response for a message already acknowledged by an empty ACK (RFC 7252 §5.3.2 still matches it). */
  readonly afterEmptyAck: boolean;
  readonly frame: Uint8Array;
}

/**
 * Frames in and out of one session, with two markers for the watchdog: progress (the last new request message
 * sent) and the last response that answered one of them (a piggybacked ACK with the request's message ID and
 * token, or a CON/NON response with a request token and a message ID not seen before).
 */
export class TransportProbe {
  /** Clock time of the last new request message sent (a CON/NON request or a ping with a new message ID). */
  lastRequestAt = 0;
  /** {@link TransportProbe.sequence} of that message. */
  lastRequestSequence = 0;
  #sequence = 0;
  /** The last response that matched a request of this session. */
  lastMatched: MatchedResponse | undefined;
  /** The last frames sent and received (time, bytes), for failure reports. */
  readonly sent: { time: number; frame: Uint8Array }[] = [];
  readonly received: { time: number; frame: Uint8Array }[] = [];
  /** Message ID -> token (hex) of recent new request messages. */
  readonly #requests = new Map<number, string>();
  /** Token (hex) -> when it was first sent. */
  readonly #tokens = new Map<string, number>();
  /** The latest new request message. */
  #latest: { messageId: number; token: string } | undefined;
  /** Message IDs of recent empty ACKs received. */
  readonly #emptyAcked: number[] = [];
  /** Message IDs of recent CON/NON messages received (a repeat is a duplicate, not an answer). */
  readonly #receivedIds: number[] = [];
  readonly #clock: Clock;
  /** Called with every frame received, before the session sees it. */
  onReceive: ((frame: Uint8Array) => void) | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  recordSent(frame: Uint8Array): void {
    const now = this.#clock.now();
    keep(this.sent, { time: now, frame });
    if (frame.length < 4 || frame[0] >> 6 !== 1) return;
    const type = (frame[0] >> 4) & 3;
    const code = frame[1];
    if (!((code >= 1 && code <= 31) || (code === 0 && type === 0))) return; // ACKs and RSTs are not progress
    const messageId = (frame[2] << 8) | frame[3];
    if (this.#requests.has(messageId)) return; // a retransmission
    const token = tokenOf(frame);
    remember(this.#requests, messageId, token);
    if (!this.#tokens.has(token)) remember(this.#tokens, token, now);
    // A ping (code 0.00) has no token and no response: nothing can answer it but an RST.
    this.#latest = code === 0 ? undefined : { messageId, token };
    this.lastRequestAt = now;
    this.lastRequestSequence = this.next();
  }

  /** A number larger than every one handed out before: orders events that happen at the same time. */
  next(): number {
    return ++this.#sequence;
  }

  recordReceived(frame: Uint8Array): void {
    const now = this.#clock.now();
    keep(this.received, { time: now, frame });
    this.onReceive?.(frame);
    // A CON/NON whose message ID came before is a duplicate to the client (RFC 7252 §4.5), even when the first
    // copy was garbage: the peer broke the rules, and the client rightly answers both copies the same way.
    let duplicate = false;
    const type = frame.length >= 4 && frame[0] >> 6 === 1 ? (frame[0] >> 4) & 3 : -1;
    if (type === MessageType.CON || type === MessageType.NON) {
      const messageId = (frame[2] << 8) | frame[3];
      duplicate = this.#receivedIds.includes(messageId);
      this.#receivedIds.push(messageId);
      if (this.#receivedIds.length > 64) this.#receivedIds.shift();
    }
    let pdu: CoapPdu;
    try {
      pdu = decodeDatagram(frame);
    } catch {
      return;
    }
    if (pdu.type === MessageType.ACK && pdu.code === 0) {
      this.#emptyAcked.push(pdu.messageId);
      if (this.#emptyAcked.length > 16) this.#emptyAcked.shift();
    }
    const codeClass = pdu.code >> 5;
    if (codeClass < 2 || codeClass > 5) return;
    const token = tokenToHex(pdu.token);
    // Only an answer to the latest request message counts: earlier exchanges (an earlier block, an observation
    // that ended) are over, and the client rightly rejects what still comes for them.
    const latest = this.#latest;
    if (pdu.type === MessageType.CON || pdu.type === MessageType.NON) {
      if (duplicate || latest === undefined || token !== latest.token) return;
    } else if (pdu.type !== MessageType.ACK || latest === undefined || pdu.messageId !== latest.messageId || token !== latest.token) return;
    const afterEmptyAck = pdu.type === MessageType.ACK && this.#emptyAcked.includes(pdu.messageId);
    this.lastMatched = { time: now, sequence: this.next(), tokenFirstSent: this.#tokens.get(token)!, afterEmptyAck, frame };
  }

  /** The last frames each way, as text. */
  describe(start: number): string {
    const line = (direction: string, entry: { time: number; frame: Uint8Array }): string => `    ${direction} +${Math.round(entry.time - start)} ms: ${hex(entry.frame, 48)}`;
    return [...this.sent.map((entry) => line('sent', entry)), ...this.received.map((entry) => line('recv', entry))].join('\n');
  }
}

function tokenOf(frame: Uint8Array): string {
  const length = frame[0] & 0x0f;
  return length > 8 ? '?' : tokenToHex(frame.subarray(4, 4 + length));
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > 32) map.delete(map.keys().next().value as K);
}

function keep<T>(ring: T[], value: T): void {
  ring.push(value);
  if (ring.length > 4) ring.shift();
}

/** What a probed transport reports to: every frame each way, and (for streams) the connection's local port. */
export interface FrameRecorder {
  recordSent(frame: Uint8Array): void;
  recordReceived(frame: Uint8Array): void;
  opened?(localPort: number): void;
}

/** A transport that reports its frames (datagrams or stream chunks) to a probe; everything else passes through. */
export class ProbedTransport implements Transport {
  readonly #inner: Transport;
  readonly #probe: FrameRecorder;

  constructor(inner: Transport, probe: FrameRecorder) {
    this.#inner = inner;
    this.#probe = probe;
    probe.opened?.(isUnixPeer(inner.local) ? 0 : inner.local.port);
  }

  get frames$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((subscriber) =>
      this.#inner.frames$.subscribe({
        next: (frame) => {
          this.#probe.recordReceived(frame);
          subscriber.next(frame);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
  }

  send(frame: Uint8Array): void {
    this.#probe.recordSent(frame);
    this.#inner.send(frame);
  }

  get events$() {
    return this.#inner.events$;
  }
  get maxFrameOverhead() {
    return this.#inner.maxFrameOverhead;
  }
  get reliable() {
    return this.#inner.reliable;
  }
  get framing() {
    return this.#inner.framing;
  }
  get local() {
    return this.#inner.local;
  }
  get remote() {
    return this.#inner.remote;
  }
}

/** Wraps a transport factory so its frames are reported to `probe`. */
export function probedTransport(factory: TransportFactory, probe: TransportProbe): TransportFactory {
  return () => factory().pipe(map((transport) => new ProbedTransport(transport, probe)));
}

