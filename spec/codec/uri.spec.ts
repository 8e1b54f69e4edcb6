import { CoapUriError } from '../../src/errors';
import { DEFAULT_PORTS, optionsToUri, parseCoapUri, pathToOptions, queryToOptions } from '../../src/codec/uri';
import { OptionNumber } from '../../src/codec/option-numbers';
import { decodeUint, encodeString } from '../../src/codec/option-values';
import type { CoapOption } from '../../src/codec/pdu';

/** Options as [name, value] pairs, uint for Uri-Port, text otherwise. */
const show = (options: readonly CoapOption[]) =>
  options.map((o) => [o.number, o.number === OptionNumber.UriPort ? decodeUint(o.value) : Buffer.from(o.value).toString('latin1')]);

function uriError(text: string): CoapUriError {
  try {
    parseCoapUri(text);
  } catch (error) {
    expect(error).toBeInstanceOf(CoapUriError);
    expect(error).toMatchObject({ code: 'COAP_ERR_URI', uri: text });
    return error as CoapUriError;
  }
  throw new Error(`expected a CoapUriError for ${text}`);
}

describe('uri: parseCoapUri (RFC 7252 §6.4, RFC 8323 §8)', () => {
  it('parses a host name with path and query', () => {
    const uri = parseCoapUri('coap://Example.COM/sensors/temp?unit=c&fast');
    expect(uri).toMatchObject({ scheme: 'coap', secure: false, reliable: false, host: 'example.com', port: 5683, hostIsIpLiteral: false });
    expect(show(uri.options)).toEqual([[3, 'example.com'], [11, 'sensors'], [11, 'temp'], [15, 'unit=c'], [15, 'fast']]);
    expect(uri.zoneId).toBeUndefined();
    expect(uri.unixPath).toBeUndefined();
  });

  it.each([
    ['coap', 5683, false, false],
    ['coaps', 5684, true, false],
    ['coap+tcp', 5683, false, true],
    ['coaps+tcp', 5684, true, true],
    ['coap+ws', 80, false, true],
    ['coaps+ws', 443, true, true],
  ])('knows scheme %s: default port %i, secure %s, reliable %s', (scheme, port, secure, reliable) => {
    expect(parseCoapUri(`${scheme}://127.0.0.1/`)).toMatchObject({ scheme, port, secure, reliable, options: [] });
    expect(parseCoapUri(`${scheme.toUpperCase()}://127.0.0.1:0`)).toMatchObject({ scheme, port });
    expect(DEFAULT_PORTS[scheme as keyof typeof DEFAULT_PORTS]).toBe(port);
  });

  it('sends no Uri-Host for IPv4 and IPv6 literals', () => {
    expect(parseCoapUri('coap://192.0.2.1:61616/a')).toMatchObject({ host: '192.0.2.1', port: 61616, hostIsIpLiteral: true });
    expect(show(parseCoapUri('coap://192.0.2.1:61616/a').options)).toEqual([[7, 61616], [11, 'a']]);
    expect(parseCoapUri('coap://[::1]/')).toMatchObject({ host: '::1', port: 5683, hostIsIpLiteral: true, options: [] });
    expect(parseCoapUri('coap://[2001:DB8::1]:5684/x')).toMatchObject({ host: '2001:db8::1', port: 5684 });
    expect(parseCoapUri('coap://[::ffff:192.0.2.1]')).toMatchObject({ host: '::ffff:192.0.2.1' });
  });

  it('sends Uri-Port only when the port differs from the default', () => {
    expect(show(parseCoapUri('coap://h:5683/').options)).toEqual([[3, 'h']]);
    expect(show(parseCoapUri('coaps://h:5683/').options)).toEqual([[3, 'h'], [7, 5683]]);
    expect(show(parseCoapUri('coap://h:/').options)).toEqual([[3, 'h']]);
  });

  it('parses an IPv6 zone ID (RFC 6874)', () => {
    expect(parseCoapUri('coap://[fe80::1%25eth0]:1234/x')).toMatchObject({ host: 'fe80::1', zoneId: 'eth0', port: 1234, hostIsIpLiteral: true });
  });

  it('resolves dot segments and keeps empty segments (RFC 3986 §5.2.4)', () => {
    expect(show(parseCoapUri('coap://h/a/./b/../c').options.slice(1))).toEqual([[11, 'a'], [11, 'c']]);
    expect(show(parseCoapUri('coap://h/a/b/..').options.slice(1))).toEqual([[11, 'a'], [11, '']]);
    expect(show(parseCoapUri('coap://h/a/').options.slice(1))).toEqual([[11, 'a'], [11, '']]);
    expect(show(parseCoapUri('coap://h/a/..').options.slice(1))).toEqual([]);
    expect(show(parseCoapUri('coap://h/../../x').options.slice(1))).toEqual([[11, 'x']]);
    expect(show(parseCoapUri('coap://h//x').options.slice(1))).toEqual([[11, ''], [11, 'x']]);
  });

  it('percent-decodes path segments and query arguments to bytes', () => {
    const uri = parseCoapUri('coap://h/a%2Fb/%C3%BC%20/%ff?x=%26&y%3D1');
    expect(uri.options.slice(1).map((o) => Buffer.from(o.value).toString('hex'))).toEqual(['612f62', 'c3bc20', 'ff', '783d26', '793d31']);
  });

  it('parses an empty query and empty arguments', () => {
    expect(show(parseCoapUri('coap://h/?').options.slice(1))).toEqual([]);
    expect(show(parseCoapUri('coap://h?a&&b').options.slice(1))).toEqual([[15, 'a'], [15, ''], [15, 'b']]);
  });

  it('parses a Unix-domain socket path as a percent-encoded host', () => {
    const uri = parseCoapUri('coap://%2Ftmp%2Fserver.sock/path');
    expect(uri).toMatchObject({ unixPath: '/tmp/server.sock', host: '/tmp/server.sock', hostIsIpLiteral: false });
    expect(show(uri.options)).toEqual([[11, 'path']]);
  });

  it.each([
    ['coap://%2Ftmp%2Fs.sock:5683/x', /Unix socket path cannot have a port/],
    ['coap://h/a#frag', /fragments/],
    ['http://h/', /scheme 'http'/],
    ['/just/a/path', /not an absolute URI/],
    ['coap:h/path', /expected '\/\/'/],
    ['coap:///path', /host is empty/],
    ['coap://user@h/', /user information/],
    ['coap://h:99999/', /port '99999'/],
    ['coap://h:80a/', /port '80a'/],
    ['coap://[::1/', /missing '\]'/],
    ['coap://[::1]x/', /unexpected 'x'/],
    ['coap://[1:2:3]/', /not an IPv6 address/],
    ['coap://[1::2::3]/', /not an IPv6 address/],
    ['coap://[fe80::1%eth0]/', /'%25'/],
    ['coap://[v1.x]/', /IPvFuture/],
    ['coap://h/%zz', /bad percent-encoding/],
    ['coap://h%2/', /bad percent-encoding/],
    ['coap://h<>/', /not allowed in a host/],
    [`coap://h/${'a'.repeat(256)}`, /longer than 255/],
    [`coap://${'a'.repeat(256)}/`, /longer than 255/],
  ])('rejects %s', (text, message) => {
    expect(uriError(text).message).toMatch(message);
  });
});

