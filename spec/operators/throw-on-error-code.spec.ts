import { of } from 'rxjs';
import { CoapResponseError } from '../../src/errors';
import { CoapResponse } from '../../src/exchange/response';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import { encodeString } from '../../src/codec/option-values';
import { throwOnErrorCode } from '../../src/operators/throw-on-error-code';
import { throwOnErrorCode as fromSessionPath } from '../../src/session/throw-on-error-code';
import { throwOnErrorCode as fromCore } from '../../src/index';
import { throwOnErrorCode as fromOperators } from '../../src/operators';
import { createCoapTestScheduler } from '../../src/testing/marbles';

const response = (code: number, text = ''): CoapResponse =>
  new CoapResponse(createPdu({ type: MessageType.ACK, code, payload: encodeString(text) }), { host: '127.0.0.1', port: 5683 });
const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('throwOnErrorCode', () => {
  it('passes 2.xx responses through and errors on the first 4.xx with CoapResponseError and its diagnostic', () => {
    const ok = response(ResponseCode.Content, 'fine');
    const notFound = response(ResponseCode.NotFound, 'no such sensor');
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-a|', { a: ok, b: notFound }).pipe(throwOnErrorCode())).toBe(
        '-a-#',
        { a: ok },
        new CoapResponseError('the server answered 4.04 Not Found: no such sensor', notFound),
      );
    });
  });

  it('carries the response on the error, and leaves out a long payload', () => {
    const big = response(ResponseCode.InternalServerError, 'x'.repeat(201));
    let error: unknown;
    of(big).pipe(throwOnErrorCode()).subscribe({ error: (e: unknown) => (error = e) });
    expect(error).toBeInstanceOf(CoapResponseError);
    expect(error).toMatchObject({ code: 'COAP_ERR_RESPONSE', message: 'the server answered 5.00 Internal Server Error', response: big });
  });

  it('is the same operator from rxcoap, rxcoap/operators and the old session path', () => {
    expect(fromCore).toBe(throwOnErrorCode);
    expect(fromOperators).toBe(throwOnErrorCode);
    expect(fromSessionPath).toBe(throwOnErrorCode);
  });
});

