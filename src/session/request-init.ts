/**
 * What `session.request()` takes, and how it becomes a request PDU: method, target (path or full URI, query),
 * body and the options users set by name. Uri-Host/Uri-Port come from the session's server as RFC 7252 §6.4
 * says (Uri-Host only for a name, Uri-Port only for a port that is not the default).
 *
 * Everything is checked before it can reach the wire: a bad init throws {@link CoapArgumentError} naming the
 * field. The session builds the request inside the Observable's subscribe function, so the error arrives on the
 * Observable, never at the call.
 */
import { CoapArgumentError, CoapUriError } from '../errors';
import { contentFormatByName } from '../codec/content-format';
import { OptionNumber } from '../codec/option-numbers';
import { optionValueProblem } from '../codec/option-registry';
import { encodeString, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, Method, sortOptions, type CoapOption, type MethodName } from '../codec/pdu';
import { parseCoapUri, pathAndQueryToOptions, queryToOptions } from '../codec/uri';
import type { RequestTemplate } from '../exchange/request';
import { MAX_TIMER_DELAY } from '../message-layer/transmission-params';
import { checkBlockSize, checkKnownKeys, checkOptionalBoolean, checkRecord, invalidArgument, isRecord } from '../validate';

/** An option given by the user: raw bytes, text (UTF-8) or an unsigned integer. */
export interface RequestOption {
  readonly number: number;
  readonly value: Uint8Array | string | number;
}

/** One request, as the user describes it. */
export interface RequestInit {
  /** @defaultValue 'GET' */
  readonly method?: MethodName | Lowercase<MethodName> | number;
  /**
   * Path on the server, optionally with a query: `'/sensors/temp'`, `'/time?ticks'` (RFC 7252 §6.4: the part after
   * `?` becomes Uri-Query options). Percent-encoded segments and arguments are decoded.
   */
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
  /** Use this token (0..8 bytes, RFC 7252 §5.3.1) instead of a random one. */
  readonly token?: Uint8Array;
  /** Do not send Uri-Host/Uri-Port (coap-client `-U`). */
  readonly omitUriHost?: boolean;
  /**
   * Block2 random access / size hint: ask for block `num` (a non-negative integer) of `size` bytes (a power of two
   * in 16..1024) (coap-client `-b num,size`).
   */
  readonly block2?: { readonly num?: number; readonly size: number };
  /** Block1 size hint for the body: a power of two in 16..1024. */
  readonly block1Size?: number;
}

/** The server part the session adds. */
export interface RequestTarget {
  /** Uri-Host/Uri-Port options implied by the server address (may be empty). */
  readonly hostOptions: readonly CoapOption[];
}

/**
 * Resolves a Content-Format name or number; throws {@link CoapArgumentError} naming `field` for an unknown
 * name or a number outside 0..65535 (RFC 7252 §12.3: a 16-bit registry).
 */
export function contentFormatNumber(value: unknown, field = 'contentFormat'): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 0xffff) return value;
    throw invalidArgument(field, 'must be a Content-Format number in 0..65535 or a name', value);
  }
  if (typeof value !== 'string') throw invalidArgument(field, 'must be a Content-Format number in 0..65535 or a name', value);
  const info = contentFormatByName(value);
  if (info === undefined) throw new CoapArgumentError(`unknown content format '${value}' (${field})`, { field });
  return info.number;
}

/** Request methods by name, upper case, in an object without a prototype (so 'toString' is no method). */
const METHOD_CODES: Readonly<Record<string, number | undefined>> = Object.assign(Object.create(null) as object, Method);

const METHOD_PROBLEM = `must be ${Object.keys(Method).join(', ')} or a request code in 1..31 (0.01..0.31)`;

/** The method's code. RFC 7252 §12.1.1: request codes are class 0, detail 1..31; 0.00 is the Empty message. */
function methodCode(method: unknown): number {
  if (method === undefined) return Method.GET;
  if (typeof method === 'number') {
    if (method >= 1 && method <= 31 && Number.isInteger(method)) return method;
  } else if (typeof method === 'string') {
    const code = METHOD_CODES[method] ?? METHOD_CODES[method.toUpperCase()];
    if (code !== undefined) return code;
  }
  throw invalidArgument('method', METHOD_PROBLEM, method);
}

/** A CoapUriError from a path, query or URI given by the caller, as the argument error it is. */
function uriArgumentError(field: string, error: unknown): unknown {
  if (!(error instanceof CoapUriError)) return error;
  return new CoapArgumentError(`${field} is not usable: ${error.message.replace(/^invalid CoAP URI: /, '')}`, { field, cause: error });
}

/** One option value as bytes, checked against the option registry (RFC 7252 §5.4.3: format and length). */
function optionBytes(number: number, value: unknown, field: string): Uint8Array {
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) bytes = value;
  else if (typeof value === 'string') bytes = encodeString(value);
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) bytes = encodeUint(value);
  else throw invalidArgument(field, 'must be a Uint8Array, a string or a non-negative safe integer', value);
  const problem = optionValueProblem(number, bytes);
  if (problem !== undefined) throw new CoapArgumentError(`${field} is invalid: ${problem}`, { field });
  return bytes;
}