describe('uri: pathToOptions / queryToOptions', () => {
  it('builds Uri-Path options with or without a leading slash', () => {
    expect(show(pathToOptions('/a/b'))).toEqual([[11, 'a'], [11, 'b']]);
    expect(show(pathToOptions('a/b'))).toEqual([[11, 'a'], [11, 'b']]);
    expect(pathToOptions('/')).toEqual([]);
    expect(pathToOptions('')).toEqual([]);
    expect(show(pathToOptions('.well-known/core'))).toEqual([[11, '.well-known'], [11, 'core']]);
  });

  it('builds Uri-Query options with or without a leading ?', () => {
    expect(show(queryToOptions('?a=1&b'))).toEqual([[15, 'a=1'], [15, 'b']]);
    expect(show(queryToOptions('a%20b'))).toEqual([[15, 'a b']]);
    expect(queryToOptions('')).toEqual([]);
  });
});

describe('uri: optionsToUri (RFC 7252 §6.5)', () => {
  const path = (text: string): CoapOption => ({ number: OptionNumber.UriPath, value: encodeString(text) });
  const query = (text: string): CoapOption => ({ number: OptionNumber.UriQuery, value: encodeString(text) });

  it('composes host, port, path and query', () => {
    expect(optionsToUri({ scheme: 'coap', host: 'example.com', options: [path('a'), path('b'), query('x=1'), query('y')] })).toBe('coap://example.com/a/b?x=1&y');
    expect(optionsToUri({ scheme: 'coaps', host: '192.0.2.1', port: 1234, options: [] })).toBe('coaps://192.0.2.1:1234/');
    expect(optionsToUri({ scheme: 'coaps', host: '192.0.2.1', port: 5684, options: [] })).toBe('coaps://192.0.2.1/');
  });

  it('lets Uri-Host and Uri-Port override the destination', () => {
    const options = [{ number: OptionNumber.UriHost, value: encodeString('named') }, { number: OptionNumber.UriPort, value: Uint8Array.of(0x16, 0x34) }];
    expect(optionsToUri({ scheme: 'coap', host: '10.0.0.1', options })).toBe('coap://named:5684/');
  });

  it('brackets IPv6 addresses with zone IDs and percent-encodes Unix paths', () => {
    expect(optionsToUri({ scheme: 'coap', host: 'fe80::1', zoneId: 'eth0', port: 99, options: [] })).toBe('coap://[fe80::1%25eth0]:99/');
    expect(optionsToUri({ scheme: 'coap', host: '/tmp/s.sock', options: [path('p')] })).toBe('coap://%2Ftmp%2Fs.sock/p');
  });

  it('percent-encodes what would change the meaning', () => {
    const options = [path('a/b'), path('ü '), path('.'), path('..'), query('x=&'), query('#?/')];
    const text = optionsToUri({ scheme: 'coap', host: 'h', options });
    expect(text).toBe('coap://h/a%2Fb/%C3%BC%20/%2E/%2E%2E?x=%26&%23?/');
    expect(parseCoapUri(text).options.slice(1)).toEqual(options);
  });

  it('round-trips parsed URIs', () => {
    for (const text of ['coap://h/a/b?c=d', 'coaps+tcp://[::1]:9/x', 'coap+ws://h:8080/', 'coap://%2Fs.sock/x']) {
      const uri = parseCoapUri(text);
      expect(optionsToUri({ scheme: uri.scheme, host: uri.host, port: uri.port, options: uri.options })).toBe(text);
    }
  });
});
