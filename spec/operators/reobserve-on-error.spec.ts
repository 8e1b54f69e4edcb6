import { map, retry } from 'rxjs';
import { CoapArgumentError, CoapResponseError, CoapSessionClosedError, CoapTransportError } from '../../src/errors';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeUint, encodeUint } from '../../src/codec/option-values';
import { createPdu, getOption, MessageType, Method, ResponseCode, type CoapPdu } from '../../src/codec/pdu';
import { CoapContext } from '../../src/context';
import { CoapResponse } from '../../src/exchange/response';
import { reobserveOnError } from '../../src/operators/reobserve-on-error';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { notification, piggybackedResponse } from '../../src/testing/fake-replies';
import { createCoapTestScheduler, sentFrames } from '../../src/testing/marbles';

const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
const response = (code: number, observe?: number): CoapResponse =>
  new CoapResponse(
    createPdu({ type: MessageType.ACK, code, options: observe === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(observe) }] }),
    { host: '127.0.0.1', port: 5683 },
  );
const ok1 = response(ResponseCode.Content, 1);
const ok2 = response(ResponseCode.Content, 2);
const unavailable = response(ResponseCode.ServiceUnavailable);
const lost = new CoapTransportError('the connection was lost', { reason: 'closed-by-peer' });

describe('reobserveOnError', () => {
  it('subscribes again after a non-2.xx notification, with a delay that doubles and starts over after a 2.xx', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable, expectSubscriptions }) => {
      // Each subscription is a registration: 2.05, then 5.03 (which ends the observation, RFC 7641 §3.2).
      const source = cold('-a-x', { a: ok1, x: unavailable });
      expectObservable(source.pipe(reobserveOnError({ scheduler: s, initialDelay: 10 })), '^ 40ms !').toBe('-a 12ms a 12ms a 12ms a', { a: ok1 });
      // 5.03 at 3, re-registration 10 ms later (13); 2.05 reset the back-off, so again 10 ms after the next 5.03.
      expectSubscriptions(source.subscriptions).toBe(['^--!', '13ms ^--!', '26ms ^--!', '39ms ^-!']);
    });
  });

  it('doubles the delay while registrations keep failing, up to maxDelay', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-x', { x: unavailable });
      expectObservable(source.pipe(reobserveOnError({ scheduler: s, initialDelay: 4, maxDelay: 10 })), '^ 40ms !').toBe('');
      // Failures at 1, 6, 15, 26, 37: waits 4, 8, 10, 10.
      expectSubscriptions(source.subscriptions).toBe(['^!', '5ms ^!', '14ms ^!', '25ms ^!', '36ms ^!']);
    });
  });

  it('re-registers after a lost connection, and passes other errors on', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const flaky = cold('-a-#', { a: ok1 }, lost);
      expectObservable(flaky.pipe(reobserveOnError({ scheduler: s, initialDelay: 5 })), '^ 20ms !').toBe('-a 7ms a 7ms a', { a: ok1 });
      const closed = new CoapSessionClosedError();
      expectObservable(cold('-a-#', { a: ok2 }, closed).pipe(reobserveOnError({ scheduler: s }))).toBe('-a-#', { a: ok2 }, closed);
    });
  });

  it('gives up after maxAttempts in a row: a CoapResponseError for an error code, the error itself for a lost connection', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const attempts: number[] = [];
      const policy = { scheduler: s, initialDelay: 1, maxAttempts: 2, onReobserve: (_reason: unknown, attempt: number) => attempts.push(attempt) };
      expectObservable(cold('-x', { x: unavailable }).pipe(reobserveOnError(policy))).toBe('------#', undefined, new CoapResponseError('the server answered 5.03 Service Unavailable', unavailable));
      expectObservable(cold<CoapResponse>('-#', undefined, lost).pipe(reobserveOnError({ ...policy, onReobserve: undefined }))).toBe('------#', undefined, lost);
      s.flush();
      expect(attempts).toEqual([1, 2]);
    });
  });

  it('checks its policy at the call', () => {
    expect(() => reobserveOnError({ initialDelay: -1 })).toThrow(CoapArgumentError);
    expect(() => reobserveOnError({ maxAttempts: 0 })).toThrow('policy.maxAttempts must be an integer in 1..1000000, got 0');
    expect(() => reobserveOnError({ scheduler: {} as never })).toThrow(CoapArgumentError);
    expect(() => reobserveOnError(null as never)).toThrow(CoapArgumentError);
  });

  describe('on a session (fake transport, exact timings)', () => {
    /**
     * A sensor: each registration is answered per `answers`: 'ok' is 2.05 (Observe 1) and a notification 100 ms
     * later, then, with `end`, a 5.03 without Observe 200 ms after the registration; a number is that error code.
     */
    function sensor(answers: ReadonlyArray<'ok' | number>, end = false) {
      let registrations = 0;
      return (request: CoapPdu) => {
        if (request.code !== Method.GET || request.type !== MessageType.CON) return undefined;
        const observe = getOption(request, OptionNumber.Observe);
        if (observe === undefined || decodeUint(observe) !== 0) return piggybackedResponse(request, { payload: 'bye' });
        const answer = answers[Math.min(registrations++, answers.length - 1)];
        if (answer !== 'ok') return piggybackedResponse(request, { code: answer });
        return [
          piggybackedResponse(request, { observe: 1, payload: '20' }),
          notification(request, 2, { delay: 100, payload: '21' }),
          ...(end ? [notification(request, undefined, { delay: 200, code: ResponseCode.ServiceUnavailable })] : []),
        ];
      };
    }

    it('registers again after the server ends the observation with a 5.03 notification (retry() alone would not: it completes)', () => {
      const s = scheduler();
      const fake = createFakeTransport({ scheduler: s, respond: sensor(['ok'], true) });
      s.run(({ expectObservable }) => {
        const ctx = new CoapContext(s.contextOptions());
        const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
        const values = session.observe('/temp').pipe(reobserveOnError({ scheduler: s, initialDelay: 1000 }), map((r) => r.text()));
        // Registrations at 0, 1.2 s and 2.4 s: each 5.03 (at +200 ms) waits 1 s, since the 2.05 before it reset the back-off.
        expectObservable(sentFrames(fake), '^ 3s !').toBe('a 1199ms b 1199ms c', {
          a: 'CON GET [01] /temp Observe=0',
          b: 'CON GET [02] /temp Observe=0',
          c: 'CON GET [03] /temp Observe=0',
        });
        expectObservable(values, '^ 3s !').toBe('a 99ms b 1099ms a 99ms b 1099ms a 99ms b', { a: '20', b: '21' });
      });
    });

    it('(the problem it solves) with retry() alone, a 5.03 notification completes the observation: no re-registration', () => {
      const s = scheduler();
      const fake = createFakeTransport({ scheduler: s, respond: sensor(['ok'], true) });
      s.run(({ expectObservable }) => {
        const ctx = new CoapContext(s.contextOptions());
        const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
        expectObservable(sentFrames(fake), '^ 3s !').toBe('a', { a: 'CON GET [01] /temp Observe=0' });
        expectObservable(session.observe('/temp').pipe(retry({ delay: 1000 }), map((r) => r.codeText))).toBe('a 99ms a 99ms (b|)', { a: '2.05', b: '5.03' });
      });
    });

    it('registers again with back-off after a 5.03 registration and after a lost connection', () => {
      const s = scheduler();
      const fake = createFakeTransport({ scheduler: s, respond: sensor([ResponseCode.ServiceUnavailable, 'ok']) });
      s.run(({ expectObservable }) => {
        const ctx = new CoapContext(s.contextOptions());
        const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
        const values = session.observe('/temp').pipe(reobserveOnError({ scheduler: s, initialDelay: 1000 }), map((r) => r.text()));
        // 5.03 at 0; the re-registration at 1 s gets 2.05 and a notification; the connection is lost at 2 s; the
        // back-off started over after the 2.05, so the next registration goes at 3 s, on a new connection.
        s.schedule(() => fake.fail(lost), 2000);
        expectObservable(sentFrames(fake), '^ 4s !').toBe('a 999ms b 1999ms c', {
          a: 'CON GET [01] /temp Observe=0',
          b: 'CON GET [02] /temp Observe=0',
          c: 'CON GET [03] /temp Observe=0',
        });
        expectObservable(values, '^ 4s !').toBe('1s a 99ms b 1899ms a 99ms b', { a: '20', b: '21' });
      });
      expect(fake.connections).toBe(2);
    });
  });
});
