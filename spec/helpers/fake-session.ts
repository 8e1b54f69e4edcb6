/**
 * A session on the fake datagram transport in virtual time, and a collector for what an Observable emits: the
 * set-up the session specs share.
 */
import type { Observable, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { MessageType } from '../../src/codec/pdu';
import { createFakeTransport, type FakeTransportOptions } from '../../src/testing/fake-transport';
import type { SessionEvent } from '../../src/session/session-events';

/**
 * A context (no jitter: `random: () => 0`) and one `coap://` session on a fake transport whose scripted server
 * answers requests (and pings), never the client's own ACKs and RSTs; `events` collects the session's events.
 */
export function fakeSession(respond?: FakeTransportOptions['respond'], contextOptions: ConstructorParameters<typeof CoapContext>[0] = {}) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const fake = createFakeTransport({
    scheduler,
    respond: respond && ((pdu, sent) => (pdu.type === MessageType.ACK || pdu.type === MessageType.RST ? undefined : respond(pdu, sent))),
  });
  const ctx = new CoapContext({ scheduler, random: () => 0, ...contextOptions });
  const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
  const events: SessionEvent[] = [];
  session.events$.subscribe((e) => events.push(e));
  return { scheduler, fake, ctx, session, events };
}

/** What `source` emits, its error and completion, as they happen (subscribed at once). */
export function collect<T>(source: Observable<T>) {
  const out: { values: T[]; error?: any; done: boolean; sub?: Subscription } = { values: [], done: false };
  out.sub = source.subscribe({ next: (v) => out.values.push(v), error: (e) => (out.error = e), complete: () => (out.done = true) });
  return out;
}