function userOptions(list: unknown, out: CoapOption[]): void {
  if (!Array.isArray(list)) throw invalidArgument('options', 'must be an array of { number, value }', list);
  for (let i = 0; i < list.length; i++) {
    const option: unknown = list[i];
    const field = `options[${i}]`;
    checkRecord(option, field, 'an object { number, value }');
    const number = option.number;
    // RFC 7252 §3.1, §12.2: option numbers are 16-bit.
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > 0xffff) {
      throw invalidArgument(`${field}.number`, 'must be an integer in 0..65535', number);
    }
    out.push({ number, value: optionBytes(number, option.value, `${field}.value`) });
  }
}

function queryItem(item: string, field: string): CoapOption {
  return { number: OptionNumber.UriQuery, value: optionBytes(OptionNumber.UriQuery, item, field) };
}

function queryOptions(query: unknown, out: CoapOption[]): void {
  if (typeof query === 'string') {
    try {
      for (const option of queryToOptions(query)) out.push(option);
    } catch (error) {
      throw uriArgumentError('query', error);
    }
    return;
  }
  if (Array.isArray(query)) {
    for (let i = 0; i < query.length; i++) {
      const item: unknown = query[i];
      if (typeof item !== 'string') throw invalidArgument(`query[${i}]`, 'must be a string', item);
      out.push(queryItem(item, `query[${i}]`));
    }
    return;
  }
  if (!isRecord(query)) throw invalidArgument('query', "must be a string ('a=1&b'), an array of strings or a record of string, number or boolean", query);
  for (const [key, value] of Object.entries(query)) {
    const field = `query.${key}`;
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      out.push(queryItem(value === true ? key : `${key}=${String(value)}`, field));
    } else throw invalidArgument(field, 'must be a string, a finite number or a boolean', value);
  }
}

const BLOCK2_KEYS: ReadonlySet<string> = new Set(['num', 'size']);

/** RFC 7959 §2.2: NUM has at most 20 bits. */
const MAX_BLOCK_NUM = 0xfffff;

/** The per-request hints the session reads (token, message type, block sizes); only when one is set. */
function checkHints(init: RequestInit): void {
  const token: unknown = init.token;
  // RFC 7252 §5.3.1: 0 to 8 bytes.
  if (token !== undefined && (!(token instanceof Uint8Array) || token.length > 8)) throw invalidArgument('token', 'must be a Uint8Array of 0..8 bytes', token);
  checkOptionalBoolean(init.confirmable, 'confirmable');
  checkOptionalBoolean(init.omitUriHost, 'omitUriHost');
  const block2: unknown = init.block2;
  if (block2 !== undefined) {
    checkRecord(block2, 'block2', 'an object { num?, size }');
    checkKnownKeys(block2, 'block2', BLOCK2_KEYS);
    checkBlockSize(block2.size, 'block2.size');
    const num = block2.num;
    if (num !== undefined && (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num > MAX_BLOCK_NUM)) {
      throw invalidArgument('block2.num', `must be an integer in 0..${MAX_BLOCK_NUM} (RFC 7959 §2.2)`, num);
    }
  }
  if (init.block1Size !== undefined) checkBlockSize(init.block1Size, 'block1Size');
}

/** No options. */
const NONE: readonly CoapOption[] = [];

/**
 * Uri-Path (and Uri-Query) options of recently requested paths. They are immutable and shared: an application
 * asks for the same few paths again and again, and this is the per-request path. A path that fails is not kept.
 */
const pathCache = new Map<string, readonly CoapOption[]>();

function cachedPathOptions(path: string): readonly CoapOption[] {
  let options = pathCache.get(path);
  if (options === undefined) {
    try {
      options = pathAndQueryToOptions(path);
    } catch (error) {
      throw uriArgumentError('path', error);
    }
    if (pathCache.size >= 256) pathCache.delete(pathCache.keys().next().value as string);
    pathCache.set(path, options);
  }
  return options;
}

/**
 * Builds the request (token and message ID come later), checking every field: throws {@link CoapArgumentError}
 * naming the field (`'init'`, `'path'`, `'method'`, `'options[0].value'`, `'payload'`...). `method` and `path`
 * override the init's (the shorthands pass them without copying the init).
 */
