/**
 * Block1 uploads (and Block1 + Block2 in one exchange) in virtual time against a fake exchange context whose
 * "server" answers each request by reading its Block1 option.
 */
import { Observable, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { decodeBlock, encodeBlock, type BlockValue } from '../../src/codec/block';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { getOption, Method, ResponseCode, type CoapOption } from '../../src/codec/pdu';
import { CoapBlockError } from '../../src/errors';
import { blockwiseRequest, type BlockwiseOptions, type BlockwiseResult } from '../../src/exchange/blockwise';
import type { OutgoingPdu } from '../../src/exchange/exchange-context';
import type { RequestTemplate } from '../../src/exchange/request';
import { fakeExchangeContext } from '../helpers/fake-exchange-context';

type Reply = { code: number; options?: CoapOption[]; payload?: Uint8Array } | undefined;

const fakeContext = fakeExchangeContext;

interface Run {
  values: BlockwiseResult[];
  error: unknown;
  completed: boolean;
  time: number;
}

function run(make: () => Observable<BlockwiseResult>, scheduler: TestScheduler, unsubscribeAt?: number): Run {
  const result: Run = { values: [], error: undefined, completed: false, time: 0 };
  scheduler.run(({ flush }) => {
    let subscription: Subscription | undefined = undefined;
    subscription = make().subscribe({
      next: (value) => result.values.push(value),
      error: (error) => (result.error = error),
      complete: () => (result.completed = true),
    });
    if (unsubscribeAt !== undefined) scheduler.schedule(() => subscription?.unsubscribe(), unsubscribeAt);
    flush();
    result.time = scheduler.now();
  });
  return result;
}

function body(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 13 + 1) & 0xff;
  return bytes;
}

function block1(request: OutgoingPdu): BlockValue | undefined {
  const value = getOption(request, OptionNumber.Block1);
  return value === undefined ? undefined : decodeBlock(value);
}

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');
}

/**
 * A server that reassembles Block1 bodies by byte offset, acknowledging with at most `maxSzx`, and keeps
 * what it got in `received`.
 */
function uploadServer(options: { maxSzx?: number; final?: (body: Uint8Array) => Reply } = {}) {
  const state: { received: Uint8Array } = { received: new Uint8Array(0) };
  const answer = (request: OutgoingPdu): Reply => {
    const block = block1(request);
    if (block === undefined) {
      state.received = request.payload;
      return options.final?.(state.received) ?? { code: ResponseCode.Changed };
    }
    const offset = block.num * (16 << block.szx);
    if (offset !== state.received.length) return { code: ResponseCode.RequestEntityIncomplete };
    const grown = new Uint8Array(offset + request.payload.length);
    grown.set(state.received);
    grown.set(request.payload, offset);
    state.received = grown;
    const szx = Math.min(block.szx, options.maxSzx ?? 6);
    const ack = { number: OptionNumber.Block1, value: encodeBlock({ num: block.num, more: block.more, szx }) };
    if (block.more) return { code: ResponseCode.Continue, options: [ack] };
    const final = options.final?.(state.received) ?? { code: ResponseCode.Changed };
    return { ...final, options: [...(final?.options ?? []), ack].sort((a, b) => a.number - b.number) } as Reply;
  };
  return { state, answer };
}

const PUT: RequestTemplate = {
  code: Method.PUT,
  options: [{ number: OptionNumber.UriPath, value: encodeString('up') }],
  payload: new Uint8Array(0),
};

const DEFAULTS: BlockwiseOptions = {
  maxPduSize: 1148,
  maxBlockSize: 1024,
  singleBody: true,
  noPreemptiveRequestTag: false,
  maxBodySize: 1 << 20,
  random: () => 0.5,
};

