import { CoapDecodeError } from '../../src/errors';
import { createPdu, Method, MessageType, ResponseCode } from '../../src/codec/pdu';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { encodeString } from '../../src/codec/option-values';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('udp codec', () => {
  it('encodes a CON GET with a token and Uri-Path exactly', () => {
    const pdu = createPdu({
      type: MessageType.CON,
      code: Method.GET,
      messageId: 0x1234,
      token: hex('a1b2'),
      options: [{ number: OptionNumber.UriPath, value: encodeString('temperature') }],
    });
    expect(toHex(encodeDatagram(pdu))).toBe('42011234a1b2' + 'bb' + Buffer.from('temperature').toString('hex'));
  });

  it('decodes a piggybacked 2.05 with payload (RFC 7252 Figure 16 shape)', () => {
    const pdu = decodeDatagram(hex('6245 7d34 2020 ff 32322e3320430a'.replace(/ /g, '')));
    expect(pdu.type).toBe(MessageType.ACK);
    expect(pdu.code).toBe(ResponseCode.Content);
    expect(pdu.messageId).toBe(0x7d34);
    expect(toHex(pdu.token)).toBe('2020');
    expect(Buffer.from(pdu.payload).toString()).toBe('22.3 C\n');
  });

  it('rejects a payload marker followed by nothing', () => {
    expect(() => decodeDatagram(hex('40011234ff'))).toThrow(CoapDecodeError);
    try {
      decodeDatagram(hex('40011234ff'));
    } catch (error) {
      expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'EMPTY_PAYLOAD', fatal: false, messageId: 0x1234 });
    }
  });

  it('rejects reserved delta 15', () => {
    expect(() => decodeDatagram(hex('40011234f1'))).toThrow(expect.objectContaining({ reason: 'RESERVED_DELTA' }));
  });
});

function decodeError(bytes: Uint8Array): CoapDecodeError {
  try {
    decodeDatagram(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapDecodeError);
    return error as CoapDecodeError;
  }
  throw new Error('expected a CoapDecodeError');
}

describe('udp codec: option encoding vectors', () => {
  const get = (options: { number: number; value: Uint8Array }[], extra: Partial<Parameters<typeof createPdu>[0]> = {}) =>
    createPdu({ type: MessageType.CON, code: Method.GET, messageId: 1, options, ...extra });

  it('encodes delta 13 with a 1-byte extension (option 13 -> d0 00)', () => {
    expect(toHex(encodeDatagram(get([{ number: 13, value: new Uint8Array(0) }])))).toBe('40010001' + 'd000');
  });

  it('encodes delta 268 as the largest 1-byte extension and 269 as the smallest 2-byte one', () => {
    expect(toHex(encodeDatagram(get([{ number: 268, value: new Uint8Array(0) }])))).toBe('40010001' + 'd0ff');
    expect(toHex(encodeDatagram(get([{ number: 269, value: new Uint8Array(0) }])))).toBe('40010001' + 'e00000');
  });

  it('encodes No-Response (258) and Request-Tag (292) with extended deltas', () => {
    const bytes = encodeDatagram(get([
      { number: OptionNumber.NoResponse, value: hex('02') },
      { number: OptionNumber.RequestTag, value: hex('aabb') },
    ]));
    // 258 = 13 + 245 (d1 f5 02); delta 34 = 13 + 21 (d2 15 aabb)
    expect(toHex(bytes)).toBe('40010001' + 'd1f502' + 'd215aabb');
    expect(decodeDatagram(bytes).options.map((o) => o.number)).toEqual([258, 292]);
  });

  it('encodes lengths 12, 13, 268 and 269 with the right extensions', () => {
    const lengths: [number, string][] = [[12, 'bc'], [13, 'bd00'], [268, 'bdff'], [269, 'be0000'], [1034, 'be02fd']];
    for (const [length, head] of lengths) {
      const bytes = encodeDatagram(get([{ number: OptionNumber.UriPath, value: new Uint8Array(length).fill(0x61) }]));
      expect(toHex(bytes.subarray(4, 4 + head.length / 2))).toBe(head);
      expect(bytes.length).toBe(4 + head.length / 2 + length);
      expect(decodeDatagram(bytes).options[0].value.length).toBe(length);
    }
  });

  it('decodes delta and length both extended in one option header', () => {
    const pdu = decodeDatagram(hex('40010001' + 'dd' + '0a' + '00' + '61'.repeat(13)));
    expect(pdu.options).toHaveLength(1);
    expect(pdu.options[0].number).toBe(23);
    expect(pdu.options[0].value.length).toBe(13);
  });

  it('keeps repeated options in order', () => {
    const pdu = decodeDatagram(hex('40010001' + 'b161' + '0162' + '0163'));
    expect(pdu.options.map((o) => [o.number, Buffer.from(o.value).toString()])).toEqual([[11, 'a'], [11, 'b'], [11, 'c']]);
  });

  it('sorts options given out of order (stable for repeats)', () => {
    const pdu = createPdu({ code: Method.GET, options: [
      { number: 15, value: encodeString('q') },
      { number: 11, value: encodeString('a') },
      { number: 11, value: encodeString('b') },
    ] });
    expect(toHex(encodeDatagram(pdu))).toBe('40010000' + 'b161' + '0162' + '4171');
  });

  it('rejects encoding unsorted options passed without createPdu', () => {
    const pdu = { ...createPdu({ code: Method.GET }), options: [{ number: 11, value: new Uint8Array(0) }, { number: 3, value: new Uint8Array(0) }] };
    expect(() => encodeDatagram(pdu)).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });
});

