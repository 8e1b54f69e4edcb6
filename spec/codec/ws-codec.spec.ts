import { CoapDecodeError } from '../../src/errors';
import { createPdu, Method, ResponseCode, SignalCode } from '../../src/codec/pdu';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function decodeError(bytes: Uint8Array): CoapDecodeError {
  try {
    decodeWsMessage(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapDecodeError);
    return error as CoapDecodeError;
  }
  throw new Error('expected a CoapDecodeError');
}

describe('ws codec (RFC 8323 §4.2)', () => {
  it('encodes a GET with Len 0, no length field', () => {
    const pdu = createPdu({ code: Method.GET, token: hex('a1b2'), options: [{ number: OptionNumber.UriPath, value: encodeString('temp') }] });
    expect(toHex(encodeWsMessage(pdu))).toBe('02' + '01' + 'a1b2' + 'b474656d70');
  });

  it('encodes a large payload without any length field', () => {
    const bytes = encodeWsMessage(createPdu({ code: ResponseCode.Content, payload: new Uint8Array(70000).fill(1) }));
    expect(toHex(bytes.subarray(0, 3))).toBe('0045ff');
    expect(bytes.length).toBe(3 + 70000);
    expect(decodeWsMessage(bytes).payload.length).toBe(70000);
  });

  it('decodes a 2.05 with Content-Format and payload', () => {
    const pdu = decodeWsMessage(hex('01 45 07 c132 ff 7b7d'));
    expect(pdu).toMatchObject({ type: 0, messageId: 0, code: ResponseCode.Content });
    expect(toHex(pdu.token)).toBe('07');
    expect(pdu.options.map((o) => [o.number, toHex(o.value)])).toEqual([[OptionNumber.ContentFormat, '32']]);
    expect(Buffer.from(pdu.payload).toString()).toBe('{}');
  });

  it('encodes and decodes a CSM', () => {
    const pdu = createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: encodeUint(8192) }] });
    expect(toHex(encodeWsMessage(pdu))).toBe('00e1' + '222000');
    expect(decodeWsMessage(hex('00e1222000')).options[0]).toEqual({ number: 2, value: hex('2000') });
  });

  it('encodes an extended token after the code (RFC 8974)', () => {
    const bytes = encodeWsMessage(createPdu({ code: Method.GET, token: new Uint8Array(300).fill(3) }));
    expect(toHex(bytes.subarray(0, 4))).toBe('0e01' + '001f');
    expect(decodeWsMessage(bytes).token.length).toBe(300);
  });

  it('rejects a non-zero Len as fatal', () => {
    expect(decodeError(hex('1001ff'))).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'BAD_FRAME', fatal: true });
  });

  it('rejects a message shorter than 2 bytes as fatal', () => {
    expect(decodeError(hex('00'))).toMatchObject({ reason: 'TRUNCATED_HEADER', fatal: true });
    expect(decodeError(new Uint8Array(0))).toMatchObject({ reason: 'TRUNCATED_HEADER', fatal: true });
  });

  it.each([9, 10, 11, 12, 15])('rejects reserved TKL %i as fatal', (tkl) => {
    expect(decodeError(Uint8Array.of(tkl, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).toMatchObject({ reason: 'RESERVED_TOKEN_LENGTH', fatal: true });
  });

  it('rejects truncated tokens and options as fatal', () => {
    expect(decodeError(hex('0401aabb'))).toMatchObject({ reason: 'TRUNCATED_TOKEN', fatal: true });
    expect(decodeError(hex('0d01'))).toMatchObject({ reason: 'TRUNCATED_TOKEN', fatal: true });
    expect(decodeError(hex('0001b2'))).toMatchObject({ reason: 'TRUNCATED_OPTION', fatal: true });
    expect(decodeError(hex('0001ff'))).toMatchObject({ reason: 'EMPTY_PAYLOAD', fatal: true });
  });
});

describe('ws codec: unrepresentable tokens', () => {
  it('rejects a 9-byte token on encode', () => {
    expect(() => encodeWsMessage(createPdu({ code: Method.GET, token: new Uint8Array(9) }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });
});

describe('ws codec: option numbers beyond 16 bits (issue 16)', () => {
  it('rejects option 65804 as fatal with BAD_OPTION_NUMBER', () => {
    expect(decodeError(hex('00 01 e0ffff'))).toMatchObject({ reason: 'BAD_OPTION_NUMBER', fatal: true });
  });

  it('refuses option number 65536 on encode', () => {
    const pdu = { ...createPdu({ code: Method.GET }), options: [{ number: 65536, value: new Uint8Array(0) }] };
    expect(() => encodeWsMessage(pdu)).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE', message: expect.stringContaining('option number') }));
  });
});
