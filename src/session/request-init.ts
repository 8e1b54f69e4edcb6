/**
 * What `session.request()` takes, and how it becomes a request PDU: method, target (path or full URI, query),
 * body and the options users set by name. Uri-Host/Uri-Port come from the session's server as RFC 7252 §6.4
 * says (Uri-Host only for a name, Uri-Port only for a port that is not the default).
 */
import { CoapArgumentError } from '../errors';
import { contentFormatByName } from '../codec/content-format';
import { OptionNumber } from '../codec/option-numbers';
import { encodeString, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, Method, sortOptions, type CoapOption, type MethodName } from '../codec/pdu';
import { parseCoapUri, pathToOptions, queryToOptions } from '../codec/uri';
import type { RequestTemplate } from '../exchange/request';

/** An option given by the user: raw bytes, text (UTF-8) or an unsigned integer. */
export interface RequestOption {
  readonly number: number;
  readonly value: Uint8Array | string | number;
}

/** One request, as the user describes it. */
export interface RequestInit {
  /** @defaultValue 'GET' */
  readonly method?: MethodName | Lowercase<MethodName> | number;
  /** Path on the server: `'/sensors/temp'`; percent-encoded segments are decoded. */
  readonly path?: string;
  /** A full URI instead of `path` (its path and query are used; its host becomes Uri-Host when it is a name). */
  readonly uri?: string;
  /** `'a=1&b=2'`, a list of items, or a record. */
  readonly query?: string | readonly string[] | Readonly<Record<string, string | number | boolean>>;
  /** Body: bytes, or text sent as UTF-8. */
  readonly payload?: Uint8Array | string;
  /** Content-Format of the body: a number or a name (`'json'`, `'cbor'`, `'text/plain;charset=utf-8'`...). */
  readonly contentFormat?: number | string;
  /** Accept: a number or a name. */
  readonly accept?: number | string;
  /** Send as CON (default) or NON. */
  readonly confirmable?: boolean;
  /** More options. */
  readonly options?: readonly RequestOption[];
  /** Use this token (0..8 bytes) instead of a random one. */
  readonly token?: Uint8Array;
  /** Do not send Uri-Host/Uri-Port (coap-client `-U`). */
  readonly omitUriHost?: boolean;
  /** Block2 random access / size hint: ask for block `num` of `size` bytes (coap-client `-b num,size`). */
  readonly block2?: { readonly num?: number; readonly size: number };
  /** Block1 size hint for the body. */
  readonly block1Size?: number;
}

/** The server part the session adds. */
export interface RequestTarget {
  /** Uri-Host/Uri-Port options implied by the server address (may be empty). */
  readonly hostOptions: readonly CoapOption[];
}

/** Resolves a Content-Format name or number. */
export function contentFormatNumber(value: number | string): number {
  if (typeof value === 'number') return value;
  const info = contentFormatByName(value);
  if (info === undefined) throw new CoapArgumentError(`unknown content format '${value}'`);
  return info.number;
}

function methodCode(method: RequestInit['method']): number {
  if (method === undefined) return Method.GET;
  if (typeof method === 'number') return method;
  const code = (Method as Record<string, number>)[method] ?? (Method as Record<string, number>)[method.toUpperCase()];
  if (code === undefined) throw new CoapArgumentError(`unknown method '${method}'`);
  return code;
}

function optionValue(value: RequestOption['value']): Uint8Array {
  if (typeof value === 'number') return encodeUint(value);
  if (typeof value === 'string') return encodeString(value);
  return value;
}

function queryOptions(query: NonNullable<RequestInit['query']>): CoapOption[] {
  if (typeof query === 'string') return queryToOptions(query.startsWith('?') ? query.slice(1) : query);
  const items = Array.isArray(query)
    ? (query as readonly string[])
    : Object.entries(query).map(([key, value]) => (value === true ? key : `${key}=${String(value)}`));
  return items.map((item) => ({ number: OptionNumber.UriQuery, value: encodeString(item) }));
}

/** No options. */
const NONE: readonly CoapOption[] = [];

/**
 * Uri-Path options of recently requested paths. They are immutable and shared: an application asks for the
 * same few paths again and again, and this is the per-request path.
 */
const pathCache = new Map<string, readonly CoapOption[]>();

function cachedPathOptions(path: string): readonly CoapOption[] {
  let options = pathCache.get(path);
  if (options === undefined) {
    options = pathToOptions(path);
    if (pathCache.size >= 256) pathCache.delete(pathCache.keys().next().value as string);
    pathCache.set(path, options);
  }
  return options;
}

/**
 * Builds the request (token and message ID come later). `method` and `path` override the init's (the
 * shorthands pass them without copying the init).
 */
export function buildRequest(init: RequestInit, target: RequestTarget, method = init.method, path = init.path): RequestTemplate {
  if (
    init.uri === undefined &&
    init.query === undefined &&
    init.contentFormat === undefined &&
    init.accept === undefined &&
    init.options === undefined &&
    init.payload === undefined
  ) {
    // The common request: a method and a path. Uri-Host (3) and Uri-Port (7) sort before Uri-Path (11), so the
    // concatenation is in order.
    const pathOptions = path === undefined ? NONE : cachedPathOptions(path);
    const host = init.omitUriHost ? NONE : target.hostOptions;
    const options = host.length === 0 ? pathOptions : pathOptions.length === 0 ? host : host.concat(pathOptions);
    return { code: methodCode(method), options, payload: EMPTY_BYTES };
  }
  const options: CoapOption[] = [];
  if (init.uri !== undefined) {
    const uri = parseCoapUri(init.uri);
    for (const option of uri.options) {
      if (init.omitUriHost && (option.number === OptionNumber.UriHost || option.number === OptionNumber.UriPort)) continue;
      options.push(option);
    }
  } else {
    if (!init.omitUriHost) options.push(...target.hostOptions);
    if (path !== undefined) options.push(...cachedPathOptions(path));
  }
  if (init.query !== undefined) options.push(...queryOptions(init.query));
  if (init.contentFormat !== undefined) options.push({ number: OptionNumber.ContentFormat, value: encodeUint(contentFormatNumber(init.contentFormat)) });
  if (init.accept !== undefined) options.push({ number: OptionNumber.Accept, value: encodeUint(contentFormatNumber(init.accept)) });
  for (const option of init.options ?? []) options.push({ number: option.number, value: optionValue(option.value) });
  const payload = init.payload === undefined ? EMPTY_BYTES : typeof init.payload === 'string' ? encodeString(init.payload) : init.payload;
  return { code: methodCode(method), options: sortOptions(options), payload };
}
