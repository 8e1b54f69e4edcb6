import fc from 'fast-check';
import { CoapDecodeError } from '../../src/errors';
import { createPdu, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { decodeStreamFrame, encodeStreamFrame, StreamDeframer } from '../../src/codec/stream-codec';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';
import { cborDiagnostic } from '../../src/codec/payload';
import { parseLinkFormat } from '../../src/codec/link-format';
import { parseCoapUri } from '../../src/codec/uri';
import { CoapUriError } from '../../src/errors';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const option: fc.Arbitrary<CoapOption> = fc.record({
  number: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 65000 })),
  value: fc.oneof(bytes(20), bytes(300)),
});
/** Any PDU the codecs can represent (code 0.00 only as a bare empty message). */
const pdu: fc.Arbitrary<CoapPdu> = fc
  .record({
    type: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
    code: fc.integer({ min: 1, max: 255 }),
    messageId: fc.integer({ min: 0, max: 0xffff }),
    token: fc.oneof(bytes(8), fc.uint8Array({ minLength: 13, maxLength: 300 })),
    options: fc.array(option, { maxLength: 8 }),
    payload: fc.oneof(bytes(16), bytes(2000)),
  })
  .map((init) => createPdu(init));

/** Fields compared after a round trip (views compared by content). */
const fields = (value: CoapPdu, withHeader: boolean) => ({
  ...(withHeader ? { type: value.type, messageId: value.messageId } : {}),
  code: value.code,
  token: Array.from(value.token),
  options: value.options.map((o) => [o.number, Array.from(o.value)]),
  payload: Array.from(value.payload),
});

/** Runs `decode`; the only acceptable failure is a CoapDecodeError. */
function total(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof CoapDecodeError)) throw error;
  }
}

describe('codec properties', () => {
  it('decodes every encoded datagram to the same PDU (UDP)', () => {
    fc.assert(fc.property(pdu, (value) => {
      expect(fields(decodeDatagram(encodeDatagram(value)), true)).toEqual(fields(value, true));
    }), { numRuns: 500 });
  });

  it('decodes every encoded frame to the same PDU (TCP/TLS)', () => {
    fc.assert(fc.property(pdu, (value) => {
      expect(fields(decodeStreamFrame(encodeStreamFrame(value)), false)).toEqual(fields(value, false));
    }), { numRuns: 500 });
  });

  it('decodes every encoded message to the same PDU (WebSocket)', () => {
    fc.assert(fc.property(pdu, (value) => {
      expect(fields(decodeWsMessage(encodeWsMessage(value)), false)).toEqual(fields(value, false));
    }), { numRuns: 500 });
  });

  it('gives a PDU or a CoapDecodeError for arbitrary bytes, nothing else', () => {
    fc.assert(fc.property(bytes(64), (input) => {
      total(() => decodeDatagram(input));
      total(() => decodeWsMessage(input));
      total(() => decodeStreamFrame(input));
      total(() => new StreamDeframer({ maxMessageSize: 4096 }).push(input));
      total(() => cborDiagnostic(input));
    }), { numRuns: 5000 });
  });

  it('gives a PDU or a CoapDecodeError for mutated valid datagrams', () => {
    fc.assert(fc.property(pdu, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
      const encoded = encodeDatagram(value).slice();
      encoded[at % encoded.length] = byte;
      total(() => decodeDatagram(encoded));
      total(() => decodeDatagram(encoded.subarray(0, at % encoded.length)));
      const frame = encodeStreamFrame(value).slice();
      frame[at % frame.length] = byte;
      total(() => new StreamDeframer({ maxMessageSize: 1 << 20 }).push(frame));
    }), { numRuns: 1000 });
  });

  it('never reads past the input: a view of a larger buffer decodes like a copy', () => {
    fc.assert(fc.property(pdu, bytes(8), (value, tail) => {
      const encoded = encodeDatagram(value);
      const padded = new Uint8Array(encoded.length + tail.length);
      padded.set(encoded);
      padded.set(tail, encoded.length);
      expect(fields(decodeDatagram(padded.subarray(0, encoded.length)), true)).toEqual(fields(value, true));
    }), { numRuns: 300 });
  });

  it('gives the same PDUs from the deframer for any chunking', () => {
    fc.assert(fc.property(fc.array(pdu, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }), (values, sizes) => {
      const stream = Uint8Array.from(Buffer.concat(values.map((v) => encodeStreamFrame(v))));
      const deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
      const out: CoapPdu[] = [];
      let offset = 0;
      for (let i = 0; offset < stream.length; i++) {
        const size = sizes[i % sizes.length];
        out.push(...deframer.push(stream.slice(offset, offset + size)));
        offset += size;
      }
      expect(out.map((v) => fields(v, false))).toEqual(values.map((v) => fields(v, false)));
      expect(deframer.idle).toBe(true);
    }), { numRuns: 300 });
  });

  it('parses arbitrary text as link format or throws CoapDecodeError', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('<', '>', ';', ',', '=', '"', '\\', 'a', ' ', '/') }), (text) => {
      total(() => parseLinkFormat(text));
    }), { numRuns: 2000 });
  });

  it('parses arbitrary URIs or throws CoapUriError', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('c', 'o', 'a', 'p', ':', '/', '[', ']', '%', '2', '5', 'f', '?', '&', '.', '#', '@', 'x') }), (tail) => {
      try {
        parseCoapUri(`coap://${tail}`);
      } catch (error) {
        if (!(error instanceof CoapUriError)) throw error;
      }
    }), { numRuns: 2000 });
  });
});
