/**
 * A fake multicast transport in virtual time: requests go to a group, each scripted member answers from its own
 * address after its own delay, and what the session sends back (ACKs, RSTs) is recorded with where it went
 * (`reply` goes to the member whose datagram is being handled, `send` to the group).
 */
import { Observable, Subject, type SchedulerLike } from 'rxjs';
import type { IpPeerAddress, PeerAddress } from '../../src/errors';
import type { CoapPdu } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import type { Transport, TransportFactory } from '../../src/transport/transport';
import { useDatagramStack } from '../../src/session/use-datagram-stack';

/** One datagram the session sent, and to whom. */
export interface SentTo {
  readonly time: number;
  readonly pdu: CoapPdu;
  /** The group (a request) or a member (a reply). */
  readonly to: PeerAddress;
}

/** A scripted answer: from which member, after how long, what. */
export interface MemberAnswer {
  readonly from: IpPeerAddress;
  readonly delay: number;
  readonly reply: CoapPdu;
}

/** The fake transport and its controls. */
export interface FakeMulticast {
  readonly factory: TransportFactory;
  readonly sent: SentTo[];
  /** Hop limits the session set, in order. */
  readonly hops: number[];
  /** Delivers a datagram from `from` now. */
  deliver(from: IpPeerAddress, pdu: CoapPdu): void;
}

/**
 * @param respond - called for each request sent to the group: the members' answers
 * @param refuseHops - make `setMulticastHops` fail (a socket that refuses)
 */
export function createFakeMulticast(
  scheduler: SchedulerLike,
  group: IpPeerAddress,
  respond: (request: CoapPdu) => readonly MemberAnswer[] = () => [],
  refuseHops = false,
): FakeMulticast {
  useDatagramStack(); // datagrams: sessions on it run the message layer (as createFakeTransport does)
  const sent: SentTo[] = [];
  const hops: number[] = [];
  let frames: Subject<Uint8Array> | undefined;
  let source: IpPeerAddress = group;
  const deliver = (from: IpPeerAddress, pdu: CoapPdu): void => {
    source = from;
    frames?.next(encodeDatagram(pdu));
    source = group;
  };
  const factory: TransportFactory = () =>
    new Observable<Transport>((subscriber) => {
      const inbound = (frames = new Subject<Uint8Array>());
      const transport: Transport = {
        frames$: inbound.asObservable(),
        events$: new Observable(),
        multicast: true,
        frameSource: () => source,
        send(frame) {
          const pdu = decodeDatagram(frame);
          sent.push({ time: scheduler.now(), pdu, to: group });
          // Members answer requests only (a reply the session wrongly sent to the group is just recorded).
          if (pdu.code < 1 || pdu.code > 31) return;
          for (const answer of respond(pdu)) subscriber.add(scheduler.schedule(() => deliver(answer.from, answer.reply), answer.delay));
        },
        reply(frame) {
          sent.push({ time: scheduler.now(), pdu: decodeDatagram(frame), to: source });
        },
        setMulticastHops(value) {
          if (refuseHops) return false;
          hops.push(value);
          return true;
        },
        maxFrameOverhead: 0,
        reliable: false,
        local: { host: '0.0.0.0', port: 40000 },
        remote: group,
      };
      subscriber.next(transport);
      return () => {
        inbound.complete();
        if (frames === inbound) frames = undefined;
      };
    });
  return { factory, sent, hops, deliver };
}
