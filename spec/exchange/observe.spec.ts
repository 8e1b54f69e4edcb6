/**
 * Observe (RFC 7641) in virtual time: a fake transport plays the server, a TestScheduler drives every timer,
 * and `random: () => 0` removes the retransmission jitter. Covers registration, ordering and freshness
 * (§3.4, with 24-bit wrap-around and the 128 s rule), the end of an observation (§3.2, §4.2), re-registration
 * on Max-Age silence (§3.3.1), cancellation (§3.6), sharing one registration per target, and release.
 */
import { Subscription, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { CoapTransportError } from '../../src/errors';
import { MessageType, Method, ResponseCode, createPdu, getOption, getOptions, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeString, decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { OBSERVE_FRESHNESS_WINDOW, isFresher } from '../../src/exchange/observe-freshness';
import type { CoapResponse } from '../../src/exchange/response';
import { createFakeTransport, type SentDatagram } from '../../src/testing/fake-transport';
import type { SessionEvent } from '../../src/session/session-events';

interface ServerScript {
  /** Observe number of the next registration response; undefined = the server does not accept observations. */
  nextSequence?: number;
  /** Max-Age (seconds) on registration responses. */
  maxAge?: number;
  /** Milliseconds before the answer to a deregistration (a network round trip). @defaultValue 20 */
  deregistrationDelay?: number;
}

/** A fake server: registrations get a piggybacked 2.05 with Observe, deregistrations a 2.05 without it. */
function setup(script: ServerScript = { nextSequence: 1 }) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const fake = createFakeTransport({
    scheduler,
    respond: (pdu) => {
      if (pdu.type === MessageType.ACK || pdu.type === MessageType.RST || pdu.code === 0) return undefined;
      const observe = getOption(pdu, OptionNumber.Observe);
      const registering = observe !== undefined && decodeUint(observe) === 0;
      const options: CoapOption[] = [];
      if (registering && script.nextSequence !== undefined) {
        options.push({ number: OptionNumber.Observe, value: encodeUint(script.nextSequence) });
        script.nextSequence = (script.nextSequence + 1) & 0xffffff;
      }
      if (script.maxAge !== undefined) options.push({ number: OptionNumber.MaxAge, value: encodeUint(script.maxAge) });
      const response = createPdu({
        type: pdu.type === MessageType.CON ? MessageType.ACK : MessageType.NON,
        code: ResponseCode.Content,
        messageId: pdu.type === MessageType.CON ? pdu.messageId : 0x7000,
        token: pdu.token,
        options,
        payload: encodeString(registering ? 'registered' : 'deregistered'),
      });
      const delay = registering ? 0 : (script.deregistrationDelay ?? 20);
      return delay === 0 ? response : { delay, reply: response };
    },
  });
  const ctx = new CoapContext({ scheduler, random: () => 0 });
  const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
  const events: SessionEvent[] = [];
  session.events$.subscribe((e) => events.push(e));
  return { scheduler, fake, ctx, session, events };
}

function collect<T>(source: Observable<T>) {
  const out: { values: T[]; error?: any; done: boolean; sub?: Subscription } = { values: [], done: false };
  out.sub = source.subscribe({ next: (v) => out.values.push(v), error: (e) => (out.error = e), complete: () => (out.done = true) });
  return out;
}

const texts = (responses: readonly CoapResponse[]): string[] => responses.map((r) => r.text());

/** A notification from the server for `token`. */
function notification(
  token: Uint8Array,
  sequence: number | undefined,
  text: string,
  init: { type?: MessageType; messageId?: number; code?: number; maxAge?: number } = {},
): CoapPdu {
  const options: CoapOption[] = [];
  if (sequence !== undefined) options.push({ number: OptionNumber.Observe, value: encodeUint(sequence) });
  if (init.maxAge !== undefined) options.push({ number: OptionNumber.MaxAge, value: encodeUint(init.maxAge) });
  return createPdu({
    type: init.type ?? MessageType.NON,
    code: init.code ?? ResponseCode.Content,
    messageId: init.messageId ?? (0x5000 + (sequence ?? 0)) & 0xffff,
    token,
    options,
    payload: encodeString(text),
  });
}

const observeValue = (pdu: CoapPdu): number | undefined => {
  const value = getOption(pdu, OptionNumber.Observe);
  return value === undefined ? undefined : decodeUint(value);
};
const pathOf = (pdu: CoapPdu): string => '/' + getOptions(pdu, OptionNumber.UriPath).map(decodeString).join('/');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Requests (not ACK/RST) the session sent that carry Observe=`value`. */
const observeRequests = (sent: readonly SentDatagram[], value: 0 | 1): SentDatagram[] =>
  sent.filter((s) => s.pdu !== undefined && s.pdu.code === Method.GET && observeValue(s.pdu) === value);

describe('isFresher (RFC 7641 §3.4)', () => {
  it.each([
    // previous, next, previousAt, nextAt, fresher
    [1, 2, 0, 0, true],
    [2, 1, 0, 0, false],
    [5, 5, 0, 0, false],
    [0, (1 << 23) - 1, 0, 0, true], // ahead by less than 2^23
    [0, 1 << 23, 0, 0, false], // ahead by exactly 2^23 is not fresher
    [0xffffff, 0, 0, 0, true], // 24-bit wrap-around
    [0xfffff0, 5, 0, 0, true],
    [5, 0xfffff0, 0, 0, false], // behind across the wrap
    [(1 << 23) + 1, 0, 0, 0, true], // V1 - V2 > 2^23: V2 wrapped ahead
    [1 << 23, 0, 0, 0, false], // V1 - V2 = 2^23 exactly
    [100, 50, 0, OBSERVE_FRESHNESS_WINDOW, false], // exactly 128 s later is not yet enough
    [100, 50, 0, OBSERVE_FRESHNESS_WINDOW + 1, true], // more than 128 s later: any number is accepted
    [100, 100, 1000, 1000 + OBSERVE_FRESHNESS_WINDOW + 1, true],
  ])('isFresher(%i, %i, %i, %i) is %s', (previous, next, previousAt, nextAt, expected) => {
    expect(isFresher(previous, next, previousAt, nextAt)).toBe(expected);
  });

  it('uses a 128-second window', () => {
    expect(OBSERVE_FRESHNESS_WINDOW).toBe(128_000);
  });
});

describe('session.observe() over a datagram transport (virtual time)', () => {
  it('registers with a CON GET carrying Observe=0, the path and a fresh token', () => {
    const { fake, session } = setup();
    const result = collect(session.observe('/sensors/temp'));
    expect(fake.sent).toHaveLength(1);
    const registration = fake.sent[0].pdu!;
    expect(registration.type).toBe(MessageType.CON);
    expect(registration.code).toBe(Method.GET);
    expect(observeValue(registration)).toBe(0);
    expect(pathOf(registration)).toBe('/sensors/temp');
    expect(registration.token).toHaveLength(8);
    expect(texts(result.values)).toEqual(['registered']);
    expect(result.values[0].observe).toBe(1);
    expect(result.done).toBe(false);
    result.sub!.unsubscribe();
  });

  it('sends the registration as NON when confirmable is false', () => {
    const { fake, session } = setup();
    const result = collect(session.observe('/x', { confirmable: false }));
    expect(fake.sent[0].pdu).toMatchObject({ type: MessageType.NON, code: Method.GET });
    expect(observeValue(fake.sent[0].pdu!)).toBe(0);
    result.sub!.unsubscribe();
  });

  it('emits the registration response and then each notification in order', () => {
    const { fake, session } = setup({ nextSequence: 5 });
    const result = collect(session.observe('/temp'));
    const token = fake.sent[0].pdu!.token;
    fake.deliver(notification(token, 6, 'six'));
    fake.deliver(notification(token, 7, 'seven'));
    fake.deliver(notification(token, 8, 'eight'));
    expect(texts(result.values)).toEqual(['registered', 'six', 'seven', 'eight']);
    expect(result.values.map((r) => r.observe)).toEqual([5, 6, 7, 8]);
    result.sub!.unsubscribe();
  });

  it('drops a stale notification and never emits it', () => {
    const { fake, session } = setup({ nextSequence: 10 });
    const result = collect(session.observe('/temp'));
    const token = fake.sent[0].pdu!.token;
    fake.deliver(notification(token, 12, 'twelve'));
    fake.deliver(notification(token, 11, 'eleven (late)'));
    fake.deliver(notification(token, 12, 'twelve again'));
    fake.deliver(notification(token, 13, 'thirteen'));
    expect(texts(result.values)).toEqual(['registered', 'twelve', 'thirteen']);
    result.sub!.unsubscribe();
  });

  it('acknowledges a stale CON notification (not RST) while dropping it', () => {
    const { fake, session } = setup({ nextSequence: 10 });
    const result = collect(session.observe('/temp'));
    const token = fake.sent[0].pdu!.token;
    fake.deliver(notification(token, 9, 'stale', { type: MessageType.CON, messageId: 0x6001 }));
    expect(fake.sent.at(-1)!.pdu).toMatchObject({ type: MessageType.ACK, code: 0, messageId: 0x6001 });
    expect(texts(result.values)).toEqual(['registered']);
    result.sub!.unsubscribe();
  });

  it('accepts Observe numbers that wrap around 2^24 and drops those behind the wrap', () => {
    const { fake, session } = setup({ nextSequence: 0xfffffe });
    const result = collect(session.observe('/temp'));
    const token = fake.sent[0].pdu!.token;
    fake.deliver(notification(token, 0xffffff, 'last before wrap'));
    fake.deliver(notification(token, 0, 'zero'));
    fake.deliver(notification(token, 0xfffffe, 'behind the wrap'));
    fake.deliver(notification(token, 1, 'one'));
    expect(texts(result.values)).toEqual(['registered', 'last before wrap', 'zero', 'one']);
    result.sub!.unsubscribe();
  });

  it('accepts any Observe number once more than 128 s passed since the last notification', () => {
    const { scheduler, fake, session } = setup({ nextSequence: 100 });
    scheduler.run(() => {
      const result = collect(session.observe('/temp', { reregister: false }));
      const token = fake.sent[0].pdu!.token;
      scheduler.schedule(() => fake.deliver(notification(token, 50, 'at 128 s: stale', { messageId: 1 })), 128_000);
      scheduler.schedule(() => fake.deliver(notification(token, 50, 'after 128 s: fresh', { messageId: 2 })), 128_001);
      scheduler.schedule(() => fake.deliver(notification(token, 49, 'right after: stale again', { messageId: 3 })), 128_002);
      scheduler.schedule(() => result.sub!.unsubscribe(), 130_000);
      scheduler.flush();
      expect(texts(result.values)).toEqual(['registered', 'after 128 s: fresh']);
    });
  });

  it('emits the one response and completes when the server does not accept the observation', () => {
    const { scheduler, fake, session } = setup({ nextSequence: undefined });
    scheduler.run(() => {
      const result = collect(session.observe('/plain'));
      scheduler.flush();
      expect(texts(result.values)).toEqual(['registered']);
      expect(result.values[0].observe).toBeUndefined();
      expect(result.done).toBe(true);
      // Nothing to cancel: no deregistration, no re-registration.
      expect(fake.sent).toHaveLength(1);
    });
  });

  it('emits a non-2.xx notification and then completes, without deregistering', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(() => {
      const result = collect(session.observe('/temp'));
      const token = fake.sent[0].pdu!.token;
      scheduler.schedule(() => fake.deliver(notification(token, 2, 'two')), 1000);
      scheduler.schedule(() => fake.deliver(notification(token, undefined, 'gone', { code: ResponseCode.NotFound })), 2000);
      scheduler.flush();
      expect(result.values.map((r) => [r.codeText, r.text()])).toEqual([
        ['2.05', 'registered'],
        ['2.05', 'two'],
        ['4.04', 'gone'],
      ]);
      expect(result.done).toBe(true);
      expect(observeRequests(fake.sent, 1)).toHaveLength(0);
      expect(observeRequests(fake.sent, 0)).toHaveLength(1);
    });
  });

  it('acknowledges CON notifications with an empty ACK of the same message ID', () => {
    const { fake, session } = setup();
    const result = collect(session.observe('/temp'));
    const token = fake.sent[0].pdu!.token;
    fake.deliver(notification(token, 2, 'two', { type: MessageType.CON, messageId: 0x2000 }));
    fake.deliver(notification(token, 3, 'three', { type: MessageType.NON, messageId: 0x2001 }));
    fake.deliver(notification(token, 4, 'four', { type: MessageType.CON, messageId: 0x2002 }));
    const replies = fake.sent.slice(1).map((s) => [s.pdu!.type, s.pdu!.code, s.pdu!.messageId, s.pdu!.token.length]);
    expect(replies).toEqual([
      [MessageType.ACK, 0, 0x2000, 0],
      [MessageType.ACK, 0, 0x2002, 0],
    ]);
    expect(texts(result.values)).toEqual(['registered', 'two', 'three', 'four']);
    result.sub!.unsubscribe();
  });

  it('re-registers with the same token after Max-Age plus the margin of silence, and says so', () => {
    const { scheduler, fake, session, events } = setup({ nextSequence: 1, maxAge: 10 });
    scheduler.run(() => {
      const result = collect(session.observe('/temp'));
      scheduler.schedule(() => result.sub!.unsubscribe(), 30_000);
      scheduler.flush();
      const registrations = observeRequests(fake.sent, 0);
      // Max-Age 10 s + the default 2 s margin, re-armed by each registration response.
      expect(registrations.map((s) => s.time)).toEqual([0, 12_000, 24_000]);
      expect(new Set(registrations.map((s) => hex(s.pdu!.token))).size).toBe(1);
      expect(new Set(registrations.map((s) => s.pdu!.messageId)).size).toBe(3);
      expect(events.filter((e) => e.type === 'reregistered')).toEqual([
        { type: 'reregistered', path: '/temp' },
        { type: 'reregistered', path: '/temp' },
      ]);
      expect(texts(result.values)).toEqual(['registered', 'registered', 'registered']);
      expect(result.values.map((r) => r.observe)).toEqual([1, 2, 3]);
    });
  });

  it('counts the silence from the last notification and honours a custom margin', () => {
    const { scheduler, fake, session, events } = setup({ nextSequence: 1, maxAge: 10 });
    scheduler.run(() => {
      const result = collect(session.observe('/temp', { reregisterMargin: 500 }));
      const token = fake.sent[0].pdu!.token;
      scheduler.schedule(() => fake.deliver(notification(token, 2, 'two', { maxAge: 20 })), 5000);
      scheduler.schedule(() => result.sub!.unsubscribe(), 26_000);
      scheduler.flush();
      // The notification at 5 s carries Max-Age 20: silence until 25.5 s.
      expect(observeRequests(fake.sent, 0).map((s) => s.time)).toEqual([0, 25_500]);
      expect(events.filter((e) => e.type === 'reregistered')).toHaveLength(1);
    });
  });

  it('does not re-register when reregister is false', () => {
    const { scheduler, fake, session, events } = setup({ nextSequence: 1, maxAge: 1 });
    scheduler.run(() => {
      const result = collect(session.observe('/temp', { reregister: false }));
      scheduler.schedule(() => result.sub!.unsubscribe(), 60_000);
      scheduler.flush();
      expect(observeRequests(fake.sent, 0)).toHaveLength(1);
      expect(events.some((e) => e.type === 'reregistered')).toBe(false);
    });
  });

  it('deregisters on unsubscribe with a CON GET carrying Observe=1 and the same token', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(() => {
      const result = collect(session.observe('/sensors/temp'));
      scheduler.schedule(() => result.sub!.unsubscribe(), 3000);
      scheduler.flush();
      const [registration] = observeRequests(fake.sent, 0);
      const deregistrations = observeRequests(fake.sent, 1);
      expect(deregistrations).toHaveLength(1);
      const deregistration = deregistrations[0];
      expect(deregistration.time).toBe(3000);
      expect(deregistration.pdu!.type).toBe(MessageType.CON);
      expect(hex(deregistration.pdu!.token)).toBe(hex(registration.pdu!.token));
      expect(pathOf(deregistration.pdu!)).toBe('/sensors/temp');
      expect(deregistration.pdu!.messageId).not.toBe(registration.pdu!.messageId);
      // The deregistration's response is not delivered to the gone subscriber.
      expect(texts(result.values)).toEqual(['registered']);
    });
  });

  it('finishes the deregistration when its response comes back synchronously (a loopback-fast transport)', () => {
    const { scheduler, fake, session } = setup({ nextSequence: 1, deregistrationDelay: 0 });
    scheduler.run(() => {
      const result = collect(session.observe('/temp'));
      scheduler.schedule(() => result.sub!.unsubscribe(), 1000);
      scheduler.flush(); // rxjs reports errors thrown in callbacks on the (virtual) timer: they surface here
      expect(observeRequests(fake.sent, 1).map((s) => s.time)).toEqual([1000]);
      expect(texts(result.values)).toEqual(['registered']);
    });
  });

  it('sends no deregistration when deregister is false', () => {
    const { fake, session } = setup();
    const result = collect(session.observe('/temp', { deregister: false }));
    result.sub!.unsubscribe();
    expect(observeRequests(fake.sent, 1)).toHaveLength(0);
  });

  it('answers a notification that arrives after unsubscribe with RST', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(() => {
      const result = collect(session.observe('/temp'));
      const token = fake.sent[0].pdu!.token;
      scheduler.schedule(() => result.sub!.unsubscribe(), 1000);
      // Before the deregistration is done and long after it.
      scheduler.schedule(() => fake.deliver(notification(token, 2, 'late', { messageId: 0x3001 })), 1000);
      scheduler.schedule(() => fake.deliver(notification(token, 3, 'later', { type: MessageType.CON, messageId: 0x3002 })), 200_000);
      scheduler.flush();
      const resets = fake.sent.filter((s) => s.pdu!.type === MessageType.RST).map((s) => [s.time, s.pdu!.messageId]);
      expect(resets).toEqual([
        [1000, 0x3001],
        [200_000, 0x3002],
      ]);
      expect(texts(result.values)).toEqual(['registered']);
    });
  });

  it('shares one registration between two observers of a path; a late one gets the latest at once; the last unsubscribe cancels', () => {
    const { scheduler, fake, session } = setup({ nextSequence: 1 });
    scheduler.run(() => {
      const first = collect(session.observe('/temp'));
      const token = fake.sent[0].pdu!.token;
      let second: ReturnType<typeof collect<CoapResponse>> | undefined;
      scheduler.schedule(() => fake.deliver(notification(token, 2, 'two')), 1000);
      scheduler.schedule(() => {
        second = collect(session.observe('/temp'));
        expect(texts(second.values)).toEqual(['two']); // at once, before any new notification
      }, 2000);
      scheduler.schedule(() => fake.deliver(notification(token, 3, 'three')), 3000);
      scheduler.schedule(() => first.sub!.unsubscribe(), 4000);
      scheduler.schedule(() => fake.deliver(notification(token, 4, 'four')), 5000);
      scheduler.schedule(() => second!.sub!.unsubscribe(), 6000);
      scheduler.flush();
      expect(observeRequests(fake.sent, 0)).toHaveLength(1);
      expect(texts(first.values)).toEqual(['registered', 'two', 'three']);
      expect(texts(second!.values)).toEqual(['two', 'three', 'four']);
      const deregistrations = observeRequests(fake.sent, 1);
      expect(deregistrations.map((s) => s.time)).toEqual([6000]);
      expect(hex(deregistrations[0].pdu!.token)).toBe(hex(token));
    });
  });

  it('registers anew, with a new token, after the shared observation was cancelled', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(() => {
      collect(session.observe('/temp')).sub!.unsubscribe();
      let again: ReturnType<typeof collect<CoapResponse>> | undefined;
      scheduler.schedule(() => (again = collect(session.observe('/temp'))), 1000);
      scheduler.schedule(() => again!.sub!.unsubscribe(), 2000);
      scheduler.flush();
      const registrations = observeRequests(fake.sent, 0);
      expect(registrations.map((s) => s.time)).toEqual([0, 1000]);
      expect(hex(registrations[0].pdu!.token)).not.toBe(hex(registrations[1].pdu!.token));
      expect(texts(again!.values)).toEqual(['registered']);
    });
  });

  it('registers separately, with different tokens, for different paths', () => {
    const { fake, session } = setup();
    const a = collect(session.observe('/a'));
    const b = collect(session.observe('/b'));
    const registrations = observeRequests(fake.sent, 0);
    expect(registrations.map((s) => pathOf(s.pdu!))).toEqual(['/a', '/b']);
    const [tokenA, tokenB] = registrations.map((s) => s.pdu!.token);
    expect(hex(tokenA)).not.toBe(hex(tokenB));
    fake.deliver(notification(tokenB, 7, 'b7'));
    fake.deliver(notification(tokenA, 9, 'a9'));
    expect(texts(a.values)).toEqual(['registered', 'a9']);
    expect(texts(b.values)).toEqual(['registered', 'b7']);
    a.sub!.unsubscribe();
    expect(observeRequests(fake.sent, 1).map((s) => pathOf(s.pdu!))).toEqual(['/a']);
    b.sub!.unsubscribe();
  });

  it('caps a Max-Age of 2^32-1 s at the longest timer instead of a 1 ms busy loop (found by npm run fuzz)', () => {
    const { scheduler, fake, session } = setup({ nextSequence: 1, maxAge: 0xffffffff });
    // Node clamps a delay over 2^31-1 ms to 1 ms (and warns): no timer may ask for more.
    const delays: number[] = [];
    const schedule = scheduler.schedule.bind(scheduler);
    scheduler.schedule = ((work: never, delay?: number, state?: never) => {
      delays.push(delay ?? 0);
      return schedule(work, delay, state);
    }) as typeof scheduler.schedule;
    scheduler.run(({ flush }) => {
      const observation = collect(session.observe('/obs'));
      scheduler.schedule(() => observation.sub!.unsubscribe(), 60_000);
      flush();
      expect(observeRequests(fake.sent, 0)).toHaveLength(1);
      expect(texts(observation.values)).toEqual(['registered']);
    });
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(delays).toContain(2 ** 31 - 1);
  });

  it('fails an observation whose registration was acknowledged but never answered (found by npm run fuzz)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const fake = createFakeTransport({
      scheduler,
      // An empty ACK for the registration, and then nothing.
      respond: (pdu) => (pdu.type === MessageType.CON ? createPdu({ type: MessageType.ACK, code: 0, messageId: pdu.messageId }) : undefined),
    });
    const session = new CoapContext({ scheduler, random: () => 0 }).newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
    scheduler.run(({ flush }) => {
      let failedAt = -1;
      const observation = collect(session.observe('/obs'));
      observation.sub!.add(() => (failedAt = scheduler.now()));
      flush();
      expect(observation.error).toMatchObject({ name: 'CoapTimeoutError', code: 'COAP_ERR_TIMEOUT' });
      expect(failedAt).toBe(247_000); // separateResponseTimeout (EXCHANGE_LIFETIME by default), as for any request
    });
  });

  it('sends a NON deregistration for every live observation on release, then completes it (issue 16 finding 10)', () => {
    const { fake, session } = setup();
    const a = collect(session.observe('/a'));
    const b = collect(session.observe('/b'));
    const [tokenA, tokenB] = observeRequests(fake.sent, 0).map((s) => hex(s.pdu!.token));
    const before = fake.sent.length;
    expect(session.release()).toBe(0);
    const afterRelease = fake.sent.slice(before).filter((s) => s.pdu!.code !== 0);
    expect(afterRelease.map((s) => [s.pdu!.type, s.pdu!.code, observeValue(s.pdu!), hex(s.pdu!.token), pathOf(s.pdu!)])).toEqual([
      [MessageType.NON, Method.GET, 1, tokenA, '/a'],
      [MessageType.NON, Method.GET, 1, tokenB, '/b'],
    ]);
    expect([a.error, a.done, b.error, b.done]).toEqual([undefined, true, undefined, true]);
    expect(fake.open).toBe(false);
  });

  it('sends no deregistration on release({ cancelObservations: false }) and completes the observation', () => {
    const { fake, session } = setup();
    const a = collect(session.observe('/a'));
    const before = fake.sent.length;
    expect(session.release({ cancelObservations: false })).toBe(0);
    expect(fake.sent.slice(before)).toEqual([]);
    expect([a.error, a.done]).toEqual([undefined, true]);
    expect(fake.open).toBe(false);
  });

  it('completes live observations on ctx.free() and errors a request still waiting for its response', async () => {
    const { fake, ctx, session } = setup();
    const observation = collect(session.observe('/a'));
    fake.deliver(notification(observeRequests(fake.sent, 0)[0].pdu!.token, 3, 'a3'));
    const request = collect(session.get('/slow'));
    await ctx.free();
    expect([observation.error, observation.done]).toEqual([undefined, true]);
    expect(request.error).toMatchObject({ name: 'CoapSessionClosedError', code: 'COAP_ERR_SESSION_CLOSED' });
  });

  it('errors every observation and request when the transport fails', () => {
    const { fake, session } = setup();
    const observation = collect(session.observe('/a'));
    const request = collect(session.get('/slow'));
    fake.fail(new CoapTransportError('socket gone'));
    expect(observation.error).toMatchObject({ code: 'COAP_ERR_TRANSPORT' });
    expect(request.error).toMatchObject({ code: 'COAP_ERR_TRANSPORT' });
  });
});
