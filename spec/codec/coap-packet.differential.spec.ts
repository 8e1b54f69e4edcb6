/**
 * Differential tests against the `coap-packet` package (RFC 7252 / RFC 8974 UDP codec): our encoding
 * parses to the same fields with its `parse`, and its `generate` output decodes to the same fields with
 * ours. Limited to what both support: tokens of 0-8 bytes, registered option names, non-empty codes.
 */
import { createPdu, codeToString, MessageType, type CoapPdu } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { OptionNumber } from '../../src/codec/option-numbers';
import { optionName } from '../../src/codec/option-registry';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { encodeBlock } from '../../src/codec/block';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const coapPacket = require('coap-packet') as {
  parse(buffer: Buffer): ParsedPacket;
  generate(packet: unknown, maxLength?: number): Buffer;
};

interface ParsedPacket {
  code: string;
  confirmable: boolean;
  reset: boolean;
  ack: boolean;
  messageId: number;
  token: Buffer;
  options: { name: string; value: Buffer }[];
  payload: Buffer;
}

/** Names coap-packet uses for option numbers (where ours differ or are unknown to it, it uses the number). */
const theirNames: Record<number, string> = {
  1: 'If-Match', 3: 'Uri-Host', 4: 'ETag', 5: 'If-None-Match', 6: 'Observe', 7: 'Uri-Port', 8: 'Location-Path',
  9: 'OSCORE', 11: 'Uri-Path', 12: 'Content-Format', 14: 'Max-Age', 15: 'Uri-Query', 16: 'Hop-Limit', 17: 'Accept',
  19: 'Q-Block1', 20: 'Location-Query', 23: 'Block2', 27: 'Block1', 28: 'Size2', 31: 'Q-Block2', 35: 'Proxy-Uri',
  39: 'Proxy-Scheme', 60: 'Size1', 258: 'No-Response',
};
const theirNumbers = new Map(Object.entries(theirNames).map(([number, name]) => [name, Number(number)]));

const typeOf = (packet: ParsedPacket): number =>
  packet.confirmable ? MessageType.CON : packet.ack ? MessageType.ACK : packet.reset ? MessageType.RST : MessageType.NON;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const ours = (pdu: CoapPdu) => ({
  type: pdu.type,
  code: codeToString(pdu.code),
  messageId: pdu.messageId,
  token: hex(pdu.token),
  options: pdu.options.map((o) => [o.number, hex(o.value)]),
  payload: hex(pdu.payload),
});
const theirs = (packet: ParsedPacket) => ({
  type: typeOf(packet),
  code: packet.code,
  messageId: packet.messageId,
  token: hex(packet.token),
  options: packet.options.map((o) => [theirNumbers.get(o.name) ?? Number(o.name), hex(o.value)]),
  payload: hex(packet.payload),
});

