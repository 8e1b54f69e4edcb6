/**
 * CoAP URIs to request options and back: RFC 7252 §6.4 (decomposing) and §6.5 (composing), with the
 * reliable schemes of RFC 8323 §8. A small hand-written parser: the WHATWG `URL` class treats `coap:`
 * as an opaque scheme (no host parsing, no dot-segment removal), so it is not used.
 *
 *   coap://host:port/path/segments?query&args
 *   \__/   \__/ \__/ \___________/ \_________/
 *   scheme  |    |    Uri-Path      Uri-Query  (one option per segment / argument, percent-decoded)
 *      Uri-Host  Uri-Port (only when not an IP literal / not the scheme's default port)
 *
 * Unix-domain sockets follow libcoap: the socket path is the percent-encoded host
 * (`coap://%2Ftmp%2Fserver.sock/path`), with no port.
 */
import { CoapUriError } from '../errors';
import { OptionNumber } from './option-numbers';
import { decodeString, decodeUint, encodeString, encodeUint } from './option-values';
import { EMPTY_BYTES, type CoapOption } from './pdu';

/** The URI schemes rxcoap accepts. */
export type CoapScheme = 'coap' | 'coaps' | 'coap+tcp' | 'coaps+tcp' | 'coap+ws' | 'coaps+ws';

/** Default ports: RFC 7252 §6.1/6.2 (5683/5684), RFC 8323 §8.1/8.2 (TCP/TLS), §8.3/8.4 (WS: 80/443). */
export const DEFAULT_PORTS: Readonly<Record<CoapScheme, number>> = {
  coap: 5683,
  coaps: 5684,
  'coap+tcp': 5683,
  'coaps+tcp': 5684,
  'coap+ws': 80,
  'coaps+ws': 443,
};

/** A parsed CoAP URI: where to connect and the request options it implies. */
export interface CoapUri {
  /** Lowercased scheme. */
  readonly scheme: CoapScheme;
  /** DTLS / TLS / WSS. */
  readonly secure: boolean;
  /** TCP, TLS or WebSocket (RFC 8323): no message layer, signaling instead. */
  readonly reliable: boolean;
  /** Host to connect to: a lowercased name, an IPv4 address, an IPv6 address without brackets or zone, or the Unix socket path. */
  readonly host: string;
  /** Port to connect to (the scheme's default when absent or 0). */
  readonly port: number;
  /** The host is an IPv4 or IPv6 literal (so no Uri-Host option is sent). */
  readonly hostIsIpLiteral: boolean;
  /** IPv6 zone (RFC 6874), e.g. `'eth0'` for `[fe80::1%25eth0]`. */
  readonly zoneId?: string;
  /** Unix-domain socket path when the host is a percent-encoded absolute path. */
  readonly unixPath?: string;
  /** Uri-Host, Uri-Port, Uri-Path and Uri-Query options, in number order. */
  readonly options: CoapOption[];
}

const SCHEMES = new Set<string>(Object.keys(DEFAULT_PORTS));

/** RFC 3986 §2.3 unreserved characters. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** RFC 3986 §2.2 sub-delims. */
const SUB_DELIMS = /[!$&'()*+,;=]/;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes to bytes (RFC 3986 §2.1); other characters become their UTF-8 bytes. Works on bytes
 * so `%FF` survives even though it is not UTF-8 text.
 */
function percentDecode(text: string, uri: string): Uint8Array {
  if (text.length === 0) return EMPTY_BYTES;
  if (!text.includes('%')) return encodeString(text);
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x25) {
      const high = i + 2 < text.length ? hexValue(text.charCodeAt(i + 1)) : -1;
      const low = high < 0 ? -1 : hexValue(text.charCodeAt(i + 2));
      if (low < 0) throw new CoapUriError(uri, `bad percent-encoding at '${text.slice(i, i + 3)}'`);
      bytes.push(high * 16 + low);
      i += 2;
    } else if (char < 0x80) bytes.push(char);
    else {
      // Non-ASCII (an IRI): take the UTF-8 of this code point.
      const codePoint = text.codePointAt(i) as number;
      if (codePoint > 0xffff) i++;
      for (const byte of encodeString(String.fromCodePoint(codePoint))) bytes.push(byte);
    }
  }
  return Uint8Array.from(bytes);
}

