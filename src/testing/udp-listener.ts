/**
 * The test peer's UDP listener (RFC 7252): one `node:dgram` socket on loopback, piggybacked and separate
 * responses, deduplication, RST for malformed CONs and CoAP pings, and NON/CON notifications.
 */
import { createSocket, type Socket } from 'node:dgram';
import { EMPTY_CODE, MessageType, createPdu, isRequestCode, type CoapPdu } from '../codec/pdu';
import { decodeDatagram, encodeDatagram } from '../codec/udp-codec';
import { CoapDecodeError, type PeerAddress } from '../errors';
import { isUnixPeer } from '../peer-address';
import { bindLoopbackSocket, socketTypeFor, type LoopbackHost } from './loopback';
import type { ReceivedPdu, SentPdu } from './test-peer-api';
import { endpointKey, isSuppressed, type Observer, type ObserverChannel, type PeerLog, type RequestClient, type ResponseParts } from './test-peer-core';
import type { RequestFaults } from './test-peer-faults';
import type { ObserverRegistry } from './test-peer-observers';
import { DatagramReliability } from './test-peer-reliability';
import type { ResourceServer } from './test-peer-resources';
import type { PeerTimers } from './test-peer-timers';
import type { NotifyType, TestResource } from './test-resource';
import type { UnixDatagramSocket } from './unix-dgram-listener';

/** What the UDP listener shares with the rest of the peer. */
export interface UdpListenerContext {
  readonly host: LoopbackHost;
  readonly log: PeerLog;
  readonly timers: PeerTimers;
  readonly resources: ResourceServer;
  readonly observers: ObserverRegistry;
  readonly faults: RequestFaults;
  readonly isClosed: () => boolean;
}

/** Options of a {@link UdpListener}. */
export interface UdpListenerOptions {
  readonly notifyType: NotifyType;
  readonly confirmableEvery: number;
  readonly ackTimeout: number;
  readonly maxRetransmit: number;
  readonly dedupLifetime: number;
  readonly firstMessageId: number;
  /** Serve on this Unix datagram socket instead of a UDP port (`'unix-dgram'`, libcoap `-U coap -A path`). */
  readonly unix?: UnixDatagramSocket;
}

/** Serves the peer's resources over one UDP socket. */
export class UdpListener implements ObserverChannel {
  readonly #socket: Socket | undefined;
  readonly #unix: UnixDatagramSocket | undefined;
  /** What the log says it came over. */
  readonly #label: 'udp' | 'unix-dgram';
  readonly #context: UdpListenerContext;
  readonly #reliability: DatagramReliability;
  readonly #notifyType: NotifyType;
  readonly #confirmableEvery: number;
  #closing: Promise<void> | undefined;

