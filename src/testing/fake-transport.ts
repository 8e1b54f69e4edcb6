/**
 * A transport with no socket, for tests in virtual time: it records every datagram the session sends (with
 * the scheduler's time) and lets the test deliver datagrams as if the peer sent them, or answer through a
 * scripted `respond` function. Use it with `ctx.newClientSession({ server, transport: fake.factory })`.
 */
import { Observable, Subject, type SchedulerLike } from 'rxjs';
import type { PeerAddress } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import { decodeDatagram, encodeDatagram } from '../codec/udp-codec';
import type { Transport, TransportEvent, TransportFactory } from '../transport/transport';
import { useDatagramStack } from '../session/use-datagram-stack';

/** One datagram the session sent. */
export interface SentDatagram {
  /** `scheduler.now()` when it was sent. */
  readonly time: number;
  readonly frame: Uint8Array;
  /** The decoded message (undefined when the frame is not CoAP). */
  readonly pdu: CoapPdu | undefined;
}

/** Options of {@link createFakeTransport}. */
export interface FakeTransportOptions {
  /** Time source for `sent[].time`; the same scheduler the context uses. */
  readonly scheduler: SchedulerLike;
  /**
   * Scripted peer: called for every datagram sent; return PDUs (or raw frames) to deliver back, at once or,
   * with `{ delay, reply }`, after `delay` milliseconds on the scheduler.
   */
  readonly respond?: (pdu: CoapPdu, sent: SentDatagram) => FakeReply | readonly FakeReply[] | undefined;
  readonly remote?: PeerAddress;
  /** Per-frame overhead to report (e.g. 29 to look like DTLS). @defaultValue 0 */
  readonly maxFrameOverhead?: number;
  /** Milliseconds the "connect" takes. @defaultValue 0 */
  readonly connectDelay?: number;
}

/** A reply of the scripted peer. */
export type FakeReply = CoapPdu | Uint8Array | { readonly delay: number; readonly reply: CoapPdu | Uint8Array };

/** The fake transport and its controls. */
export interface FakeTransport {
  /** Pass as the session's `transport` option. */
  readonly factory: TransportFactory;
  /** Every datagram sent, in order. */
  readonly sent: SentDatagram[];
  /**
   * Each datagram as it is sent (hot: only those sent while subscribed), for marbles:
   * `expectObservable(sentFrames(fake))` (see `testing/marbles.ts`).
   */
  readonly sent$: Observable<SentDatagram>;
  /** Delivers a datagram as if from the peer. */
  deliver(reply: CoapPdu | Uint8Array): void;
  /** Fails the open connection (like ICMP unreachable or a lost DTLS session). */
  fail(error: Error): void;
  /** Times the factory was subscribed (connections opened). */
  readonly connections: number;
  /** True while a connection is open. */
  readonly open: boolean;
}

const LOCAL: PeerAddress = { host: '127.0.0.1', port: 40000 };

/** Creates a fake datagram transport. */
export function createFakeTransport(options: FakeTransportOptions): FakeTransport {
  // Its frames are datagrams: sessions on it run the message layer, in a browser test runner too.
  useDatagramStack();
  const sent: SentDatagram[] = [];
  const sent$ = new Subject<SentDatagram>();
  const remote = options.remote ?? { host: '127.0.0.1', port: 5683 };
  let frames: Subject<Uint8Array> | undefined;
  let failConnection: ((error: Error) => void) | undefined;
  let connections = 0;
  const toFrame = (reply: CoapPdu | Uint8Array): Uint8Array => (reply instanceof Uint8Array ? reply : encodeDatagram(reply));
  const deliver = (reply: CoapPdu | Uint8Array): void => frames?.next(toFrame(reply));

  const factory: TransportFactory = () =>
    new Observable<Transport>((subscriber) => {
      connections++;
      const inbound = new Subject<Uint8Array>();
      const events = new Subject<TransportEvent>();
      frames = inbound;
      failConnection = (error) => subscriber.error(error);
      const transport: Transport = {
        frames$: inbound.asObservable(),
        events$: events.asObservable(),
        send(frame) {
          let pdu: CoapPdu | undefined;
          try {
            pdu = decodeDatagram(frame);
          } catch {
            pdu = undefined;
          }
          const record = { time: options.scheduler.now(), frame, pdu };
          sent.push(record);
          sent$.next(record);
          if (pdu === undefined || options.respond === undefined) return;
          const replies = options.respond(pdu, record);
          if (replies === undefined) return;
          for (const reply of Array.isArray(replies) ? replies : [replies]) {
            if (reply instanceof Uint8Array || 'code' in reply) deliver(reply as CoapPdu | Uint8Array);
            else subscriber.add(options.scheduler.schedule(() => deliver(reply.reply), reply.delay));
          }
        },
        maxFrameOverhead: options.maxFrameOverhead ?? 0,
        reliable: false,
        local: LOCAL,
        remote,
      };
      const open = (): void => {
        subscriber.next(transport);
        events.next({ type: 'connected', local: LOCAL, remote });
      };
      if ((options.connectDelay ?? 0) > 0) subscriber.add(options.scheduler.schedule(open, options.connectDelay));
      else open();
      return () => {
        if (frames === inbound) {
          frames = undefined;
          failConnection = undefined;
        }
        inbound.complete();
        events.complete();
      };
    });

  return {
    factory,
    sent,
    sent$: sent$.asObservable(),
    deliver,
    fail: (error) => failConnection?.(error),
    get connections() {
      return connections;
    },
    get open() {
      return frames !== undefined;
    },
  };
}
