import { throwError } from 'rxjs';
import { CoapTimeoutError } from '../../src/errors';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { createPdu, MessageType, Method, ResponseCode, SignalCode } from '../../src/codec/pdu';
import { CoapContext } from '../../src/context';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { createCoapTestScheduler, describePdu, EXACT_TRANSMISSION, normalizeErrors, sentFrames } from '../../src/testing/marbles';

describe('createCoapTestScheduler', () => {
  it('compares typed errors by name, code and message', () => {
    const seen: unknown[] = [];
    const scheduler = createCoapTestScheduler((actual, expected) => {
      seen.push(actual, expected);
      expect(actual).toEqual(expected);
    });
    scheduler.run(({ expectObservable }) => {
      expectObservable(throwError(() => new CoapTimeoutError('late', { attempts: 3 }))).toBe('#', undefined, new CoapTimeoutError('late'));
    });
    expect(seen[0]).toEqual([{ frame: 0, notification: { kind: 'E', value: undefined, error: { name: 'CoapTimeoutError', code: 'COAP_ERR_TIMEOUT', message: 'late' } } }]);
    expect(() =>
      createCoapTestScheduler((a, e) => expect(a).toEqual(e)).run(({ expectObservable }) => {
        expectObservable(throwError(() => new CoapTimeoutError('late'))).toBe('#', undefined, new CoapTimeoutError('early'));
      }),
    ).toThrow();
  });

  it('gives context options for exact timings: this scheduler, no jitter, ackRandomFactor 1, tokens 01, 02, ...', () => {
    const scheduler = createCoapTestScheduler((a, e) => expect(a).toEqual(e));
    const options = scheduler.contextOptions({ transmission: { nstart: 2 }, mtu: 500 });
    expect(options).toMatchObject({ scheduler, mtu: 500, transmission: { ackRandomFactor: 1, nstart: 2 } });
    expect(options.random!()).toBe(0);
    expect([options.tokenGenerator!(), options.tokenGenerator!()]).toEqual([Uint8Array.of(1), Uint8Array.of(2)]);
    expect(EXACT_TRANSMISSION).toEqual({ ackRandomFactor: 1 });
    expect(scheduler.contextOptions({ transmission: { ackRandomFactor: 2 } }).transmission).toEqual({ ackRandomFactor: 2 });
  });

  it('leaves values that are not errors as they are', () => {
    const date = new Date(0);
    expect(normalizeErrors({ a: [1, new RangeError('x')], date })).toEqual({ a: [1, { name: 'RangeError', code: undefined, message: 'x' }], date });
  });
});

describe('the frame notation', () => {
  it('describes type, code, token, path, options by name and the payload size', () => {
    const pdu = createPdu({
      type: MessageType.CON,
      code: Method.GET,
      messageId: 0x2a,
      token: Uint8Array.of(1),
      options: [
        { number: OptionNumber.Observe, value: encodeUint(0) },
        { number: OptionNumber.UriPath, value: encodeString('a') },
        { number: OptionNumber.UriPath, value: encodeString('b') },
      ],
    });
    expect(describePdu(pdu)).toBe('CON GET [01] /a/b Observe=0');
    expect(describePdu(pdu, { messageId: true })).toBe('CON #002a GET [01] /a/b Observe=0');
    expect(describePdu(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, payload: encodeString('hello') }))).toBe('ACK 2.05 Content (5 bytes)');
    expect(describePdu(createPdu({ type: MessageType.RST, code: 0 }))).toBe('RST Empty');
    const csm = createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: encodeUint(1152) }, { number: SignalOption.BlockWiseTransfer, value: new Uint8Array(0) }] });
    expect(describePdu(csm)).toBe('CON 7.01 CSM Max-Message-Size=1152 Block-Wise-Transfer');
  });

  it('sentFrames is what a fake transport sends, at the virtual time it is sent', () => {
    const scheduler = createCoapTestScheduler((a, e) => expect(a).toEqual(e));
    const fake = createFakeTransport({ scheduler });
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions({ transmission: { maxRetransmit: 1 } }));
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      expectObservable(sentFrames(fake)).toBe('a 1999ms a', { a: 'CON GET [01] /x' });
      expectObservable(session.get('/x')).toBe('6s #', undefined, new CoapTimeoutError('no acknowledgement after 2 transmissions'));
    });
  });
});
