/**
 * RFC 9175 §2 Echo in virtual time: 4.01 with Echo is retried once with the value and a fresh token; an Echo
 * in a 2.xx response goes with the next request, once.
 */
import { Observable, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { decodeBlock } from '../../src/codec/block';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString } from '../../src/codec/option-values';
import { getOption, Method, ResponseCode, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { blockwiseRequest } from '../../src/exchange/blockwise';
import { echoSender, EchoState, type EchoExchangeOptions } from '../../src/exchange/echo';
import type { ExchangeContext } from '../../src/exchange/exchange-context';
import type { OutgoingPdu } from '../../src/exchange/exchange-context';
import type { RequestTemplate } from '../../src/exchange/request';
import { fakeExchangeContext } from '../helpers/fake-exchange-context';

type Reply = { code: number; options?: CoapOption[]; payload?: Uint8Array };

const fakeContext = fakeExchangeContext;

/** One request through the Echo sender (the engine the block-wise transfers use), as an Observable. */
function echoExchange(ctx: ExchangeContext, request: RequestTemplate, options: EchoExchangeOptions = {}): Observable<CoapPdu> {
  return new Observable<CoapPdu>((subscriber) =>
    echoSender(ctx, options)(
      request,
      {
        response(pdu) {
          subscriber.next(pdu);
          subscriber.complete();
        },
        error: (error) => subscriber.error(error),
      },
      options.token,
    ),
  );
}

function collect<T>(scheduler: TestScheduler, make: () => Observable<T>): { values: T[]; error: unknown } {
  const out = { values: [] as T[], error: undefined as unknown };
  scheduler.run(({ flush }) => {
    const subscription: Subscription = make().subscribe({ next: (value) => out.values.push(value), error: (error) => (out.error = error) });
    flush();
    subscription.unsubscribe();
  });
  return out;
}

const GET: RequestTemplate = { code: Method.GET, options: [{ number: OptionNumber.UriPath, value: encodeString('x') }], payload: new Uint8Array(0) };
const CHALLENGE = Uint8Array.of(0xec, 0x40);
const echoOption = (value: Uint8Array): CoapOption => ({ number: OptionNumber.Echo, value });
const echoOf = (request: OutgoingPdu): string | undefined => {
  const value = getOption(request, OptionNumber.Echo);
  return value === undefined ? undefined : Buffer.from(value).toString('hex');
};
const tokenOf = (request: OutgoingPdu): string => Buffer.from(request.token).toString('hex');

/** A server that wants a fresh request: 4.01 + Echo until the request repeats its value. */
function freshnessServer(request: OutgoingPdu): Reply {
  const echo = getOption(request, OptionNumber.Echo);
  if (echo === undefined || Buffer.compare(echo, CHALLENGE) !== 0) return { code: ResponseCode.Unauthorized, options: [echoOption(CHALLENGE)] };
  return { code: ResponseCode.Content, payload: encodeString('ok') };
}

describe('echo', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('repeats a request answered by 4.01 with Echo once, with the value and a fresh token (RFC 9175 §2.3)', () => {
    const fake = fakeContext(scheduler, freshnessServer);
    const result = collect(scheduler, () => echoExchange(fake.ctx, GET, { token: Uint8Array.of(0x77) }));
    expect(result.values.map((pdu: CoapPdu) => pdu.code)).toEqual([ResponseCode.Content]);
    expect(fake.sent.map(echoOf)).toEqual([undefined, 'ec40']);
    expect(fake.sent.map(tokenOf)).toEqual(['77', '0001']);
  });

  it('hands a second 4.01 back as the response instead of retrying again', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.Unauthorized, options: [echoOption(CHALLENGE)] }));
    const result = collect(scheduler, () => echoExchange(fake.ctx, GET));
    expect(result.values.map((pdu: CoapPdu) => pdu.code)).toEqual([ResponseCode.Unauthorized]);
    expect(fake.sent).toHaveLength(2);
  });

  it('does not retry a 4.01 without Echo', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.Unauthorized }));
    const result = collect(scheduler, () => echoExchange(fake.ctx, GET));
    expect(result.values.map((pdu: CoapPdu) => pdu.code)).toEqual([ResponseCode.Unauthorized]);
    expect(fake.sent).toHaveLength(1);
  });

  it('carries an Echo from a 2.05 into the next request to the server, once', () => {
    let first = true;
    const fake = fakeContext(scheduler, () => {
      const reply: Reply = first ? { code: ResponseCode.Content, options: [echoOption(Uint8Array.of(1, 2, 3))] } : { code: ResponseCode.Content };
      first = false;
      return reply;
    });
    const state = new EchoState();
    collect(scheduler, () => echoExchange(fake.ctx, GET, { echo: state }));
    expect(state.pending).toBe(true);
    collect(scheduler, () => echoExchange(fake.ctx, GET, { echo: state }));
    collect(scheduler, () => echoExchange(fake.ctx, GET, { echo: state }));
    expect(fake.sent.map(echoOf)).toEqual([undefined, '010203', undefined]);
    expect(state.pending).toBe(false);
  });

  it('answers an Echo challenge on a block in the middle of a download', () => {
    const content = new Uint8Array(2500).map((_, i) => i & 0xff);
    const fake = fakeContext(scheduler, (request) => {
      const block2 = getOption(request, OptionNumber.Block2);
      const num = block2 === undefined ? 0 : decodeBlock(block2).num;
      if (num === 1 && getOption(request, OptionNumber.Echo) === undefined) return { code: ResponseCode.Unauthorized, options: [echoOption(CHALLENGE)] };
      const more = (num + 1) * 1024 < content.length;
      return {
        code: ResponseCode.Content,
        options: [{ number: OptionNumber.Block2, value: Uint8Array.of((num << 4) | (more ? 8 : 0) | 6) }],
        payload: content.subarray(num * 1024, (num + 1) * 1024),
      };
    });
    const result = collect(scheduler, () =>
      blockwiseRequest(fake.ctx, GET, { maxPduSize: 1148, maxBlockSize: 1024, singleBody: true, noPreemptiveRequestTag: false, maxBodySize: 1 << 20 }),
    );
    expect(result.error).toBeUndefined();
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
    expect(fake.sent.map(echoOf)).toEqual([undefined, undefined, 'ec40', undefined]);
  });
});