/**
 * Request options for a path (`'/a/b'` or `'a/b'`): one Uri-Path per segment, percent-decoded, with
 * `.` and `..` removed (RFC 3986 §5.2.4, RFC 7252 §6.4 step 8). `''` and `'/'` give none.
 */
export function pathToOptions(path: string, uri: string = path): CoapOption[] {
  const options: CoapOption[] = [];
  if (path === '' || path === '/') return options;
  const raw = (path.startsWith('/') ? path.slice(1) : path).split('/');
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const segment = raw[i];
    const last = i === raw.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') segments.pop();
      // "/a/b/.." is "/a/": the trailing slash stays as an empty last segment.
      if (last) segments.push('');
      continue;
    }
    segments.push(segment);
  }
  // RFC 7252 §6.4 step 8: a path that is now just "/" adds no option.
  if (segments.length === 1 && segments[0] === '') return options;
  for (const segment of segments) {
    const value = percentDecode(segment, uri);
    if (value.length > 255) throw new CoapUriError(uri, `path segment of ${value.length} bytes is longer than 255`);
    options.push({ number: OptionNumber.UriPath, value });
  }
  return options;
}

/**
 * Request options for a query (`'a=1&b'`, with or without the leading `?`): one Uri-Query per
 * `&`-separated argument, percent-decoded (RFC 7252 §6.4 step 9). An empty query gives none.
 */
export function queryToOptions(query: string, uri: string = query): CoapOption[] {
  const text = query.startsWith('?') ? query.slice(1) : query;
  const options: CoapOption[] = [];
  if (text === '') return options;
  for (const argument of text.split('&')) {
    const value = percentDecode(argument, uri);
    if (value.length > 255) throw new CoapUriError(uri, `query argument of ${value.length} bytes is longer than 255`);
    options.push({ number: OptionNumber.UriQuery, value });
  }
  return options;
}

/**
 * Request options for a path with an optional query (`'/time?ticks'`, `'a/b?x=1&y'`): Uri-Path options from the
 * part before the first `?`, then Uri-Query options from the rest, as RFC 7252 §6.4 steps 8-9 split a URI.
 */
export function pathAndQueryToOptions(target: string, uri: string = target): CoapOption[] {
  const queryStart = target.indexOf('?');
  if (queryStart < 0) return pathToOptions(target, uri);
  const options = pathToOptions(target.slice(0, queryStart), uri);
  for (const option of queryToOptions(target.slice(queryStart + 1), uri)) options.push(option);
  return options;
}

/** RFC 3986 §3.2.2 IPv4address: four decimal octets without leading zeros. */
function isIpv4(host: string): boolean {
  const parts = host.split('.');
  if (parts.length !== 4) return false;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return false;
  }
  return true;
}

/** RFC 4291 §2.2 text forms, including `::` and an embedded IPv4 tail. */
function isIpv6(address: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(address)) return false;
  const doubleColon = address.indexOf('::');
  if (doubleColon !== address.lastIndexOf('::')) return false;
  let groups: string[];
  if (doubleColon >= 0) {
    const head = address.slice(0, doubleColon);
    const tail = address.slice(doubleColon + 2);
    groups = [...(head === '' ? [] : head.split(':')), ...(tail === '' ? [] : tail.split(':'))];
  } else groups = address.split(':');
  let count = 0;
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i];
    if (i === groups.length - 1 && group.includes('.')) {
      if (!isIpv4(group)) return false;
      count += 2;
    } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) count += 1;
    else return false;
  }
  return doubleColon >= 0 ? count <= 7 : count === 8;
}

/**
 * Parses a CoAP URI (RFC 7252 §6, RFC 8323 §8) into where to connect and the request options.
 * Throws {@link CoapUriError} naming the problem: not absolute, unknown scheme, fragment, user info,
 * bad host, bad port, port with a Unix socket path, bad percent-encoding, over-long segments.
 */
