import { CoapArgumentError } from '../../src/errors';
import {
  DEFAULT_TRANSMISSION,
  MAX_TIMER_DELAY,
  exchangeLifetime,
  maxTransmitWait,
  nonLifetime,
  resolveTransmissionParameters,
} from '../../src/message-layer/transmission-params';

/** The error `resolveTransmissionParameters` throws for these layers. */
function rejection(...layers: unknown[]): CoapArgumentError {
  try {
    resolveTransmissionParameters(...(layers as Parameters<typeof resolveTransmissionParameters>));
  } catch (error) {
    expect(error).toBeInstanceOf(CoapArgumentError);
    return error as CoapArgumentError;
  }
  throw new Error(`expected a CoapArgumentError for ${JSON.stringify(layers)}`);
}

describe('transmission parameters (RFC 7252 §4.8)', () => {
  it('defaults to the RFC 7252 table and its derived values (EXCHANGE_LIFETIME 247 s, NON_LIFETIME 145 s)', () => {
    expect(resolveTransmissionParameters()).toEqual(DEFAULT_TRANSMISSION);
    expect(DEFAULT_TRANSMISSION).toMatchObject({ ackTimeout: 2000, ackRandomFactor: 1.5, maxRetransmit: 4, nstart: 1, maxLatency: 100_000, processingDelay: 2000 });
    expect(exchangeLifetime(DEFAULT_TRANSMISSION)).toBe(247_000);
    expect(nonLifetime(DEFAULT_TRANSMISSION)).toBe(145_000);
    expect(maxTransmitWait(DEFAULT_TRANSMISSION)).toBe(93_000);
    expect(DEFAULT_TRANSMISSION.separateResponseTimeout).toBe(247_000);
    expect(DEFAULT_TRANSMISSION.nonTimeout).toBe(145_000);
  });

  it('lets a later layer (the session) override an earlier one (the context), ignoring undefined values', () => {
    const params = resolveTransmissionParameters({ ackTimeout: 1000, nstart: 4 }, { ackTimeout: 500, nstart: undefined });
    expect(params).toMatchObject({ ackTimeout: 500, nstart: 4, processingDelay: 500 });
  });

  it('accepts the short benchmark profile and fractional durations', () => {
    expect(resolveTransmissionParameters({ ackTimeout: 1000, maxRetransmit: 1, maxLatency: 100, processingDelay: 100 })).toMatchObject({ ackTimeout: 1000 });
    expect(resolveTransmissionParameters({ ackTimeout: 0.5, ackRandomFactor: 1, maxRetransmit: 0, maxLatency: 0, processingDelay: 0 })).toMatchObject({ ackTimeout: 0.5 });
  });

  it('accepts durations up to 2^31-1 ms, the longest delay a Node timer keeps', () => {
    expect(MAX_TIMER_DELAY).toBe(2 ** 31 - 1);
    expect(resolveTransmissionParameters({ separateResponseTimeout: MAX_TIMER_DELAY, nonTimeout: MAX_TIMER_DELAY })).toMatchObject({ separateResponseTimeout: MAX_TIMER_DELAY });
  });

  // Issue 16, finding 5: each was accepted before.
  it.each<[string, Record<string, unknown>, string]>([
    ['ackTimeout: Infinity (never retransmits, never fails)', { ackTimeout: Infinity }, 'transmission.ackTimeout'],
    ['ackTimeout: 1e10 (Node clamps it to 1 ms)', { ackTimeout: 1e10 }, 'transmission.ackTimeout'],
    ["ackTimeout: '2000' (a string concatenates into derived values)", { ackTimeout: '2000' }, 'transmission.ackTimeout'],
    ['ackTimeout: -1', { ackTimeout: -1 }, 'transmission.ackTimeout'],
    ['ackTimeout: 0', { ackTimeout: 0 }, 'transmission.ackTimeout'],
    ['ackTimeout: NaN', { ackTimeout: NaN }, 'transmission.ackTimeout'],
    ['ackTimeout: null', { ackTimeout: null }, 'transmission.ackTimeout'],
    ['ackRandomFactor: 0.5', { ackRandomFactor: 0.5 }, 'transmission.ackRandomFactor'],
    ["ackRandomFactor: '1.5'", { ackRandomFactor: '1.5' }, 'transmission.ackRandomFactor'],
    ['ackRandomFactor: Infinity', { ackRandomFactor: Infinity }, 'transmission.ackRandomFactor'],
    ['maxRetransmit: 1.5', { maxRetransmit: 1.5 }, 'transmission.maxRetransmit'],
    ['maxRetransmit: -1', { maxRetransmit: -1 }, 'transmission.maxRetransmit'],
    ['maxRetransmit: 21', { maxRetransmit: 21 }, 'transmission.maxRetransmit'],
    ["maxRetransmit: '4'", { maxRetransmit: '4' }, 'transmission.maxRetransmit'],
    ['nstart: 0', { nstart: 0 }, 'transmission.nstart'],
    ['nstart: 1.5', { nstart: 1.5 }, 'transmission.nstart'],
    ['nstart: 2000000', { nstart: 2_000_000 }, 'transmission.nstart'],
    ['nstart: Infinity', { nstart: Infinity }, 'transmission.nstart'],
    ['maxLatency: -1', { maxLatency: -1 }, 'transmission.maxLatency'],
    ['maxLatency: NaN', { maxLatency: NaN }, 'transmission.maxLatency'],
    ['processingDelay: -5', { processingDelay: -5 }, 'transmission.processingDelay'],
    ['nonTimeout: 0', { nonTimeout: 0 }, 'transmission.nonTimeout'],
    ['nonTimeout: Infinity', { nonTimeout: Infinity }, 'transmission.nonTimeout'],
    ['separateResponseTimeout: 3e9 (fires at once in Node)', { separateResponseTimeout: 3e9 }, 'transmission.separateResponseTimeout'],
    ['separateResponseTimeout: -1', { separateResponseTimeout: -1 }, 'transmission.separateResponseTimeout'],
    ['an unknown key (a typo: ackTimout)', { ackTimout: 1000 }, 'transmission.ackTimout'],
    ['a derived value set directly (exchangeLifetime)', { exchangeLifetime: 1000 }, 'transmission.exchangeLifetime'],
  ])('rejects %s naming the field', (_name, layer, field) => {
    const error = rejection(layer);
    expect(error).toMatchObject({ name: 'CoapArgumentError', code: 'COAP_ERR_ARGUMENT', field });
    expect(error.message).toContain(field);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a number', 5],
    ['a string', 'fast'],
    ['an array', [2000]],
  ])('rejects %s as the parameters object', (_name, layer) => {
    expect(rejection(layer)).toMatchObject({ field: 'transmission' });
  });

  it('rejects parameters whose derived timers exceed 2^31-1 ms (EXCHANGE_LIFETIME with maxRetransmit 20)', () => {
    const error = rejection({ maxRetransmit: 20 });
    expect(error).toMatchObject({ field: 'transmission' });
    expect(error.message).toMatch(/retransmission timeout|EXCHANGE_LIFETIME|MAX_TRANSMIT_WAIT/);
  });

  it('rejects an ackTimeout whose last retransmission timeout exceeds 2^31-1 ms', () => {
    // 2e6 ms * 1.5 * 2^10 = 3.07e9 ms for the last wait.
    expect(rejection({ ackTimeout: 2e6, maxRetransmit: 10, maxLatency: 0, processingDelay: 0 })).toMatchObject({ field: 'transmission' });
  });

  it('checks the merged layers: a session value that is fine alone can overflow with the context values', () => {
    expect(() => resolveTransmissionParameters({ maxRetransmit: 4 })).not.toThrow();
    expect(rejection({ ackTimeout: 1e6 }, { maxRetransmit: 12 })).toMatchObject({ field: 'transmission' });
  });
});
