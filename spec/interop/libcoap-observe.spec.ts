/**
 * Observe (RFC 7641) against libcoap's `coap-server-notls`: `/time` notifies every second, `/example_data`
 * on every PUT. Checks that unsubscribing really removes the observer on the server (nothing more reaches
 * the client socket), that a change made by another client is notified, and the `-N` mode (NON
 * notifications with every fifth one CON, which the client must ACK).
 */
import { firstValueFrom, filter, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapContext, MessageType, OptionNumber, decodeDatagram, decodeUint, getOption, type CoapPdu, type SessionEvent } from '../../src/node';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

jest.setTimeout(20_000);

interface Datagram {
  readonly direction: 'sent' | 'received';
  readonly at: number;
  readonly pdu: CoapPdu;
}

/** A context that records every datagram its sessions send and receive. */
function tracingContext(): { context: CoapContext; datagrams: Datagram[] } {
  const datagrams: Datagram[] = [];
  const context = new CoapContext({
    logger: { pdu: (direction, frame) => datagrams.push({ direction, at: performance.now(), pdu: decodeDatagram(frame.slice()) }) },
  });
  return { context, datagrams };
}

const observeOf = (pdu: CoapPdu): number | undefined => {
  const value = getOption(pdu, OptionNumber.Observe);
  return value === undefined ? undefined : decodeUint(value);
};
const sameToken = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeInterop('Observe with coap-server-notls', 'notls', () => {
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('observes /time for a few notifications, then deregisters and the server stops notifying', async () => {
    const { context, datagrams } = tracingContext();
    try {
      const session = context.newClientSession({ server: `coap://127.0.0.1:${server.port}` });
      const events: SessionEvent[] = [];
      session.events$.subscribe((event) => events.push(event));
      const notifications = await lastValueFrom(session.observe('/time').pipe(take(3), toArray(), timeout(10_000)));
      const unsubscribedAt = performance.now();
      expect(notifications.map((n) => n.codeText)).toEqual(['2.05', '2.05', '2.05']);
      const sequence = notifications.map((n) => n.observe!);
      expect(sequence.every((value) => typeof value === 'number')).toBe(true);
      expect(sequence[1]).toBeGreaterThan(sequence[0]);
      expect(sequence[2]).toBeGreaterThan(sequence[1]);
      notifications.forEach((n) => expect(n.text()).toMatch(/\d\d:\d\d:\d\d/));

      const token = notifications[0].token;
      // RFC 7641 §3.6: a GET with Observe=1 and the same token.
      const deregistration = datagrams.find((d) => d.direction === 'sent' && d.pdu.code === 1 && observeOf(d.pdu) === 1);
      expect(deregistration).toBeDefined();
      expect(sameToken(deregistration!.pdu.token, token)).toBe(true);

      // Watch the socket for 2 s: after the deregistration's answer nothing more arrives for that token.
      await delay(2000);
      const later = datagrams.filter((d) => d.direction === 'received' && d.at > unsubscribedAt + 300 && sameToken(d.pdu.token, token));
      expect(later).toEqual([]);
      const lateNotifications = datagrams.filter((d) => d.direction === 'received' && d.at > unsubscribedAt + 300 && observeOf(d.pdu) !== undefined);
      expect(lateNotifications).toEqual([]);
      expect(events.filter((e) => e.type === 'rejected')).toHaveLength(0);
    } finally {
      await context.free();
    }
  });

  it('notifies a change that another session PUTs to /example_data', async () => {
    const { context } = tracingContext();
    try {
      const observer = context.newClientSession({ server: `coap://127.0.0.1:${server.port}` });
      const writer = context.newClientSession({ server: `coap://127.0.0.1:${server.port}` });
      await lastValueFrom(writer.put('/example_data', { payload: 'before' }));
      const seen: string[] = [];
      const updated = firstValueFrom(
        observer.observe('/example_data').pipe(
          filter((n) => (seen.push(n.text()), n.text() === 'after')),
          timeout(5000),
        ),
      );
      // Wait for the registration to be answered before changing the value.
      await firstValueFrom(observer.observe('/example_data').pipe(timeout(5000)));
      const put = await lastValueFrom(writer.put('/example_data', { payload: 'after' }));
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      const notification = await updated;
      expect(notification.codeText).toBe('2.05');
      expect(notification.observe).toBeDefined();
      expect(seen).toEqual(['before', 'after']);
    } finally {
      await context.free();
    }
  });
});

describeInterop('Observe with coap-server-notls -N (NON notifications)', 'notls', () => {
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls', args: ['-N'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('receives NON notifications, every fifth one CON, and ACKs the CON ones', async () => {
    const { context, datagrams } = tracingContext();
    try {
      const session = context.newClientSession({ server: `coap://127.0.0.1:${server.port}` });
      // The registration response and 6 notifications (one per second).
      const responses = await lastValueFrom(session.observe('/time').pipe(take(7), toArray(), timeout(15_000)));
      expect(responses.map((r) => r.codeText)).toEqual(Array(7).fill('2.05'));
      const notifications = responses.slice(1);
      const types = notifications.map((n) => n.typeName);
      expect(types.filter((type) => type === 'NON').length).toBeGreaterThanOrEqual(4);
      expect(types).toContain('CON');
      for (const confirmable of notifications.filter((n) => n.type === MessageType.CON)) {
        const ack = datagrams.find((d) => d.direction === 'sent' && d.pdu.type === MessageType.ACK && d.pdu.messageId === confirmable.messageId);
        expect(ack?.pdu.code).toBe(0);
      }
      const sequence = responses.map((r) => r.observe!);
      for (let i = 1; i < sequence.length; i++) expect(sequence[i]).toBeGreaterThan(sequence[i - 1]);
    } finally {
      await context.free();
    }
  });
});
