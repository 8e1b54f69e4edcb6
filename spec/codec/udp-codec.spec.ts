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
