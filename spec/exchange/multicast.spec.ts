/**
 * Multicast requests (RFC 7252 §8) in virtual time on a fake group of members: NON only, every answer emitted
 * with its member's address until the leisure window (DEFAULT_LEISURE 5 s + ACK_TIMEOUT 2 s) ends, then
 * completion; unsubscribing stops early; answers matched by token from any address; replies to the member;
 * per-member deduplication; the hop limit.
 */
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext, DEFAULT_LEISURE } from '../../src/context';
import { MessageType, ResponseCode, createPdu, type CoapPdu } from '../../src/codec/pdu';
import { encodeString } from '../../src/codec/option-values';
import type { IpPeerAddress } from '../../src/errors';
import { formatPeer, isMulticastHost } from '../../src/peer-address';
import type { ClientSessionOptions } from '../../src/session/session-options';
import { udpMulticastTransport } from '../../src/transport/udp-multicast';
import { createFakeMulticast, type MemberAnswer } from '../helpers/fake-multicast';
import { collect } from '../helpers/fake-session';

const GROUP: IpPeerAddress = { host: '224.0.1.187', port: 5683 };
const A: IpPeerAddress = { host: '10.0.0.1', port: 5683 };
const B: IpPeerAddress = { host: '10.0.0.2', port: 5683 };
const C: IpPeerAddress = { host: '10.0.0.3', port: 5683 };

const answer = (request: CoapPdu, text: string, messageId: number, type: MessageType = MessageType.NON, token = request.token): CoapPdu =>
  createPdu({ type, code: ResponseCode.Content, messageId, token, payload: encodeString(text) });

function setup(respond: (request: CoapPdu) => readonly MemberAnswer[] = () => [], options: Partial<ClientSessionOptions> = {}, refuseHops = false) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const fake = createFakeMulticast(scheduler, GROUP, respond, refuseHops);
  const ctx = new CoapContext({ scheduler, random: () => 0 });
  const session = ctx.newClientSession({ server: 'coap://224.0.1.187', transport: fake.factory, ...options });
  return { scheduler, fake, ctx, session };
}

/** Three members answering after 100, 500 and 5000 ms. */
const threeMembers = (request: CoapPdu): MemberAnswer[] => [
  { from: A, delay: 100, reply: answer(request, 'a', 1) },
  { from: B, delay: 500, reply: answer(request, 'b', 1) }, // the same MID as A's: another endpoint, not a duplicate
  { from: C, delay: 5000, reply: answer(request, 'c', 7) },
];

const described = map((response: { remote: unknown; text(): string }) => `${formatPeer(response.remote as IpPeerAddress)} ${response.text()}`);