export function parseCoapUri(text: string): CoapUri {
  const uri = text;
  const schemeEnd = text.indexOf(':');
  if (schemeEnd <= 0 || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(text.slice(0, schemeEnd))) {
    throw new CoapUriError(uri, 'not an absolute URI (no scheme)');
  }
  const scheme = text.slice(0, schemeEnd).toLowerCase();
  if (!SCHEMES.has(scheme)) throw new CoapUriError(uri, `scheme '${scheme}' is not one of ${[...SCHEMES].join(', ')}`);
  // RFC 7252 §6.4 step 3: fragments are not allowed in a request target.
  if (text.includes('#')) throw new CoapUriError(uri, 'fragments (#) are not allowed');
  if (text.slice(schemeEnd + 1, schemeEnd + 3) !== '//') throw new CoapUriError(uri, "expected '//' and a host after the scheme");
  let offset = schemeEnd + 3;
  let authorityEnd = offset;
  while (authorityEnd < text.length && text[authorityEnd] !== '/' && text[authorityEnd] !== '?') authorityEnd++;
  const authority = text.slice(offset, authorityEnd);
  offset = authorityEnd;
  // RFC 7252 §6.1: coap URIs have no user information.
  if (authority.includes('@')) throw new CoapUriError(uri, 'user information (user@) is not allowed');

  let host: string;
  let portText: string | undefined;
  let hostIsIpLiteral = false;
  let zoneId: string | undefined;
  let unixPath: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw new CoapUriError(uri, "IPv6 literal is missing ']'");
    const literal = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new CoapUriError(uri, `unexpected '${rest}' after the IPv6 literal`);
    portText = rest === '' ? undefined : rest.slice(1);
    if (/^v/i.test(literal)) throw new CoapUriError(uri, `IPvFuture literal '${literal}' is not supported`);
    // RFC 6874: a zone ID follows "%25" inside the brackets.
    const zone = literal.indexOf('%25');
    const address = zone < 0 ? literal : literal.slice(0, zone);
    if (zone >= 0) {
      const zoneText = literal.slice(zone + 3);
      if (zoneText === '' || !/^([A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+$/.test(zoneText)) throw new CoapUriError(uri, `bad IPv6 zone ID '${zoneText}'`);
      zoneId = decodeString(percentDecode(zoneText, uri));
    } else if (literal.includes('%')) throw new CoapUriError(uri, "IPv6 zone ID must be introduced by '%25'");
    if (!isIpv6(address)) throw new CoapUriError(uri, `'${address}' is not an IPv6 address`);
    host = address.toLowerCase();
    hostIsIpLiteral = true;
  } else {
    const colon = authority.lastIndexOf(':');
    const rawHost = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
    if (rawHost === '') throw new CoapUriError(uri, 'host is empty');
    for (let i = 0; i < rawHost.length; i++) {
      const char = rawHost[i];
      if (char === '%') {
        if (hexValue(rawHost.charCodeAt(i + 1)) < 0 || hexValue(rawHost.charCodeAt(i + 2)) < 0) {
          throw new CoapUriError(uri, `bad percent-encoding at '${rawHost.slice(i, i + 3)}'`);
        }
        i += 2;
      } else if (!UNRESERVED.test(char) && !SUB_DELIMS.test(char)) {
        throw new CoapUriError(uri, `character '${char}' is not allowed in a host`);
      }
    }
    const decoded = decodeString(percentDecode(rawHost, uri));
    if (decoded.startsWith('/')) {
      // libcoap's convention: a percent-encoded absolute path as host is a Unix-domain socket.
      if (portText !== undefined) throw new CoapUriError(uri, 'a Unix socket path cannot have a port');
      unixPath = decoded;
      host = decoded;
    } else {
      host = decoded.toLowerCase();
      hostIsIpLiteral = isIpv4(host);
    }
  }

  const defaultPort = DEFAULT_PORTS[scheme as CoapScheme];
  let port = defaultPort;
  if (portText !== undefined && portText !== '') {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 0xffff) throw new CoapUriError(uri, `port '${portText}' is not a number in 0..65535`);
    // Port 0 cannot be a destination: treat it as absent (the scheme's default).
    port = Number(portText) || defaultPort;
  }

  const options: CoapOption[] = [];
  // RFC 7252 §6.4 step 5: Uri-Host only when the host is not an IP literal (and never for a socket path).
  if (!hostIsIpLiteral && unixPath === undefined) {
    const value = encodeString(host);
    if (value.length > 255) throw new CoapUriError(uri, `host of ${value.length} bytes is longer than 255`);
    options.push({ number: OptionNumber.UriHost, value });
  }
  // RFC 7252 §6.4 step 6: Uri-Port only when it differs from the port the request is sent to by default.
  if (port !== defaultPort) options.push({ number: OptionNumber.UriPort, value: encodeUint(port) });
  for (const option of pathAndQueryToOptions(text.slice(offset), uri)) options.push(option);

  return {
    scheme: scheme as CoapScheme,
    secure: scheme.startsWith('coaps'),
    reliable: scheme.includes('+'),
    host,
    port,
    hostIsIpLiteral,
    ...(zoneId === undefined ? {} : { zoneId }),
    ...(unixPath === undefined ? {} : { unixPath }),
    options,
  };
}

