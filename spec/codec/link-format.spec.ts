import { CoapDecodeError } from '../../src/errors';
import {
  formatLinkFormat,
  linkContentFormats,
  linkInterfaces,
  linkResourceTypes,
  parseLinkFormat,
} from '../../src/codec/link-format';

function parseError(text: string): CoapDecodeError {
  try {
    parseLinkFormat(text);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapDecodeError);
    expect(error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'BAD_PAYLOAD', fatal: false });
    return error as CoapDecodeError;
  }
  throw new Error('expected a CoapDecodeError');
}

describe('link format (RFC 6690)', () => {
  it('parses the RFC 6690 §5 example', () => {
    const links = parseLinkFormat('</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor"');
    expect(links).toEqual([
      { target: '/sensors/temp', attributes: { rt: 'temperature-c', if: 'sensor' } },
      { target: '/sensors/light', attributes: { rt: 'light-lux', if: 'sensor' } },
    ]);
  });

  it('parses flags, numbers and an empty document', () => {
    expect(parseLinkFormat('</obs>;obs;ct=0;sz=1280')).toEqual([{ target: '/obs', attributes: { obs: true, ct: '0', sz: '1280' } }]);
    expect(parseLinkFormat('')).toEqual([]);
    expect(parseLinkFormat('  ')).toEqual([]);
  });

  it('keeps commas and semicolons inside quoted strings, and backslash escapes', () => {
    const [link] = parseLinkFormat('</a>;title="x, y; z";anchor="/b,c";note="say \\"hi\\" \\\\ ok"');
    expect(link.attributes).toEqual({ title: 'x, y; z', anchor: '/b,c', note: 'say "hi" \\ ok' });
  });

  it('collects repeated attributes into arrays, in order', () => {
    const [link] = parseLinkFormat('</r>;rt="a";rt=b;rt="c d";ct=0;ct="40 41"');
    expect(link.attributes.rt).toEqual(['a', 'b', 'c d']);
    expect(linkResourceTypes(link)).toEqual(['a', 'b', 'c', 'd']);
    expect(linkContentFormats(link)).toEqual([0, 40, 41]);
  });

  it('reads interfaces and ignores non-numeric ct words', () => {
    const [link] = parseLinkFormat('</r>;if="core.s core.a";ct="x 60 70000"');
    expect(linkInterfaces(link)).toEqual(['core.s', 'core.a']);
    expect(linkContentFormats(link)).toEqual([60]);
    expect(linkResourceTypes(link)).toEqual([]);
  });

  it('lowercases attribute names and tolerates whitespace between links', () => {
    expect(parseLinkFormat('</a>;RT="x" ,\n </b> ; ct = 0')).toEqual([
      { target: '/a', attributes: { rt: 'x' } },
      { target: '/b', attributes: { ct: '0' } },
    ]);
  });

  it('rejects malformed documents with the offset', () => {
    expect(parseError('/a').offset).toBe(0);
    parseError('</a');
    parseError('</a>;title="x');
    expect(parseError('</a>x').offset).toBe(4);
    parseError('</a>;');
    parseError('</a>,');
    parseError('</a>;=1');
  });

  it('serializes back to text that parses to the same links', () => {
    const text = '</sensors/temp>;rt="temperature-c";if=sensor;obs,</t>;title="a, b";ct=0;ct=40;x="q\\"uote"';
    const links = parseLinkFormat(text);
    const written = formatLinkFormat(links);
    expect(written).toBe('</sensors/temp>;rt=temperature-c;if=sensor;obs,</t>;title="a, b";ct=0;ct=40;x="q\\"uote"');
    expect(parseLinkFormat(written)).toEqual(links);
  });

  it('quotes values with spaces', () => {
    expect(formatLinkFormat([{ target: '/x', attributes: { rt: 'a b', ct: '0' } }])).toBe('</x>;rt="a b";ct=0');
  });
});
