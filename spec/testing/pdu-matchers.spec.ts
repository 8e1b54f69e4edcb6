import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { createPdu, MessageType, Method, ResponseCode } from '../../src/codec/pdu';
import { encodeDatagram } from '../../src/codec/udp-codec';
import { matchesPdu, pduMatchers, pduMismatches } from '../../src/testing/pdu-matchers';

expect.extend(pduMatchers);

const get = createPdu({
  type: MessageType.CON,
  code: Method.GET,
  messageId: 0x1234,
  token: Uint8Array.of(0x0a, 0x0b),
  options: [
    { number: OptionNumber.Observe, value: encodeUint(0) },
    { number: OptionNumber.UriPath, value: encodeString('sensors') },
    { number: OptionNumber.UriPath, value: encodeString('temp') },
    { number: OptionNumber.Accept, value: encodeUint(60) },
  ],
});

describe('toMatchPdu', () => {
  it('matches by type, code, message ID, token, path, Observe, options and payload, on PDUs and on datagram bytes', () => {
    const pattern = { type: 'CON', code: 'GET', messageId: 0x1234, token: '0a0b', path: '/sensors/temp', observe: 0, options: { [OptionNumber.Accept]: 60 } } as const;
    expect(get).toMatchPdu(pattern);
    expect(encodeDatagram(get)).toMatchPdu(pattern);
    expect(get).toMatchPdu({ code: '0.01', type: MessageType.CON });
    expect(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, payload: encodeString('21.5') })).toMatchPdu({ code: '2.05', payload: '21.5', observe: null, token: '' });
  });

  it('lists every difference, and fails the expectation with them', () => {
    expect(pduMismatches(get, { type: 'ACK', code: '2.05', token: 'ff', path: '/x', observe: null, options: { [OptionNumber.Accept]: [50] }, payload: 'p' })).toEqual([
      'type is CON, expected ACK',
      'code is 0.01, expected 2.05',
      'token is [0a0b], expected [ff]',
      'path is /sensors/temp, expected /x',
      'Observe is 0, expected absent',
      'option 17 is [3c], expected [32]',
      'payload is 0 bytes (), expected 1 (70)',
    ]);
    expect(() => expect(get).toMatchPdu({ type: 'NON' })).toThrow('expected CON #1234 GET [0a0b] /sensors/temp Observe=0 Accept=application/cbor to match the PDU pattern:\n  type is CON, expected NON');
    expect(() => expect(get).not.toMatchPdu({ type: 'CON' })).toThrow('not to match');
  });

  it('says so for bytes that are not CoAP, for undefined and for an unknown code name', () => {
    expect(pduMismatches(Uint8Array.of(0x40), {})).toEqual(['the bytes are not a CoAP datagram: invalid CoAP message: datagram of 1 bytes is shorter than the 4-byte header']);
    expect(matchesPdu(undefined, {})).toBe(false);
    expect(pduMismatches(get, { code: 'FOO' })).toEqual(["the pattern's code 'FOO' is not a method name or c.dd"]);
  });
});