/** RFC 3986 pchar minus what must be escaped in one segment or argument. */
function percentEncode(value: Uint8Array, keep: (char: string) => boolean): string {
  let text = '';
  // Only ASCII is kept literally; every other byte (UTF-8 sequences included) is escaped.
  for (let i = 0; i < value.length; i++) {
    const byte = value[i];
    const char = String.fromCharCode(byte);
    if (byte < 0x80 && keep(char)) text += char;
    else text += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  }
  return text;
}

const keepInSegment = (char: string): boolean => UNRESERVED.test(char) || SUB_DELIMS.test(char) || char === ':' || char === '@';
const keepInQuery = (char: string): boolean => (keepInSegment(char) && char !== '&') || char === '/' || char === '?';
const keepInHost = (char: string): boolean => UNRESERVED.test(char) || (SUB_DELIMS.test(char) && char !== ':');

/** What {@link optionsToUri} needs: where the request went and its options. */
export interface UriParts {
  readonly scheme: CoapScheme;
  /** Destination host (name, IP address, or Unix socket path); a Uri-Host option overrides it. */
  readonly host: string;
  /** Destination port; a Uri-Port option overrides it. Defaults to the scheme's port. */
  readonly port?: number;
  /** IPv6 zone of the destination. */
  readonly zoneId?: string;
  /** The request's options; only Uri-Host, Uri-Port, Uri-Path and Uri-Query are used. */
  readonly options: readonly CoapOption[];
}

/**
 * Composes the URI of a request from its destination and options (RFC 7252 §6.5), percent-encoding
 * each segment and argument. The default port is left out; `.` and `..` segments are escaped so the
 * URI parses back to the same options.
 */
export function optionsToUri(parts: UriParts): string {
  let host = parts.host;
  let port = parts.port ?? DEFAULT_PORTS[parts.scheme];
  let path = '';
  let query = '';
  for (const option of parts.options) {
    switch (option.number) {
      case OptionNumber.UriHost:
        host = decodeString(option.value);
        break;
      case OptionNumber.UriPort:
        port = decodeUint(option.value);
        break;
      case OptionNumber.UriPath: {
        const text = decodeString(option.value);
        path += '/' + (text === '.' ? '%2E' : text === '..' ? '%2E%2E' : percentEncode(option.value, keepInSegment));
        break;
      }
      case OptionNumber.UriQuery:
        query += (query === '' ? '?' : '&') + percentEncode(option.value, keepInQuery);
        break;
    }
  }
  let authority: string;
  if (host.startsWith('/')) authority = percentEncode(encodeString(host), keepInHost);
  else if (host.includes(':')) authority = `[${host}${parts.zoneId === undefined ? '' : `%25${percentEncode(encodeString(parts.zoneId), (c) => UNRESERVED.test(c))}`}]`;
  else authority = percentEncode(encodeString(host), keepInHost);
  if (port !== DEFAULT_PORTS[parts.scheme] && !host.startsWith('/')) authority += `:${port}`;
  return `${parts.scheme}://${authority}${path === '' ? '/' : path}${query}`;
}
