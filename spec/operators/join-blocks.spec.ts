import { lastValueFrom, map, toArray } from 'rxjs';
import { CoapArgumentError, CoapBlockError } from '../../src/errors';
import { encodeBlock, decodeBlock } from '../../src/codec/block';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeText, textPayload } from '../../src/codec/payload';
import { encodeUint } from '../../src/codec/option-values';
import { createPdu, getOption, MessageType, ResponseCode, type CoapPdu } from '../../src/codec/pdu';
import { CoapContext } from '../../src/context';
import { CoapResponse, type BlockProgress } from '../../src/exchange/response';
import { joinBlocks } from '../../src/operators/join-blocks';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { piggybackedResponse } from '../../src/testing/fake-replies';
import { createCoapTestScheduler } from '../../src/testing/marbles';

const REMOTE = { host: '127.0.0.1', port: 5683 };
const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** A partial response as the block mode without singleBody emits it. */
function part(num: number, text: string, progress: Omit<BlockProgress, 'received'> & { received?: number }, etag = 1): CoapResponse {
  const pdu = createPdu({
    type: MessageType.ACK,
    code: ResponseCode.Content,
    options: [
      { number: OptionNumber.ETag, value: Uint8Array.of(etag) },
      { number: OptionNumber.ContentFormat, value: encodeUint(0) },
      { number: OptionNumber.Block2, value: encodeBlock({ num, more: !progress.complete, szx: 0 }) },
    ],
    payload: textPayload(text),
  });
  return new CoapResponse(pdu, REMOTE, { progress: { received: progress.offset + text.length, ...progress } });
}

const sixteen = (c: string) => c.repeat(16);
const body = (response: CoapResponse) => ({ text: decodeText(response.payload), block2: response.block2, etag: response.etag?.[0], format: response.contentFormat });

describe('joinBlocks', () => {
  it('emits one response with the whole body when the last part comes, with the first part options and no Block2', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const parts = cold('-a-b-c|', {
        a: part(0, sixteen('a'), { offset: 0, total: 40, complete: false }),
        b: part(1, sixteen('b'), { offset: 16, total: 40, complete: false }),
        c: part(2, 'cccccccc', { offset: 32, total: 40, complete: true }),
      });
      expectObservable(parts.pipe(joinBlocks(), map(body))).toBe('-----c|', { c: { text: `${sixteen('a')}${sixteen('b')}cccccccc`, block2: undefined, etag: 1, format: 0 } });
    });
  });

  it('passes a whole response (no progress) through, and joins the next body afresh', () => {
    const whole = new CoapResponse(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, payload: textPayload('small') }), REMOTE);
    scheduler().run(({ cold, expectObservable }) => {
      const parts = cold('-w-a-b|', { w: whole, a: part(0, sixteen('x'), { offset: 0, total: undefined, complete: false }), b: part(1, 'y', { offset: 16, total: undefined, complete: true }) });
      expectObservable(parts.pipe(joinBlocks(), map((r) => decodeText(r.payload)))).toBe('-w---b|', { w: 'small', b: `${sixteen('x')}y` });
    });
  });

  it('starts over at a part at offset 0 (the engine restarts a transfer whose ETag changed, RFC 7959 §2.4)', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const parts = cold('-a-r-s|', {
        a: part(0, sixteen('o'), { offset: 0, total: undefined, complete: false }, 1),
        r: part(0, sixteen('n'), { offset: 0, total: undefined, complete: false }, 2),
        s: part(1, 'n', { offset: 16, total: undefined, complete: true }, 2),
      });
      expectObservable(parts.pipe(joinBlocks(), map(body))).toBe('-----s|', { s: { text: `${sixteen('n')}n`, block2: undefined, etag: 2, format: 0 } });
    });
  });

  it('errors with CoapBlockError on a gap, on a body past maxBodySize, and on a source that ends mid-body', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const a = part(0, sixteen('a'), { offset: 0, total: undefined, complete: false });
      const gap = part(2, 'c', { offset: 32, total: undefined, complete: true });
      expectObservable(cold('-a-g', { a, g: gap }).pipe(joinBlocks())).toBe('---#', undefined, new CoapBlockError('a part at byte 32 does not follow the 16 bytes joined so far'));
      expectObservable(cold('-a-b', { a, b: part(1, sixteen('b'), { offset: 16, total: undefined, complete: false }) }).pipe(joinBlocks({ maxBodySize: 20 }))).toBe(
        '---#',
        undefined,
        new CoapBlockError('the body grows past maxBodySize 20 bytes'),
      );
      expectObservable(cold('-a|', { a }).pipe(joinBlocks())).toBe('--#', undefined, new CoapBlockError('the responses ended after 16 bytes of a block-wise body'));
    });
    expect(() => joinBlocks({ maxBodySize: -1 })).toThrow(CoapArgumentError);
  });

  it('gives over a real session the same body and options as the single-body block mode (the same engine beneath)', async () => {
    const text = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const server = (request: CoapPdu) => {
      const asked = getOption(request, OptionNumber.Block2);
      const num = asked === undefined ? 0 : decodeBlock(asked).num;
      const chunk = text.slice(num * 64, num * 64 + 64);
      const more = (num + 1) * 64 < text.length;
      return piggybackedResponse(request, {
        payload: chunk,
        options: [
          { number: OptionNumber.ETag, value: Uint8Array.of(9) },
          { number: OptionNumber.Block2, value: encodeBlock({ num, more, szx: 2 }) },
          ...(num === 0 ? [{ number: OptionNumber.Size2, value: encodeUint(text.length) }] : []),
        ],
      });
    };
    const run = async (singleBody: boolean) => {
      const sched = scheduler();
      const fake = createFakeTransport({ scheduler: sched, respond: (pdu) => (pdu.type === MessageType.CON ? server(pdu) : undefined) });
      const ctx = new CoapContext({ ...sched.contextOptions(), blockMode: { singleBody } });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const out = lastValueFrom(session.get('/log').pipe(singleBody ? map((r) => r) : joinBlocks(), toArray()));
      sched.flush();
      const responses = await out;
      await ctx.free();
      return responses.map((r) => ({ text: decodeText(r.payload), etag: r.etag?.[0], block2: r.block2, size2: r.size2, format: r.contentFormat }));
    };
    const joined = await run(false);
    expect(joined).toEqual(await run(true));
    expect(joined).toEqual([{ text, etag: 9, block2: undefined, size2: text.length, format: 0 }]);
  });
});
