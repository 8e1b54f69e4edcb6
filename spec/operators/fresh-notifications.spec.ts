import { map } from 'rxjs';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeUint } from '../../src/codec/option-values';
import { createPdu, MessageType, ResponseCode, tokenToHex } from '../../src/codec/pdu';
import { CoapResponse } from '../../src/exchange/response';
import { freshNotifications } from '../../src/operators/fresh-notifications';
import { createCoapTestScheduler } from '../../src/testing/marbles';

const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
const notification = (observe: number | undefined, token = 1): CoapResponse =>
  new CoapResponse(
    createPdu({
      type: MessageType.NON,
      code: ResponseCode.Content,
      token: Uint8Array.of(token),
      options: observe === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(observe) }],
    }),
    { host: '127.0.0.1', port: 5683 },
  );
const sequences = map((response: CoapResponse) => response.observe ?? 'final');

describe('freshNotifications (RFC 7641 §3.4)', () => {
  it('drops a repeated or older Observe number, passes newer ones and responses without Observe', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d-e-f|', { a: notification(1), b: notification(2), c: notification(2), d: notification(1), e: notification(5), f: notification(undefined) });
      expectObservable(source.pipe(freshNotifications({ scheduler: s }), sequences)).toBe('-a-b-----e-f|', { a: 1, b: 2, e: 5, f: 'final' });
    });
  });

  it('follows the 24-bit wrap: 2^24-1 then 0 is newer, 5 then 2^23+6 is older', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d|', { a: notification(0xffffff), b: notification(0), c: notification(5), d: notification(5 + 0x800001) });
      expectObservable(source.pipe(freshNotifications({ scheduler: s }), sequences)).toBe('-a-b-c--|', { a: 0xffffff, b: 0, c: 5 });
    });
  });

  it('accepts any number once 128 s passed since the last delivered one (the server may have restarted)', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const source = cold('-a 127999ms b 1ms c|', { a: notification(100), b: notification(99), c: notification(3) });
      // b comes exactly 128 s after a: not yet (T2 > T1 + 128 s); c 1 ms later is accepted.
      expectObservable(source.pipe(freshNotifications({ scheduler: s }), sequences)).toBe('-a 128001ms c|', { a: 100, c: 3 });
    });
  });

  it('orders each key on its own', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d|', { a: notification(7, 1), b: notification(3, 2), c: notification(4, 2), d: notification(6, 1) });
      const fresh = source.pipe(freshNotifications({ scheduler: s, key: (r) => tokenToHex(r.token) }), map((r) => `${tokenToHex(r.token)}:${r.observe}`));
      expectObservable(fresh).toBe('-a-b-c--|', { a: '01:7', b: '02:3', c: '02:4' });
    });
  });

  it('errors, not throws, when the key function throws', () => {
    const s = scheduler();
    const boom = new Error('bad key');
    s.run(({ cold, expectObservable }) => {
      const source = cold('-a|', { a: notification(1) });
      expectObservable(source.pipe(freshNotifications({ scheduler: s, key: () => { throw boom; } }))).toBe('-#', undefined, boom);
    });
  });
});