describe('multicast requests (RFC 7252 §8)', () => {
  it('knows the groups: IPv4 224.0.0.0/4 and IPv6 ff00::/8, not host names', () => {
    for (const group of ['224.0.1.187', '239.255.255.250', 'ff02::fd', 'ff05::fd', 'FF02::FD%eth0']) expect(isMulticastHost(group)).toBe(true);
    for (const unicast of ['223.255.255.255', '240.0.0.1', '127.0.0.1', '::1', 'fe80::1', 'ff.example', 'localhost']) expect(isMulticastHost(unicast)).toBe(false);
  });

  it('emits every member\'s answer with its address, then completes when the leisure window ends (5 s + 2 s)', () => {
    const { scheduler, fake, session } = setup(threeMembers);
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.get('/.well-known/core').pipe(described)).toBe('100ms a 399ms b 4499ms c 1999ms |', {
        a: '10.0.0.1:5683 a',
        b: '10.0.0.2:5683 b',
        c: '10.0.0.3:5683 c',
      });
    });
    expect(DEFAULT_LEISURE).toBe(5000);
    // One NON to the group, nothing else (NON answers need no ACK).
    expect(fake.sent.map((s) => [s.pdu.type, s.to])).toEqual([[MessageType.NON, GROUP]]);
  });

  it('takes leisure from the session options', () => {
    const { scheduler, session } = setup(threeMembers, { leisure: 1000 });
    scheduler.run(({ expectObservable }) => {
      // Window 1000 + 2000: C's answer at 5 s comes too late and is not emitted.
      expectObservable(session.get('/').pipe(described)).toBe('100ms a 399ms b 2499ms |', { a: '10.0.0.1:5683 a', b: '10.0.0.2:5683 b' });
    });
  });

  it('stops early on unsubscribe: a later answer gets an RST, sent to that member and not to the group', () => {
    const { scheduler, fake, session } = setup(threeMembers);
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.get('/').pipe(described), '^ 1000ms !').toBe('100ms a 399ms b', { a: '10.0.0.1:5683 a', b: '10.0.0.2:5683 b' });
    });
    const after = fake.sent.slice(1);
    expect(after.map((s) => [s.time, s.pdu.type, s.to])).toEqual([[5000, MessageType.RST, C]]);
  });

  it('takes answers from any address, but only with its token (another token: RST to that sender, not emitted)', () => {
    const { scheduler, fake, session } = setup((request) => [
      { from: A, delay: 100, reply: answer(request, 'stray', 2, MessageType.NON, Uint8Array.of(1, 2, 3)) },
      { from: B, delay: 200, reply: answer(request, 'ours', 3) },
    ]);
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.get('/').pipe(described)).toBe('200ms b 6799ms |', { b: '10.0.0.2:5683 ours' });
    });
    expect(fake.sent.slice(1).map((s) => [s.pdu.type, s.pdu.messageId, s.to])).toEqual([[MessageType.RST, 2, A]]);
  });

  it('de-duplicates per member: the same datagram twice from A once, the same MID from B emitted', () => {
    const { scheduler, session } = setup((request) => [
      { from: A, delay: 100, reply: answer(request, 'a', 9) },
      { from: A, delay: 150, reply: answer(request, 'a again', 9) },
      { from: B, delay: 200, reply: answer(request, 'b', 9) },
    ]);
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.get('/').pipe(described)).toBe('100ms a 99ms b 6799ms |', { a: '10.0.0.1:5683 a', b: '10.0.0.2:5683 b' });
    });
  });

  it('acknowledges a CON answer to the member that sent it', () => {
    const { scheduler, fake, session } = setup((request) => [{ from: B, delay: 300, reply: answer(request, 'b', 40, MessageType.CON) }]);
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.get('/').pipe(described)).toBe('300ms b 6699ms |', { b: '10.0.0.2:5683 b' });
    });
    expect(fake.sent.slice(1).map((s) => [s.time, s.pdu.type, s.pdu.messageId, s.to])).toEqual([[300, MessageType.ACK, 40, B]]);
  });

  it('sends NON only: confirmable: true is a CoapArgumentError on the Observable, as are observe and ping', () => {
    const { fake, session } = setup();
    const con = collect(session.get('/', { confirmable: true }));
    expect(con.error).toMatchObject({ name: 'CoapArgumentError', field: 'confirmable', message: expect.stringContaining('NON only') });
    expect(collect(session.observe('/time')).error).toMatchObject({ name: 'CoapArgumentError' });
    expect(collect(session.ping()).error).toMatchObject({ name: 'CoapArgumentError', message: expect.stringContaining('multicast') });
    expect(fake.sent).toEqual([]);
    collect(session.get('/', { confirmable: false }));
    expect(fake.sent.map((s) => s.pdu.type)).toEqual([MessageType.NON]);
  });

  it('sets the hop limit: 1 by default when the socket opens, then what setMcastHops says', () => {
    const { fake, session } = setup();
    expect(session.setMcastHops(4)).toBe(true); // before connecting: kept for the socket
    collect(session.get('/'));
    expect(fake.hops).toEqual([4]);
    expect(session.setMcastHops(32)).toBe(true);
    expect(fake.hops).toEqual([4, 32]);
    expect(() => session.setMcastHops(256)).toThrow(expect.objectContaining({ name: 'CoapArgumentError', field: 'hops' }));
    expect(() => session.setMcastHops(1.5)).toThrow(expect.objectContaining({ name: 'CoapArgumentError' }));
    const fresh = setup();
    collect(fresh.session.get('/'));
    expect(fresh.fake.hops).toEqual([1]);
  });

  it('returns false from setMcastHops when it cannot: a unicast session, or a socket that refuses', () => {
    const refusing = setup(undefined, {}, true);
    collect(refusing.session.get('/'));
    expect(refusing.session.setMcastHops(8)).toBe(false);
    const unicast = new CoapContext().newClientSession({ server: 'coap://127.0.0.1', transport: refusing.fake.factory });
    expect(unicast.setMcastHops(8)).toBe(false);
  });

  it('checks the multicast transport\'s arguments at once', () => {
    expect(() => udpMulticastTransport({ group: '10.0.0.1' })).toThrow(expect.objectContaining({ name: 'CoapArgumentError', field: 'server' }));
    expect(() => udpMulticastTransport({ group: 'ff02::fd%eth0', hops: 300 })).toThrow(expect.objectContaining({ field: 'hops' }));
    expect(typeof udpMulticastTransport({ group: 'ff02::fd%eth0' })).toBe('function');
  });

  it('refuses multicast over anything but coap://', () => {
    const ctx = new CoapContext();
    const transport = createFakeMulticast(new TestScheduler(() => undefined), GROUP).factory;
    expect(() => ctx.newClientSession({ server: 'coap+tcp://224.0.1.187', transport })).toThrow(/coap:\/\/ \(UDP\) only/);
    expect(() => ctx.newClientSession({ server: 'coap://[ff02::fd]', leisure: -1 })).toThrow(expect.objectContaining({ field: 'leisure' }));
  });
});