describe('udp codec: tokens (RFC 7252 §3, RFC 8974)', () => {
  it('encodes and decodes an 8-byte token', () => {
    const bytes = encodeDatagram(createPdu({ code: Method.GET, messageId: 2, token: hex('0102030405060708') }));
    expect(toHex(bytes)).toBe('480100020102030405060708');
    expect(toHex(decodeDatagram(bytes).token)).toBe('0102030405060708');
  });

  it('encodes a 13-byte token with TKL 13 and a zero extension byte', () => {
    const token = new Uint8Array(13).fill(0xab);
    const bytes = encodeDatagram(createPdu({ code: Method.GET, messageId: 2, token }));
    expect(toHex(bytes)).toBe('4d010002' + '00' + 'ab'.repeat(13));
    expect(decodeDatagram(bytes).token).toEqual(token);
  });

  it('encodes a 268-byte token with TKL 13 (ff) and a 269-byte one with TKL 14 (0000)', () => {
    const short = encodeDatagram(createPdu({ code: Method.GET, token: new Uint8Array(268) }));
    expect(toHex(short.subarray(0, 5))).toBe('4d010000ff');
    const long = encodeDatagram(createPdu({ code: Method.GET, token: new Uint8Array(269) }));
    expect(toHex(long.subarray(0, 6))).toBe('4e0100000000');
    expect(decodeDatagram(long).token.length).toBe(269);
  });

  it('decodes the largest extended token (65804 bytes)', () => {
    const bytes = encodeDatagram(createPdu({ code: Method.GET, token: new Uint8Array(65804).fill(7) }));
    expect(toHex(bytes.subarray(0, 6))).toBe('4e010000ffff');
    expect(decodeDatagram(bytes).token.length).toBe(65804);
  });

  it('rejects a token longer than 65804 bytes on encode', () => {
    expect(() => encodeDatagram(createPdu({ code: Method.GET, token: new Uint8Array(65805) }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });

  it.each([9, 10, 11, 12, 15])('rejects reserved TKL %i', (tkl) => {
    const error = decodeError(hex(((0x40 | tkl).toString(16)) + '010007' + '00'.repeat(20)));
    expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'RESERVED_TOKEN_LENGTH', fatal: false, messageId: 7, offset: 0 });
  });

  it('rejects a truncated token and a truncated token extension', () => {
    expect(decodeError(hex('48010007010203'))).toMatchObject({ reason: 'TRUNCATED_TOKEN', messageId: 7 });
    expect(decodeError(hex('4d010007'))).toMatchObject({ reason: 'TRUNCATED_TOKEN' });
    expect(decodeError(hex('4e01000700'))).toMatchObject({ reason: 'TRUNCATED_TOKEN' });
    expect(decodeError(hex('4d01000701' + 'aa'.repeat(13)))).toMatchObject({ reason: 'TRUNCATED_TOKEN' });
  });
});

describe('udp codec: header and empty messages (RFC 7252 §3, §4.1)', () => {
  it('decodes an empty ACK and an empty RST', () => {
    expect(decodeDatagram(hex('60001234'))).toEqual({ type: MessageType.ACK, code: 0, messageId: 0x1234, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
    expect(decodeDatagram(hex('70004321'))).toMatchObject({ type: MessageType.RST, code: 0, messageId: 0x4321 });
  });

  it('decodes an empty CON (a CoAP ping)', () => {
    expect(decodeDatagram(hex('40000001'))).toMatchObject({ type: MessageType.CON, code: 0, messageId: 1 });
  });

  it('encodes an empty RST as exactly 4 bytes', () => {
    expect(toHex(encodeDatagram(createPdu({ type: MessageType.RST, code: 0, messageId: 0xbeef })))).toBe('7000beef');
  });

  it('rejects an empty message with a token, an option or a payload', () => {
    for (const bytes of ['61001234aa', '60001234b161', '60001234ff01']) {
      expect(decodeError(hex(bytes))).toMatchObject({ reason: 'EMPTY_MESSAGE_NOT_EMPTY', messageId: 0x1234, fatal: false });
    }
  });

  it('rejects datagrams shorter than the header', () => {
    for (const bytes of ['', '40', '4001', '400100']) {
      expect(decodeError(hex(bytes))).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'TRUNCATED_HEADER', messageId: undefined });
    }
  });

  it('rejects versions 0, 2 and 3 with the message ID', () => {
    for (const first of ['00', '80', 'c0']) expect(decodeError(hex(first + '010102'))).toMatchObject({ reason: 'BAD_VERSION', messageId: 0x0102 });
  });

  it('rejects reserved length 15 and truncated options', () => {
    expect(decodeError(hex('40010001bf'))).toMatchObject({ reason: 'RESERVED_LENGTH', offset: 4 });
    expect(decodeError(hex('40010001b36162'))).toMatchObject({ reason: 'TRUNCATED_OPTION', offset: 4 });
    expect(decodeError(hex('40010001d0'))).toMatchObject({ reason: 'TRUNCATED_OPTION' });
    expect(decodeError(hex('40010001e000'))).toMatchObject({ reason: 'TRUNCATED_OPTION' });
    expect(decodeError(hex('40010001bd'))).toMatchObject({ reason: 'TRUNCATED_OPTION' });
    expect(decodeError(hex('40010001be01'))).toMatchObject({ reason: 'TRUNCATED_OPTION' });
  });

  it('encodes every message type in bits 4-5', () => {
    const types = [MessageType.CON, MessageType.NON, MessageType.ACK, MessageType.RST];
    expect(types.map((type) => toHex(encodeDatagram(createPdu({ type, code: ResponseCode.Content }))).slice(0, 2))).toEqual(['40', '50', '60', '70']);
  });

  it('rejects message IDs and codes out of range on encode', () => {
    expect(() => encodeDatagram(createPdu({ code: 1, messageId: 0x10000 }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
    expect(() => encodeDatagram(createPdu({ code: 256 }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });

  it('returns views into the input and plain Uint8Arrays for a Buffer input', () => {
    const input = Buffer.from('440100017a7b7c7db161ff6869', 'hex');
    const pdu = decodeDatagram(input);
    expect(pdu.payload.constructor).toBe(Uint8Array);
    expect(pdu.payload.buffer).toBe(input.buffer);
    expect(Buffer.from(pdu.payload).toString()).toBe('hi');
  });

  it('encodes large messages whose bytes are all written (pooled output)', () => {
    const payload = new Uint8Array(700).map((_, i) => i & 0xff);
    const first = encodeDatagram(createPdu({ code: ResponseCode.Content, payload }));
    const second = encodeDatagram(createPdu({ code: ResponseCode.Content, payload: new Uint8Array(700).fill(9) }));
    expect(decodeDatagram(first).payload).toEqual(payload);
    expect(decodeDatagram(second).payload).toEqual(new Uint8Array(700).fill(9));
  });
});

describe('udp codec: unrepresentable tokens', () => {
  it.each([9, 10, 11, 12])('rejects a %i-byte token on encode (RFC 8974 keeps TKL 9-12 reserved)', (length) => {
    expect(() => encodeDatagram(createPdu({ code: Method.GET, token: new Uint8Array(length) }))).toThrow(expect.objectContaining({ code: 'COAP_ERR_ENCODE' }));
  });
});

describe('udp codec: option numbers beyond 16 bits (issue 16)', () => {
  it('decodes option 65535, the largest number (delta 14 with extension fef2)', () => {
    expect(decodeDatagram(hex('40010001 e0fef2')).options.map((o) => o.number)).toEqual([65535]);
  });

  it('rejects option 65804 (delta 14 with extension ffff) with BAD_OPTION_NUMBER and the message ID', () => {
    expect(decodeError(hex('40010001 e0ffff'))).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'BAD_OPTION_NUMBER', offset: 4, fatal: false, messageId: 1 });
  });

  it('rejects a number that grows past 65535 over two options (65535, then delta 1)', () => {
    expect(decodeError(hex('40010001 e0fef2 10'))).toMatchObject({ reason: 'BAD_OPTION_NUMBER', offset: 7 });
  });

  it.each([65536, 70000, 1.5, -1, Number.NaN])('refuses option number %p on encode', (number) => {
    const pdu = { type: MessageType.CON, code: Method.GET, messageId: 1, token: new Uint8Array(0), options: [{ number, value: new Uint8Array(0) }], payload: new Uint8Array(0) };
    expect(() => encodeDatagram(pdu)).toThrow(expect.objectContaining({ name: 'CoapEncodeError', code: 'COAP_ERR_ENCODE', message: expect.stringContaining('option number') }));
  });
});