export function buildRequest(init: RequestInit, target: RequestTarget, method?: RequestInit['method'], path?: string): RequestTemplate {
  // The common request (a method and a path) pays a few typeof checks; the rest is checked only when present.
  if (typeof init !== 'object' || init === null) throw invalidArgument('init', 'must be an object of request options', init);
  if (method === undefined) method = init.method;
  if (path === undefined) path = init.path;
  if (path !== undefined && typeof path !== 'string') throw invalidArgument('path', "must be a string ('/a/b?query')", path);
  const hints = init.token !== undefined || init.confirmable !== undefined || init.block2 !== undefined || init.block1Size !== undefined || init.omitUriHost !== undefined;
  const plain =
    init.uri === undefined &&
    init.query === undefined &&
    init.contentFormat === undefined &&
    init.accept === undefined &&
    init.options === undefined &&
    init.payload === undefined;
  // The same plain request as the last one (a request stream to one path): the same immutable template.
  const last = lastPlain;
  if (plain && !hints && last !== undefined && method === last.method && path === last.path && target.hostOptions === last.host) return last.request;
  const code = methodCode(method);
  if (hints) checkHints(init);
  if (!plain) return buildFullRequest(init, target, code, path);
  // Uri-Host (3) and Uri-Port (7) sort before Uri-Path (11) and Uri-Query (15), so the concatenation is in order.
  const pathOptions = path === undefined ? NONE : cachedPathOptions(path);
  const host = init.omitUriHost ? NONE : target.hostOptions;
  const options = host.length === 0 ? pathOptions : pathOptions.length === 0 ? host : host.concat(pathOptions);
  const request: RequestTemplate = { code, options, payload: EMPTY_BYTES };
  if (!hints) lastPlain = { method, path, host, request };
  return request;
}

/** The last plain request {@link buildRequest} built (method and path only), and what it was built from. */
let lastPlain: { readonly method: unknown; readonly path: string | undefined; readonly host: readonly CoapOption[]; readonly request: RequestTemplate } | undefined;

/** A request with more than a method and a path: every part checked, the options sorted. */
function buildFullRequest(init: RequestInit, target: RequestTarget, code: number, path: string | undefined): RequestTemplate {
  const options: CoapOption[] = [];
  if (init.uri !== undefined) {
    if (typeof init.uri !== 'string') throw invalidArgument('uri', "must be a CoAP URI string ('coap://host/path')", init.uri);
    let uri;
    try {
      uri = parseCoapUri(init.uri);
    } catch (error) {
      throw uriArgumentError('uri', error);
    }
    for (const option of uri.options) {
      if (init.omitUriHost && (option.number === OptionNumber.UriHost || option.number === OptionNumber.UriPort)) continue;
      options.push(option);
    }
  } else {
    if (!init.omitUriHost) options.push(...target.hostOptions);
    if (path !== undefined) options.push(...cachedPathOptions(path));
  }
  if (init.query !== undefined) queryOptions(init.query, options);
  if (init.contentFormat !== undefined) options.push({ number: OptionNumber.ContentFormat, value: encodeUint(contentFormatNumber(init.contentFormat, 'contentFormat')) });
  if (init.accept !== undefined) options.push({ number: OptionNumber.Accept, value: encodeUint(contentFormatNumber(init.accept, 'accept')) });
  if (init.options !== undefined) userOptions(init.options, options);
  const payload: unknown = init.payload;
  let body: Uint8Array;
  if (payload === undefined) body = EMPTY_BYTES;
  else if (typeof payload === 'string') body = encodeString(payload);
  else if (payload instanceof Uint8Array) body = payload;
  else throw invalidArgument('payload', 'must be a Uint8Array or a string', payload);
  // Stable: repeated options (Uri-Query from the path, then from `query`) keep their order.
  return { code, options: sortOptions(options), payload: body };
}

/** The fields `session.observe()` adds to a request init. */
export interface ObserveFields {
  readonly method?: unknown;
  readonly deregister?: unknown;
  readonly reregister?: unknown;
  readonly reregisterMargin?: unknown;
}

/**
 * Checks what only `observe()` takes: the init is an object, `method` is GET or FETCH (RFC 7641 §2, RFC 8132),
 * `deregister`/`reregister` are booleans and `reregisterMargin` is a duration in milliseconds. The rest is
 * checked by {@link buildRequest}. Throws {@link CoapArgumentError} naming the field.
 */
export function checkObserveInit(init: unknown): asserts init is ObserveFields {
  if (typeof init !== 'object' || init === null) throw invalidArgument('init', 'must be an object of observe options', init);
  const fields = init as ObserveFields;
  if (fields.method !== undefined) {
    const code = methodCode(fields.method);
    if (code !== Method.GET && code !== Method.FETCH) throw invalidArgument('method', 'must be GET or FETCH to observe (RFC 7641, RFC 8132)', fields.method);
  }
  checkOptionalBoolean(fields.deregister, 'deregister');
  checkOptionalBoolean(fields.reregister, 'reregister');
  const margin = fields.reregisterMargin;
  if (margin !== undefined && (typeof margin !== 'number' || !(margin >= 0) || margin > MAX_TIMER_DELAY)) {
    throw invalidArgument('reregisterMargin', `must be a number of milliseconds in 0..${MAX_TIMER_DELAY}`, margin);
  }
}
