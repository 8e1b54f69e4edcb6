import { CONTENT_FORMATS, ContentFormat, contentFormatByName, contentFormatInfo, contentFormatName } from '../../src/codec/content-format';

describe('content formats', () => {
  it.each([
    ['text', 0], ['plain', 0], ['link', 40], ['link-format', 40], ['xml', 41], ['binary', 42], ['octet', 42],
    ['octet-stream', 42], ['exi', 47], ['json', 50], ['cbor', 60], ['cwt', 61], ['cbor-seq', 63],
    ['senml+json', 110], ['sensml+json', 111], ['senml+cbor', 112], ['sensml+cbor', 113], ['senml-exi', 114],
    ['json-patch+json', 51], ['merge-patch+json', 52], ['coap-group+json', 256], ['missing-blocks+cbor-seq', 272],
  ])('finds short name %s as %i', (name, number) => {
    expect(contentFormatByName(name)?.number).toBe(number);
  });

  it('finds media types ignoring case and spaces around parameters', () => {
    expect(contentFormatByName('application/json')?.number).toBe(50);
    expect(contentFormatByName('Text/Plain; charset=utf-8')?.number).toBe(0);
    expect(contentFormatByName('application/cose; cose-type="cose-sign1"')?.number).toBe(18);
    expect(contentFormatByName(' CBOR ')?.number).toBe(60);
  });

  it('accepts numbers as text, registered or not', () => {
    expect(contentFormatByName('60')).toMatchObject({ number: 60, mediaType: 'application/cbor' });
    expect(contentFormatByName('12345')).toEqual({ number: 12345, mediaType: undefined, shortNames: [] });
    expect(contentFormatByName('65536')).toBeUndefined();
    expect(contentFormatByName('-1')).toBeUndefined();
    expect(contentFormatByName('nonsense')).toBeUndefined();
  });

  it('names numbers by media type', () => {
    expect(contentFormatName(0)).toBe('text/plain;charset=utf-8');
    expect(contentFormatName(40)).toBe('application/link-format');
    expect(contentFormatName(272)).toBe('application/missing-blocks+cbor-seq');
    expect(contentFormatName(9999)).toBeUndefined();
    expect(contentFormatInfo(42)?.shortNames).toContain('binary');
  });

  it('keeps the registry sorted with unique numbers and short names', () => {
    const numbers = CONTENT_FORMATS.map((f) => f.number);
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);
    expect(new Set(numbers).size).toBe(numbers.length);
    const names = CONTENT_FORMATS.flatMap((f) => f.shortNames);
    expect(new Set(names).size).toBe(names.length);
    for (const number of Object.values(ContentFormat)) expect(contentFormatName(number)).toBeDefined();
  });
});