const text = encodeString;
const corpus: { name: string; pdu: CoapPdu }[] = [
  { name: 'CON GET with Uri-Path and Uri-Query', pdu: createPdu({ type: 0, code: 1, messageId: 1, token: Uint8Array.of(1, 2, 3, 4), options: [
    { number: OptionNumber.UriPath, value: text('sensors') }, { number: OptionNumber.UriPath, value: text('temp') }, { number: OptionNumber.UriQuery, value: text('u=c') },
  ] }) },
  { name: 'NON POST with JSON', pdu: createPdu({ type: 1, code: 2, messageId: 0xffff, token: new Uint8Array(8).fill(9), options: [
    { number: OptionNumber.UriHost, value: text('example.com') }, { number: OptionNumber.ContentFormat, value: encodeUint(50) },
  ], payload: text('{"on":true}') }) },
  { name: 'ACK 2.05 with Observe, ETag, Max-Age, Block2, Size2', pdu: createPdu({ type: 2, code: 69, messageId: 0x7d34, token: Uint8Array.of(0x20), options: [
    { number: OptionNumber.ETag, value: Uint8Array.of(1, 2, 3) }, { number: OptionNumber.Observe, value: encodeUint(70000) },
    { number: OptionNumber.ContentFormat, value: encodeUint(0) }, { number: OptionNumber.MaxAge, value: encodeUint(60) },
    { number: OptionNumber.Block2, value: encodeBlock({ num: 3, more: true, szx: 6 }) }, { number: OptionNumber.Size2, value: encodeUint(5000) },
  ], payload: new Uint8Array(1024).fill(0x41) }) },
  { name: 'RST 4.04 with no token', pdu: createPdu({ type: 3, code: 132, messageId: 2 }) },
  { name: 'long option values (length 13 and 269 extensions)', pdu: createPdu({ code: 3, messageId: 3, options: [
    { number: OptionNumber.UriPath, value: new Uint8Array(13).fill(0x62) }, { number: OptionNumber.ProxyUri, value: new Uint8Array(300).fill(0x63) },
  ] }) },
  { name: 'extended deltas: No-Response (258) and an unknown option 2000', pdu: createPdu({ code: 1, messageId: 4, options: [
    { number: OptionNumber.UriPath, value: text('x') }, { number: OptionNumber.NoResponse, value: encodeUint(26) }, { number: 2000, value: Uint8Array.of(7) },
  ] }) },
  { name: 'FETCH with Accept and repeated Location-Path', pdu: createPdu({ code: 5, messageId: 5, options: [
    { number: OptionNumber.LocationPath, value: text('a') }, { number: OptionNumber.LocationPath, value: text('b') }, { number: OptionNumber.Accept, value: encodeUint(60) },
  ], payload: Uint8Array.of(0xa0) }) },
  { name: 'a 14-byte extended token (RFC 8974)', pdu: createPdu({ code: 1, messageId: 6, token: new Uint8Array(14).fill(0xee) }) },
];

describe('differential: rxcoap vs coap-packet', () => {
  it.each(corpus)("encodes $name so that coap-packet's parse reads the same fields", ({ pdu }) => {
    expect(theirs(coapPacket.parse(Buffer.from(encodeDatagram(pdu))))).toEqual(ours(pdu));
  });

  it.each(corpus)("decodes coap-packet's generate output for $name to the same fields", ({ pdu }) => {
    const packet = {
      confirmable: pdu.type === MessageType.CON,
      ack: pdu.type === MessageType.ACK,
      reset: pdu.type === MessageType.RST,
      code: codeToString(pdu.code),
      messageId: pdu.messageId,
      token: Buffer.from(pdu.token),
      options: pdu.options.map((o) => ({ name: theirNames[o.number] ?? String(o.number), value: Buffer.from(o.value) })),
      payload: Buffer.from(pdu.payload),
    };
    const generated = coapPacket.generate(packet, 65535);
    expect(ours(decodeDatagram(generated))).toEqual(ours(pdu));
  });

  it.each(corpus)('produces the same bytes as coap-packet for $name', ({ pdu }) => {
    const packet = {
      confirmable: pdu.type === MessageType.CON,
      ack: pdu.type === MessageType.ACK,
      reset: pdu.type === MessageType.RST,
      code: codeToString(pdu.code),
      messageId: pdu.messageId,
      token: Buffer.from(pdu.token),
      options: pdu.options.map((o) => ({ name: theirNames[o.number] ?? String(o.number), value: Buffer.from(o.value) })),
      payload: Buffer.from(pdu.payload),
    };
    expect(hex(encodeDatagram(pdu))).toBe(hex(coapPacket.generate(packet, 65535)));
  });

  it('agrees on the names of the options both know', () => {
    for (const [number, name] of Object.entries(theirNames)) expect(optionName(Number(number))).toBe(name);
  });

  it('agrees on an empty ACK', () => {
    const parsed = coapPacket.parse(Buffer.from(encodeDatagram(createPdu({ type: 2, code: 0, messageId: 77 }))));
    expect(parsed).toMatchObject({ code: '0.00', ack: true, messageId: 77, options: [] });
  });
});