  constructor(context: UdpListenerContext, options: UdpListenerOptions) {
    this.#context = context;
    this.#notifyType = options.notifyType;
    this.#confirmableEvery = options.confirmableEvery;
    this.#reliability = new DatagramReliability({
      ackTimeout: options.ackTimeout,
      maxRetransmit: options.maxRetransmit,
      dedupLifetime: options.dedupLifetime,
      firstMessageId: options.firstMessageId,
      stats: context.log.stats,
      timers: context.timers,
      transmit: (bytes, destination, pdu) => this.#sendBytes(bytes, destination, pdu),
    });
    this.#unix = options.unix;
    this.#label = options.unix === undefined ? 'udp' : 'unix-dgram';
    this.#socket = options.unix === undefined ? createSocket({ type: socketTypeFor(context.host), reuseAddr: false }) : undefined;
  }

  /** Binds the socket; resolves with the port (0 on a Unix socket). */
  async bind(port: number): Promise<number> {
    try {
      if (this.#unix !== undefined) {
        await this.#unix.bind((message, source) => this.#onDatagram(message, source));
        return 0;
      }
      return await bindLoopbackSocket(this.#socket!, this.#context.host, port, (message, remote) => this.#onDatagram(message, { host: remote.address, port: remote.port }));
    } catch (error) {
      // bindLoopbackSocket has closed the socket already.
      this.#closing = Promise.resolve();
      throw error;
    }
  }

  /** Stops retransmitting and closes the socket. */
  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      this.#reliability.clear();
      if (this.#unix !== undefined) void this.#unix.close().then(resolve);
      else this.#socket!.close(() => resolve());
    });
    return this.#closing;
  }

  // ---- receiving -------------------------------------------------------------------------------

  #onDatagram(message: Buffer, source: PeerAddress): void {
    if (this.#context.isClosed()) return;
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.length);
    let pdu: CoapPdu;
    try {
      pdu = decodeDatagram(bytes);
    } catch (error) {
      this.#context.log.stats.malformed++;
      // RFC 7252 §4.2: a CON with a message format error is rejected with RST; anything else is ignored.
      if (error instanceof CoapDecodeError && error.messageId !== undefined && bytes.length >= 4 && ((bytes[0] >> 4) & 3) === MessageType.CON) {
        this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: error.messageId }), source);
      }
      return;
    }
    const received: ReceivedPdu = { ...pdu, size: bytes.length, source, transport: this.#label };
    this.#context.log.record(received);

    if (pdu.type === MessageType.ACK || pdu.type === MessageType.RST) {
      const cancelled = this.#reliability.onAckOrReset(pdu, source, pdu.type === MessageType.RST);
      if (cancelled !== undefined) {
        // RFC 7641 §3.6: an RST in reply to a (NON) notification cancels the observation.
        const observer = this.#context.observers.get(cancelled);
        if (observer !== undefined) this.#context.observers.remove(observer);
      }
    } else if (pdu.code === EMPTY_CODE) {
      // RFC 7252 §4.3: an empty CON ("CoAP ping") is answered with RST; an empty NON is ignored.
      if (pdu.type === MessageType.CON) this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
    } else if (isRequestCode(pdu.code)) {
      this.#context.log.emit('request', received);
      this.#onRequest(pdu, source);
    } else if (pdu.type === MessageType.CON) {
      // A response or signal in a CON we did not ask for: reject it (RFC 7252 §4.2).
      this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
    }
  }

  #onRequest(pdu: CoapPdu, source: PeerAddress): void {
    const interception = this.#context.faults.intercept(pdu);
    if (interception !== undefined) {
      if (interception.kind === 'drop') {
        this.#context.log.stats.dropped++;
        return;
      }
      this.#context.timers.set(() => this.#handleRequest(pdu, source), interception.delay);
      return;
    }
    this.#handleRequest(pdu, source);
  }

  #handleRequest(pdu: CoapPdu, source: PeerAddress): void {
    if (this.#context.isClosed()) return;
    const stats = this.#context.log.stats;
    const clientKey = endpointKey(source);
    // RFC 7252 §4.5: a duplicate CON gets the same reply again, the handler is not re-run; a duplicate NON is ignored.
    const dedupKey = `${clientKey}|${pdu.messageId}`;
    const now = Date.now();
    const cached = this.#reliability.duplicateOf(dedupKey, now);
    if (cached !== undefined) {
      stats.duplicates++;
      if (cached.reply !== null && pdu.type === MessageType.CON) this.#sendBytes(cached.reply, source);
      return;
    }
    const entry = this.#reliability.remember(dedupKey, now);
    stats.requests++;

    const client: RequestClient = { key: clientKey, source, transport: this.#label, channel: this };
    const outcome = this.#context.resources.respond(pdu, client);
    if (outcome === 'reset') {
      entry.reply = this.#send(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: pdu.messageId }), source);
      return;
    }
    if ('kind' in outcome) {
      // RFC 7252 §5.2.2: separate response; the CON is acknowledged now, the answer follows in its own CON.
      if (pdu.type === MessageType.CON) {
        entry.reply = this.#send(createPdu({ type: MessageType.ACK, code: EMPTY_CODE, messageId: pdu.messageId }), source);
      }
      this.#context.timers.set(() => {
        const parts = outcome.produce();
        const response = createPdu({
          type: pdu.type,
          code: parts.code,
          messageId: this.#reliability.nextMessageId(),
          token: pdu.token,
          options: parts.options,
          payload: parts.payload,
        });
        const bytes = this.#send(response, source);
        if (pdu.type === MessageType.CON) this.#reliability.confirm(response, bytes, source, () => undefined, () => undefined);
      }, outcome.delay);
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
      messageId: isCon ? pdu.messageId : this.#reliability.nextMessageId(),
      token: pdu.token,
      options: outcome.options,
      payload: outcome.payload,
    });
    const bytes = this.#send(response, source);
    if (isCon) entry.reply = bytes;
  }

  // ---- notifications (ObserverChannel) ---------------------------------------------------------

  deliver(observer: Observer, parts: ResponseParts, resource: TestResource | undefined): void {
    observer.notifications++;
    this.#context.log.stats.notifications++;
    const configured = resource?.notifyType ?? this.#notifyType;
    // libcoap -N: mostly NON, but every Nth notification CON so a vanished observer is noticed (RFC 7641 §4.5).
    const confirmable = configured === 'CON' || (this.#confirmableEvery > 0 && observer.notifications % this.#confirmableEvery === 0);
    const messageId = this.#reliability.nextMessageId();
    const source = observer.client.source;
    const pdu = createPdu({
      type: confirmable ? MessageType.CON : MessageType.NON,
      code: parts.code,
      messageId,
      token: observer.token,
      options: parts.options,
      payload: parts.payload,
    });
    if (!confirmable) {
      this.#reliability.rememberNotification(`${endpointKey(source)}|${messageId}`, observer.key);
      this.#send(pdu, source);
      return;
    }
    // RFC 7641 §4.5.2: a newer notification replaces one still being retransmitted; the count carries on.
    let attemptsSoFar = 0;
    if (observer.pendingMessageId !== undefined && this.#reliability.cancel(source, observer.pendingMessageId)) attemptsSoFar = observer.attempts;
    observer.pendingMessageId = messageId;
    const bytes = this.#send(pdu, source);
    this.#reliability.confirm(
      pdu,
      bytes,
      source,
      () => {
        observer.pendingMessageId = undefined;
        observer.attempts = 0;
      },
      // An RST, or no ACK after every retransmission: the client is gone (RFC 7641 §4.5).
      () => this.#context.observers.remove(observer),
      attemptsSoFar,
      (attempts) => {
        observer.attempts = attempts;
      },
    );
  }

  removed(observer: Observer): void {
    if (observer.pendingMessageId === undefined) return;
    this.#reliability.cancel(observer.client.source, observer.pendingMessageId);
    observer.pendingMessageId = undefined;
  }

  // ---- sending ---------------------------------------------------------------------------------

  #send(pdu: CoapPdu, destination: PeerAddress): Uint8Array {
    const bytes = encodeDatagram(pdu);
    this.#sendBytes(bytes, destination, pdu);
    return bytes;
  }

  #sendBytes(bytes: Uint8Array, destination: PeerAddress, pdu?: CoapPdu): void {
    if (this.#context.isClosed()) return;
    // Each socket kind answers its own kind of peer (a UDP socket only ever sees IP sources, a Unix one paths).
    if (isUnixPeer(destination)) this.#unix?.send(bytes, destination.path);
    else this.#socket?.send(bytes, destination.port, destination.host);
    const log = this.#context.log;
    if (log.has('sent')) {
      const sent: SentPdu = { ...(pdu ?? decodeDatagram(bytes)), size: bytes.length, destination, transport: this.#label };
      log.emit('sent', sent);
    }
  }
}
