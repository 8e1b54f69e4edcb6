import { CoapDecodeError } from '../../src/errors';
import { ContentFormat } from '../../src/codec/content-format';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeUint } from '../../src/codec/option-values';
import { cborPayload, jsonPayload, textPayload } from '../../src/codec/payload';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import { CoapResponse } from '../../src/exchange/response';
import { decodeBody } from '../../src/operators/decode-body';
import { createCoapTestScheduler } from '../../src/testing/marbles';

const response = (payload: Uint8Array, contentFormat?: number) =>
  new CoapResponse(
    createPdu({ type: MessageType.ACK, code: ResponseCode.Content, options: contentFormat === undefined ? [] : [{ number: OptionNumber.ContentFormat, value: encodeUint(contentFormat) }], payload }),
    { host: '127.0.0.1', port: 5683 },
  );
const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('decodeBody', () => {
  it('decodes by Content-Format: JSON, CBOR (SenML+CBOR too), text, link-format, bytes; an empty body is undefined', () => {
    const senml = [new Map<number, unknown>([[0, 'temp'], [2, 21.5]])];
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('-j-c-s-t-l-b-e|', {
        j: response(jsonPayload({ on: true }), ContentFormat.Json),
        c: response(cborPayload({ t: 1 }), ContentFormat.Cbor),
        s: response(cborPayload(senml), ContentFormat.SenmlCbor),
        t: response(textPayload('21.5')),
        l: response(textPayload('</a>'), ContentFormat.LinkFormat),
        b: response(Uint8Array.of(1, 2), ContentFormat.OctetStream),
        e: response(new Uint8Array(0), ContentFormat.Json),
      });
      expectObservable(source.pipe(decodeBody())).toBe('-j-c-s-t-l-b-e|', { j: { on: true }, c: { t: 1 }, s: [{ 0: 'temp', 2: 21.5 }], t: '21.5', l: '</a>', b: Uint8Array.of(1, 2), e: undefined });
    });
  });

  it('errors with CoapDecodeError when the body is not what its Content-Format says', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const bad = response(textPayload('{nope'), ContentFormat.Json);
      let expected: unknown;
      try {
        JSON.parse('{nope');
      } catch (error) {
        expected = error;
      }
      expectObservable(cold('-a', { a: bad }).pipe(decodeBody())).toBe('-#', undefined, new CoapDecodeError('BAD_PAYLOAD', `payload is not JSON (${(expected as Error).message})`));
    });
  });
});