describe('block1 uploads', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('splits a body into blocks with Size1 on the first and one Request-Tag for all (RFC 9175 §3)', () => {
    const content = body(2500);
    const server = uploadServer();
    const fake = fakeContext(scheduler, server.answer);
    let tag = 0;
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: content }, { ...DEFAULTS, random: () => (tag++ % 256) / 256 }), scheduler);
    expect(result.error).toBeUndefined();
    expect(result.values.map((value) => value.pdu.code)).toEqual([ResponseCode.Changed]);
    expect(Buffer.compare(server.state.received, content)).toBe(0);
    expect(fake.sent.map(block1)).toEqual([
      { num: 0, more: true, szx: 6 },
      { num: 1, more: true, szx: 6 },
      { num: 2, more: false, szx: 6 },
    ]);
    expect(fake.sent.map((request) => request.payload.length)).toEqual([1024, 1024, 452]);
    expect(fake.sent.map((request) => getOption(request, OptionNumber.Size1)).map((v) => v && decodeUint(v))).toEqual([2500, undefined, undefined]);
    expect(fake.sent.map((request) => hex(getOption(request, OptionNumber.RequestTag)))).toEqual(['00010203', '00010203', '00010203']);
    expect(new Set(fake.sent.map((request) => hex(request.token))).size).toBe(3);
  });

  it('asks for Size2 with the last block in partial mode, whose response carries the representation', () => {
    const fake = fakeContext(scheduler, uploadServer().answer);
    run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(2500) }, { ...DEFAULTS, singleBody: false }), scheduler);
    expect(fake.sent.map((request) => getOption(request, OptionNumber.Size2)?.length)).toEqual([undefined, undefined, 0]);
  });

  it('chooses the block size from the MTU', () => {
    const server = uploadServer();
    const fake = fakeContext(scheduler, server.answer);
    run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(300) }, { ...DEFAULTS, maxPduSize: 124 }), scheduler);
    expect(fake.sent.map((request) => block1(request)?.szx)).toEqual([2, 2, 2, 2, 2]);
    expect(Buffer.compare(server.state.received, body(300))).toBe(0);
  });

  it('re-slices from the acknowledged byte offset when 2.31 carries a smaller SZX (RFC 7959 §2.5)', () => {
    const content = body(300);
    const server = uploadServer({ maxSzx: 1 });
    const fake = fakeContext(scheduler, server.answer);
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: content }, { ...DEFAULTS, block1Size: 128 }), scheduler);
    expect(result.error).toBeUndefined();
    expect(fake.sent.map(block1)).toEqual([
      { num: 0, more: true, szx: 3 }, // 128 bytes, acknowledged as 0/1/32
      { num: 4, more: true, szx: 1 }, // byte 128 in 32-byte blocks
      ...[5, 6, 7, 8].map((num) => ({ num, more: true, szx: 1 })),
      { num: 9, more: false, szx: 1 },
    ]);
    expect(Buffer.compare(server.state.received, content)).toBe(0);
  });

  it('sends a body that fits one message whole, with a pre-emptive Request-Tag by default', () => {
    const fake = fakeContext(scheduler, uploadServer().answer);
    run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(100) }, DEFAULTS), scheduler);
    expect(fake.sent).toHaveLength(1);
    expect(block1(fake.sent[0])).toBeUndefined();
    expect(getOption(fake.sent[0], OptionNumber.RequestTag)).toBeDefined();
    expect(getOption(fake.sent[0], OptionNumber.Size1)).toBeUndefined();
  });

  it('puts a Request-Tag only on block-wise bodies with noPreemptiveRequestTag, and never on requests without a body', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.Continue, options: [{ number: OptionNumber.Block1, value: encodeBlock({ num: 0, more: true, szx: 6 }) }] }));
    run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(100) }, { ...DEFAULTS, noPreemptiveRequestTag: true }), scheduler);
    run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(1500) }, { ...DEFAULTS, noPreemptiveRequestTag: true }), scheduler);
    run(() => blockwiseRequest(fake.ctx, { ...PUT, code: Method.GET }, DEFAULTS), scheduler);
    expect(fake.sent.map((request) => getOption(request, OptionNumber.RequestTag) !== undefined)).toEqual([false, true, true, false]);
  });

  it('retries once in smaller blocks with a new Request-Tag after 4.13 with a Block1 hint', () => {
    const content = body(1500);
    const server = uploadServer();
    let refused = false;
    const fake = fakeContext(scheduler, (request) => {
      if (!refused) {
        refused = true;
        return {
          code: ResponseCode.RequestEntityTooLarge,
          options: [
            { number: OptionNumber.Block1, value: encodeBlock({ num: 0, more: false, szx: 4 }) },
            { number: OptionNumber.Size1, value: encodeUint(4096) },
          ],
        };
      }
      return server.answer(request);
    });
    let counter = 0;
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: content }, { ...DEFAULTS, random: () => (counter++ % 256) / 256 }), scheduler);
    expect(result.error).toBeUndefined();
    expect(result.values[0].pdu.code).toBe(ResponseCode.Changed);
    expect(fake.sent.map((request) => block1(request)?.szx)).toEqual([6, 4, 4, 4, 4, 4, 4]);
    const tags = fake.sent.map((request) => hex(getOption(request, OptionNumber.RequestTag)));
    expect(tags[1]).not.toBe(tags[0]);
    expect(new Set(tags.slice(1)).size).toBe(1);
    expect(Buffer.compare(server.state.received, content)).toBe(0);
  });

  it('splits a single-message body after 4.13 whose Size1 still admits it', () => {
    const content = body(600);
    const server = uploadServer();
    const fake = fakeContext(scheduler, (request) =>
      block1(request) === undefined ? { code: ResponseCode.RequestEntityTooLarge, options: [{ number: OptionNumber.Size1, value: encodeUint(1000) }] } : server.answer(request),
    );
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: content }, DEFAULTS), scheduler);
    expect(result.values[0].pdu.code).toBe(ResponseCode.Changed);
    expect(fake.sent.map(block1)).toEqual([undefined, { num: 0, more: true, szx: 5 }, { num: 1, more: false, szx: 5 }]);
    expect(Buffer.compare(server.state.received, content)).toBe(0);
  });

  it('fails with CoapBlockError when 4.13 says the body itself is too large', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.RequestEntityTooLarge, options: [{ number: OptionNumber.Size1, value: encodeUint(1000) }] }));
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(3000) }, DEFAULTS), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as Error).message).toBe('the body of 3000 bytes is larger than the server accepts (1000 bytes)');
    expect(fake.sent).toHaveLength(1);
  });

  it('fails with CoapBlockError on a second 4.13', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.RequestEntityTooLarge }));
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(3000) }, DEFAULTS), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect(fake.sent.map((request) => block1(request)?.szx)).toEqual([6, 5]);
  });

  it('fails with CoapBlockError on 4.08 Request Entity Incomplete', () => {
    let count = 0;
    const server = uploadServer();
    const fake = fakeContext(scheduler, (request) => (count++ === 1 ? { code: ResponseCode.RequestEntityIncomplete } : server.answer(request)));
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(3000) }, DEFAULTS), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as Error).message).toBe('the server lost part of the body (4.08 Request Entity Incomplete) at byte 1024');
  });

  it('hands a 4.xx to an intermediate block back as the response', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.Forbidden }));
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(3000) }, DEFAULTS), scheduler);
    expect(result.values.map((value) => value.pdu.code)).toEqual([ResponseCode.Forbidden]);
    expect(fake.sent).toHaveLength(1);
  });

  it('continues with Block2 when the final response to a large POST is large too (RFC 7959 §3.2)', () => {
    const reply = body(2100).map((byte) => byte ^ 0x55);
    const server = uploadServer({
      final: () => ({
        code: ResponseCode.Changed,
        options: [
          { number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: true, szx: 6 }) },
          { number: OptionNumber.Size2, value: encodeUint(reply.length) },
        ],
        payload: reply.subarray(0, 1024),
      }),
    });
    const fake = fakeContext(scheduler, (request) => {
      const block2 = getOption(request, OptionNumber.Block2);
      if (block2 === undefined || decodeBlock(block2).num === 0) return server.answer(request);
      const { num } = decodeBlock(block2);
      const more = (num + 1) * 1024 < reply.length;
      return {
        code: ResponseCode.Changed,
        options: [{ number: OptionNumber.Block2, value: encodeBlock({ num, more, szx: 6 }) }],
        payload: reply.subarray(num * 1024, (num + 1) * 1024),
      };
    });
    const content = body(2500);
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, code: Method.POST, payload: content }, DEFAULTS), scheduler);
    expect(result.error).toBeUndefined();
    expect(Buffer.compare(server.state.received, content)).toBe(0);
    expect(result.values).toHaveLength(1);
    expect(Buffer.compare(result.values[0].payload, reply)).toBe(0);
    const followUps = fake.sent.slice(3);
    expect(followUps.map((request) => decodeBlock(getOption(request, OptionNumber.Block2)!).num)).toEqual([1, 2]);
    // Follow-ups repeat neither the body nor Block1/Size1, but keep the body's Request-Tag.
    expect(followUps.every((request) => request.payload.length === 0 && block1(request) === undefined)).toBe(true);
    expect(followUps.every((request) => getOption(request, OptionNumber.Size1) === undefined)).toBe(true);
    expect(followUps.map((request) => hex(getOption(request, OptionNumber.RequestTag)))).toEqual([hex(getOption(fake.sent[0], OptionNumber.RequestTag)), hex(getOption(fake.sent[0], OptionNumber.RequestTag))]);
  });

  it('stops at once when unsubscribed mid-upload', () => {
    const fake = fakeContext(scheduler, uploadServer().answer);
    const result = run(() => blockwiseRequest(fake.ctx, { ...PUT, payload: body(10_000) }, DEFAULTS), scheduler, 3.5);
    expect(fake.sent).toHaveLength(4);
    expect(result.completed).toBe(false);
    expect(fake.ctx.tokens.size).toBe(0);
    expect(result.time).toBe(3.5);
  });
});
