/**
 * Block2 downloads in virtual time against a fake exchange context whose "server" answers each request by
 * reading its Block2 option.
 */
import { Observable, take, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { decodeBlock, encodeBlock, type BlockValue } from '../../src/codec/block';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeString, decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { createPdu, getOption, getOptions, Method, MessageType, ResponseCode, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { CoapBlockError } from '../../src/errors';
import { blockwiseRequest, completeBlock2Body, type BlockwiseOptions, type BlockwiseResult } from '../../src/exchange/blockwise';
import type { ExchangeContext, OutgoingPdu } from '../../src/exchange/exchange-context';
import type { RequestTemplate } from '../../src/exchange/request';
import { sequentialTokenGenerator } from '../../src/exchange/token';
import { TokenMatcher } from '../../src/exchange/token-matcher';
import { fakeExchangeContext } from '../helpers/fake-exchange-context';

type Reply = { code: number; options?: CoapOption[]; payload?: Uint8Array } | undefined;


const fakeContext = fakeExchangeContext;

interface Resource {
  body: Uint8Array;
  etag?: Uint8Array;
  contentFormat?: number;
  /** Largest SZX the server serves. */
  maxSzx?: number;
  /** Send Size2 with every block 0 (else only when asked). */
  alwaysSize2?: boolean;
}

/** Serves `resource()` block-wise as RFC 7959 §2.4 says; `resource` is read per request so specs can change it. */
function blockServer(resource: () => Resource): (request: OutgoingPdu) => Reply {
  return (request) => {
    const current = resource();
    const asked = getOption(request, OptionNumber.Block2);
    const block: BlockValue = asked === undefined ? { num: 0, more: false, szx: 6 } : decodeBlock(asked);
    const szx = Math.min(block.szx, current.maxSzx ?? 6);
    const size = 16 << szx;
    // Server switching to a smaller size renumbers from the byte offset the client asked for.
    const offset = block.num * (16 << block.szx);
    const num = offset / size;
    const payload = current.body.subarray(offset, offset + size);
    const more = offset + size < current.body.length;
    const options: CoapOption[] = [];
    if (current.etag !== undefined) options.push({ number: OptionNumber.ETag, value: current.etag });
    if (current.contentFormat !== undefined) options.push({ number: OptionNumber.ContentFormat, value: encodeUint(current.contentFormat) });
    if (current.body.length > size || asked !== undefined) options.push({ number: OptionNumber.Block2, value: encodeBlock({ num, more, szx }) });
    if (num === 0 && (current.alwaysSize2 || getOption(request, OptionNumber.Size2) !== undefined)) {
      options.push({ number: OptionNumber.Size2, value: encodeUint(current.body.length) });
    }
    return { code: ResponseCode.Content, options, payload };
  };
}

function body(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  return bytes;
}

const GET_BIG: RequestTemplate = {
  code: Method.GET,
  options: [{ number: OptionNumber.UriPath, value: encodeString('big') }],
  payload: new Uint8Array(0),
};

const DEFAULTS: BlockwiseOptions = {
  maxPduSize: 1148,
  maxBlockSize: 1024,
  singleBody: true,
  noPreemptiveRequestTag: false,
  maxBodySize: 8 * 1024 * 1024,
};

interface Run {
  values: BlockwiseResult[];
  error: unknown;
  completed: boolean;
  /** Virtual time at the end. */
  time: number;
}

/** Subscribes in virtual time, optionally unsubscribing at `unsubscribeAt`, and flushes. */
function run(make: (scheduler: TestScheduler) => Observable<BlockwiseResult>, scheduler: TestScheduler, unsubscribeAt?: number): Run {
  const result: Run = { values: [], error: undefined, completed: false, time: 0 };
  scheduler.run(({ flush }) => {
    let subscription: Subscription | undefined = undefined;
    subscription = make(scheduler).subscribe({
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

function blockOf(request: OutgoingPdu): BlockValue | undefined {
  const value = getOption(request, OptionNumber.Block2);
  return value === undefined ? undefined : decodeBlock(value);
}

describe('block2 downloads', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('fetches every following block with fresh tokens and emits the whole body once', () => {
    const content = body(3000);
    const fake = fakeContext(scheduler, blockServer(() => ({ body: content, etag: Uint8Array.of(1, 2), contentFormat: 42 })));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.error).toBeUndefined();
    expect(result.completed).toBe(true);
    expect(result.values).toHaveLength(1);
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
    expect(getOption(result.values[0].pdu, OptionNumber.Block2)).toBeUndefined();
    expect(decodeUint(getOption(result.values[0].pdu, OptionNumber.ContentFormat)!)).toBe(42);
    expect(result.values[0].progress).toBeUndefined();
    expect(fake.sent.map(blockOf)).toEqual([undefined, { num: 1, more: false, szx: 6 }, { num: 2, more: false, szx: 6 }]);
    expect(new Set(fake.sent.map((request) => Buffer.from(request.token).toString('hex'))).size).toBe(3);
    // A single body has no progress: no Size2 asked for.
    expect(fake.sent.map((request) => getOption(request, OptionNumber.Size2))).toEqual([undefined, undefined, undefined]);
    expect(fake.sent.every((request) => decodeString(getOptions(request, OptionNumber.UriPath)[0]) === 'big')).toBe(true);
    expect(fake.ctx.tokens.size).toBe(0);
  });

  it('emits each block with its progress when singleBody is off', () => {
    const content = body(2500);
    const fake = fakeContext(scheduler, blockServer(() => ({ body: content })));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, singleBody: false }), scheduler);
    // RFC 7959 §4: Size2 = 0 in the first request only, so progress has a total.
    expect(fake.sent.map((request) => getOption(request, OptionNumber.Size2)?.length)).toEqual([0, undefined, undefined]);
    expect(result.values.map((value) => value.progress)).toEqual([
      { offset: 0, received: 1024, total: 2500, complete: false },
      { offset: 1024, received: 2048, total: 2500, complete: false },
      { offset: 2048, received: 2500, total: 2500, complete: true },
    ]);
    expect(Buffer.compare(Buffer.concat(result.values.map((value) => value.payload)), content)).toBe(0);
    expect(result.completed).toBe(true);
  });

  it('asks for small blocks in the first request when the MTU needs them (RFC 7959 §2.4)', () => {
    const content = body(200);
    const fake = fakeContext(scheduler, blockServer(() => ({ body: content })));
    // 160-byte MTU: 156 bytes per message leave room for 64-byte blocks with the response's options.
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, maxPduSize: 156 }), scheduler);
    expect(fake.sent.map(blockOf)).toEqual([0, 1, 2, 3].map((num) => ({ num, more: false, szx: 2 })));
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
  });

  it('follows a server that answers with a smaller SZX, numbering from the byte offset', () => {
    const content = body(300);
    let maxSzx = 2; // 64 bytes at first
    const server = blockServer(() => ({ body: content, maxSzx }));
    const fake = fakeContext(scheduler, (request) => {
      const reply = server(request);
      maxSzx = 1; // then 32 bytes
      return reply;
    });
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.error).toBeUndefined();
    expect(fake.sent.map(blockOf)).toEqual([
      undefined,
      { num: 1, more: false, szx: 2 }, // answered as 2/1/32 (byte 64)
      { num: 3, more: false, szx: 1 }, // byte 96
      ...[4, 5, 6, 7, 8, 9].map((num) => ({ num, more: false, szx: 1 })),
    ]);
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
  });

  it('restarts from block 0 when the ETag changes mid-transfer and reports it', () => {
    let content = body(3000);
    let etag = Uint8Array.of(1);
    const fake = fakeContext(scheduler, (request) => {
      const reply = blockServer(() => ({ body: content, etag }))(request);
      if (blockOf(request)?.num === 1 && etag[0] === 1) {
        // The representation changes right after block 1 was served.
        content = body(2100).map((byte) => byte ^ 0xff);
        etag = Uint8Array.of(2);
      }
      return reply;
    });
    const events: unknown[] = [];
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, onEvent: (event) => events.push(event) }), scheduler);
    expect(result.error).toBeUndefined();
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
    expect(fake.sent.map((request) => blockOf(request)?.num)).toEqual([undefined, 1, 2, 0, 1, 2]);
    expect(events).toEqual([{ type: 'block-restart', reason: 'ETag changed at byte 2048' }]);
  });

  it('gives up with CoapBlockError after 3 restarts when the ETag keeps changing', () => {
    let version = 0;
    const fake = fakeContext(scheduler, (request) => blockServer(() => ({ body: body(3000), etag: Uint8Array.of(version++) }))(request));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as CoapBlockError).code).toBe('COAP_ERR_BLOCK');
    expect((result.error as Error).message).toBe('the ETag changed 4 times during the transfer; giving up');
    expect(fake.sent).toHaveLength(5);
    expect(fake.ctx.tokens.size).toBe(0);
  });

  it('fails with CoapBlockError when the Content-Format changes mid-transfer', () => {
    let format = 0;
    const fake = fakeContext(scheduler, (request) => blockServer(() => ({ body: body(3000), contentFormat: format++ === 0 ? 0 : 50 }))(request));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as Error).message).toBe('the Content-Format changed at byte 1024 of a block-wise transfer');
  });

  it('fetches only the requested block for random access (Block2 NUM > 0)', () => {
    const content = body(1000);
    const fake = fakeContext(scheduler, blockServer(() => ({ body: content })));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, block2: { num: 3, size: 64 } }), scheduler);
    expect(fake.sent.map(blockOf)).toEqual([{ num: 3, more: false, szx: 2 }]);
    expect(result.values).toHaveLength(1);
    expect(Buffer.compare(result.values[0].payload, content.subarray(192, 256))).toBe(0);
    expect(result.values[0].progress).toEqual({ offset: 192, received: 256, total: undefined, complete: false });
    expect(result.completed).toBe(true);
  });

  it('rejects a body whose Size2 exceeds maxBodySize after the first block', () => {
    const fake = fakeContext(scheduler, blockServer(() => ({ body: body(5000), alwaysSize2: true })));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, maxBodySize: 4096 }), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as Error).message).toBe('the body is 5000 bytes (Size2), more than maxBodySize 4096');
    expect(fake.sent).toHaveLength(1);
  });

  it('fails before the body grows past maxBodySize when the server gives no Size2', () => {
    const server = blockServer(() => ({ body: body(5000) }));
    const fake = fakeContext(scheduler, (request) => {
      const reply = server(request)!;
      return { ...reply, options: reply.options!.filter((option) => option.number !== OptionNumber.Size2) };
    });
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, maxBodySize: 4000 }), scheduler);
    expect(result.error).toBeInstanceOf(CoapBlockError);
    expect((result.error as Error).message).toBe('the body grows past maxBodySize 4000 bytes');
    expect(fake.sent.map((request) => blockOf(request)?.num)).toEqual([undefined, 1, 2, 3]);
    expect(result.values).toHaveLength(0);
  });

  it('stops at once when unsubscribed: no further request, no live token', () => {
    const fake = fakeContext(scheduler, blockServer(() => ({ body: body(10_000) })));
    // Responses come 1 ms after each request: at 2.5 ms block 2 is in flight.
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler, 2.5);
    expect(fake.sent).toHaveLength(3);
    expect(result.completed).toBe(false);
    expect(result.error).toBeUndefined();
    expect(fake.ctx.tokens.size).toBe(0);
    expect(result.time).toBe(2.5); // nothing was left scheduled after the unsubscribe
  });

  it('leaves Observe out of the follow-ups and emits a notification body once (completeBlock2Body)', () => {
    const content = body(2100);
    const fake = fakeContext(scheduler, blockServer(() => ({ body: content, etag: Uint8Array.of(9) })));
    const observeRequest: RequestTemplate = { ...GET_BIG, options: [{ number: OptionNumber.Observe, value: new Uint8Array(0) }, ...GET_BIG.options] };
    const notification: CoapPdu = createPdu({
      type: MessageType.NON,
      code: ResponseCode.Content,
      token: Uint8Array.of(0xaa),
      options: [
        { number: OptionNumber.ETag, value: Uint8Array.of(9) },
        { number: OptionNumber.Observe, value: encodeUint(7) },
        { number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: true, szx: 6 }) },
      ],
      payload: content.subarray(0, 1024),
    });
    const result = run(() => completeBlock2Body(fake.ctx, observeRequest, notification, { maxPduSize: 1148, maxBlockSize: 1024, maxBodySize: 1 << 20 }), scheduler);
    expect(result.values).toHaveLength(1);
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
    expect(decodeUint(getOption(result.values[0].pdu, OptionNumber.Observe)!)).toBe(7);
    expect(fake.sent.map((request) => getOption(request, OptionNumber.Observe))).toEqual([undefined, undefined]);
    expect(fake.sent.map((request) => blockOf(request)?.num)).toEqual([1, 2]);
  });

  it('passes a response without Block2 through unchanged', () => {
    const fake = fakeContext(scheduler, () => ({ code: ResponseCode.NotFound, payload: encodeString('nope') }));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.values.map((value) => [value.pdu.code, decodeString(value.payload)])).toEqual([[ResponseCode.NotFound, 'nope']]);
    expect(fake.sent).toHaveLength(1);
  });
  it('asks for no further block once the consumer unsubscribes while taking a partial block', () => {
    const fake = fakeContext(scheduler, blockServer(() => ({ body: body(3000) })));
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, { ...DEFAULTS, singleBody: false }).pipe(take(2)), scheduler);
    expect(result.values.map((value) => value.progress?.offset)).toEqual([0, 1024]);
    expect(fake.sent.map((request) => blockOf(request)?.num)).toEqual([undefined, 1]);
    expect(fake.ctx.tokens.size).toBe(0);
  });

  it('completes a download from a peer that answers synchronously, and leaves no live token', () => {
    const content = body(5000);
    const server = blockServer(() => ({ body: content, etag: Uint8Array.of(3) }));
    const tokens = new TokenMatcher(sequentialTokenGenerator(2));
    const sent: OutgoingPdu[] = [];
    const ctx: ExchangeContext = {
      tokens,
      transmit: () => new Observable<never>((subscriber) => subscriber.complete()),
      send: (request, _confirmable, callbacks) => {
        sent.push(request);
        const reply = server(request)!;
        tokens.route(createPdu({ type: MessageType.ACK, code: reply.code, token: request.token, options: reply.options, payload: reply.payload }));
        callbacks.acknowledged();
        return () => undefined;
      },
      scheduler,
      responseTimeout: 10_000,
      nonTimeout: 10_000,
      peer: { host: '127.0.0.1', port: 5683 },
    };
    const result = run(() => blockwiseRequest(ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.error).toBeUndefined();
    expect(result.completed).toBe(true);
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
    expect(sent.map((request) => blockOf(request)?.num)).toEqual([undefined, 1, 2, 3, 4]);
    expect(tokens.size).toBe(0);
  });

  it('grows the body by doubling when no Size2 says how big it is', () => {
    const content = body(9000);
    const server = blockServer(() => ({ body: content }));
    const fake = fakeContext(scheduler, (request) => {
      const reply = server(request)!;
      return { ...reply, options: reply.options!.filter((option) => option.number !== OptionNumber.Size2) };
    });
    const result = run(() => blockwiseRequest(fake.ctx, GET_BIG, DEFAULTS), scheduler);
    expect(result.values).toHaveLength(1);
    expect(result.values[0].payload.length).toBe(9000);
    expect(Buffer.compare(result.values[0].payload, content)).toBe(0);
  });
});
