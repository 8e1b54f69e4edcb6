import { of, lastValueFrom } from 'rxjs';
import { throwOnErrorCode } from '../../src/session/throw-on-error-code';
import { CoapResponse } from '../../src/exchange/response';
import { CoapResponseError } from '../../src/errors';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import { encodeString } from '../../src/codec/option-values';

const response = (code: number, text = ''): CoapResponse =>
  new CoapResponse(createPdu({ type: MessageType.ACK, code, payload: encodeString(text) }), { host: '127.0.0.1', port: 5683 });

describe('throwOnErrorCode', () => {
  it('passes 2.xx responses through', async () => {
    const ok = response(ResponseCode.Content, 'fine');
    await expect(lastValueFrom(of(ok).pipe(throwOnErrorCode()))).resolves.toBe(ok);
  });

  it('turns a 4.04 into CoapResponseError carrying the response and its diagnostic payload', async () => {
    const notFound = response(ResponseCode.NotFound, 'no such sensor');
    const error = await lastValueFrom(of(notFound).pipe(throwOnErrorCode())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoapResponseError);
    expect(error).toMatchObject({ code: 'COAP_ERR_RESPONSE', message: 'the server answered 4.04 Not Found: no such sensor', response: notFound });
  });
});
