import { CoapDecodeError } from '../../src/errors';
import { cborDiagnostic, cborPayload, decodeCbor, decodeJson, decodeText, jsonPayload, textPayload } from '../../src/codec/payload';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function payloadError(run: () => unknown): CoapDecodeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CoapDecodeError);
    expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'BAD_PAYLOAD', fatal: false });
    return error as CoapDecodeError;
  }
  throw new Error('expected a CoapDecodeError');
}

describe('payload: text and JSON', () => {
  it('encodes and decodes UTF-8 text', () => {
    expect(toHex(textPayload('22.3 °C'))).toBe('32322e3320c2b043');
    expect(decodeText(hex('32322e3320c2b043'))).toBe('22.3 °C');
    expect(textPayload('').length).toBe(0);
    expect(decodeText(new Uint8Array(0))).toBe('');
  });

  it('rejects invalid UTF-8', () => {
    payloadError(() => decodeText(hex('61ff62')));
  });

  it('encodes and decodes JSON', () => {
    expect(Buffer.from(jsonPayload({ a: [1, 'x'] })).toString()).toBe('{"a":[1,"x"]}');
    expect(decodeJson(textPayload('{"on":true}'))).toEqual({ on: true });
    expect(() => jsonPayload(undefined)).toThrow(TypeError);
  });

  it('rejects text that is not JSON', () => {
    expect(payloadError(() => decodeJson(textPayload('{nope'))).message).toMatch(/^invalid CoAP message: payload is not JSON/);
  });
});

describe('payload: CBOR', () => {
  it('encodes with preferred serialization: definite maps, byte strings as major type 2', () => {
    expect(toHex(cborPayload({ a: 1, b: Uint8Array.of(1, 2) }))).toBe('a2' + '616101' + '6162420102');
    expect(toHex(cborPayload([1, -1, 'x', true, null]))).toBe('8501206178f5f6');
    expect(toHex(cborPayload(new Map([[1, 2]])))).toBe('a10102');
    expect(cborPayload(1).constructor).toBe(Uint8Array);
  });

  it('decodes what it encodes', () => {
    const value = { temp: 21.5, ids: [1, 2, 3], raw: Uint8Array.of(9), name: 'k' };
    expect(decodeCbor(cborPayload(value))).toEqual(value);
  });

  it('rejects empty, truncated, malformed and trailing data with the offset', () => {
    payloadError(() => decodeCbor(new Uint8Array(0)));
    expect(payloadError(() => decodeCbor(hex('8201')))).toMatchObject({ offset: 0 });
    expect(payloadError(() => decodeCbor(hex('83010282')))).toMatchObject({ offset: 3 });
    expect(payloadError(() => decodeCbor(hex('820161')))).toMatchObject({ offset: 2 });
    payloadError(() => decodeCbor(hex('1c')));
    expect(payloadError(() => decodeCbor(hex('0102')))).toMatchObject({ offset: 1 });
    payloadError(() => decodeCbor(hex('ff')));
    payloadError(() => decodeCbor(hex('62c328')));
  });
});

describe('payload: cborDiagnostic (RFC 8949 §8)', () => {
  it.each([
    ['00', '0'],
    ['17', '23'],
    ['1818', '24'],
    ['1903e8', '1000'],
    ['1a000f4240', '1000000'],
    ['1b000000e8d4a51000', '1000000000000'],
    ['1bffffffffffffffff', '18446744073709551615'],
    ['20', '-1'],
    ['3863', '-100'],
    ['3bffffffffffffffff', '-18446744073709551616'],
    ['f90000', '0.0'],
    ['f98000', '-0.0'],
    ['f93c00', '1.0'],
    ['fb3ff199999999999a', '1.1'],
    ['f93e00', '1.5'],
    ['f97bff', '65504.0'],
    ['fa47c35000', '100000.0'],
    ['fa7f7fffff', '3.4028234663852886e+38'],
    ['fb7e37e43c8800759c', '1.0e+300'],
    ['f90001', '5.960464477539063e-8'],
    ['f97c00', 'Infinity'],
    ['f97e00', 'NaN'],
    ['f9fc00', '-Infinity'],
    ['f4', 'false'],
    ['f5', 'true'],
    ['f6', 'null'],
    ['f7', 'undefined'],
    ['f0', 'simple(16)'],
    ['f8ff', 'simple(255)'],
    ['c074323031332d30332d32315432303a30343a30305a', '0("2013-03-21T20:04:00Z")'],
    ['c11a514b67b0', '1(1363896240)'],
    ['d82076687474703a2f2f7777772e6578616d706c652e636f6d', '32("http://www.example.com")'],
    ['40', "h''"],
    ['4401020304', "h'01020304'"],
    ['60', '""'],
    ['6449455446', '"IETF"'],
    ['62225c', '"\\"\\\\"'],
    ['80', '[]'],
    ['83010203', '[1, 2, 3]'],
    ['8301820203820405', '[1, [2, 3], [4, 5]]'],
    ['a0', '{}'],
    ['a201020304', '{1: 2, 3: 4}'],
    ['a26161016162820203', '{"a": 1, "b": [2, 3]}'],
    ['5f42010243030405ff', "(_ h'0102', h'030405')"],
    ['7f657374726561646d696e67ff', '(_ "strea", "ming")'],
    ['9fff', '[_ ]'],
    ['9f018202039f0405ffff', '[_ 1, [2, 3], [_ 4, 5]]'],
    ['bf61610161629f0203ffff', '{_ "a": 1, "b": [_ 2, 3]}'],
  ])('writes %s as %s', (bytes, diagnostic) => {
    expect(cborDiagnostic(hex(bytes))).toBe(diagnostic);
  });

  it('writes a CBOR sequence (RFC 8742) as comma-separated items', () => {
    expect(cborDiagnostic(hex('01 6161 f6'))).toBe('1, "a", null');
  });

  it('writes an empty payload as nothing', () => {
    expect(cborDiagnostic(new Uint8Array(0))).toBe('');
  });

  it('rejects malformed data', () => {
    for (const bytes of ['1c', '1f', '3f', 'ff', '5f01ff', '5f', 'bf01ff', '8201', '42', 'f818', 'fc', 'c0']) {
      payloadError(() => cborDiagnostic(hex(bytes)));
    }
  });

  it('rejects nesting deeper than 256 without overflowing the stack', () => {
    payloadError(() => cborDiagnostic(new Uint8Array(100_000).fill(0x81)));
  });

  it('rejects huge claimed lengths without allocating', () => {
    payloadError(() => cborDiagnostic(hex('9bffffffffffffffff')));
    payloadError(() => cborDiagnostic(hex('5a7fffffff')));
  });
});
