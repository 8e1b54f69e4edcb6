/**
 * Scripted resources served by the test peer, and the RFC 6690 link-format description of them that
 * the peer serves at `/.well-known/core`.
 */
import type { PeerAddress } from '../errors';
import type { CoapOption, CoapPdu } from '../codec/pdu';

/** A full response as a resource handler returns it. Every field is optional. */
export interface TestResponse {
  /** Response code as a number, e.g. `ResponseCode.Content`. @defaultValue 2.05 for GET/FETCH, 2.04 for PUT/POST, 2.02 for DELETE */
  readonly code?: number;
  /** Body; a string is sent as UTF-8. */
  readonly payload?: Uint8Array | string;
  /** Extra options (Location-Path, Max-Age...). Observe, Block1/2 and Size2 are added by the peer. */
  readonly options?: readonly CoapOption[];
  /** Content-Format of this response. @defaultValue the resource's `contentFormat` */
  readonly contentFormat?: number;
}

/** What a handler may return: a body (bytes or UTF-8 text) with the default code, or a full response. */
export type TestReply = Uint8Array | string | TestResponse;

/** A request as a resource handler sees it: the whole body, even when it came in Block1 pieces. */
export interface TestRequest {
  /** The (last) request PDU. */
  readonly pdu: CoapPdu;
  /** Method code, e.g. `Method.PUT`. */
  readonly method: number;
  /** `'/sensors/temperature'`. */
  readonly path: string;
  /** Uri-Query values, in order (`['rt=temperature']`). */
  readonly query: readonly string[];
  /** The reassembled request body (RFC 7959 §2.5). */
  readonly payload: Uint8Array;
  /** The client endpoint. */
  readonly source: PeerAddress;
  /** True when this handler call builds an Observe notification rather than answering a request. */
  readonly notification: boolean;
}

/** A resource method: computes a reply for a request. A throw becomes a 5.00 response. */
export type TestHandler = (request: TestRequest) => TestReply;

/** How notifications are sent (RFC 7641 §4.5). */
export type NotifyType = 'NON' | 'CON';

/**
 * A scripted resource of the test peer.
 *
 * @example
 * ```ts
 * let celsius = 21;
 * const temperature: TestResource = {
 *   path: '/sensors/temperature', contentFormat: 0, observable: true,
 *   linkAttributes: { rt: 'temperature' },
 *   get: () => `${celsius} C`,
 * };
 * ```
 */
export interface TestResource {
  /** Absolute path, e.g. `'/sensors/temperature'`. */
  readonly path: string;
  /** Content-Format of the representation (also `ct=` in `/.well-known/core`). */
  readonly contentFormat?: number;
  /** GET (and FETCH) handler, or a fixed representation. Without it GET is 4.05. */
  readonly get?: TestHandler | Uint8Array | string;
  /** PUT handler. Without it PUT is 4.05. */
  readonly put?: TestHandler;
  /** POST handler. Without it POST is 4.05. */
  readonly post?: TestHandler;
  /** DELETE handler. Without it DELETE is 4.05. */
  readonly delete?: TestHandler;
  /** Accepts Observe registrations (RFC 7641); also adds `obs` to the link. @defaultValue false */
  readonly observable?: boolean;
  /** Sends a notification to every observer at this interval, in milliseconds. */
  readonly notifyEvery?: number;
  /** Notification type for this resource. @defaultValue the peer's `notifyType` */
  readonly notifyType?: NotifyType;
  /** Max-Age option (seconds) on 2.05 responses. */
  readonly maxAge?: number;
  /** ETag on 2.05 responses; block-wise responses without it get a hash of the body. */
  readonly etag?: Uint8Array;
  /** Extra link attributes for `/.well-known/core`, e.g. `{ rt: 'temperature', if: 'sensor' }`. `true` writes a bare attribute. */
  readonly linkAttributes?: Readonly<Record<string, string | true>>;
  /**
   * Answers a CON request with an empty ACK first and the response in a separate CON after this many
   * milliseconds (RFC 7252 §5.2.2); a NON request gets its NON response after the delay.
   */
  readonly separate?: number;
  /** Largest block this resource serves (16..1024). @defaultValue the peer's `blockSize` */
  readonly blockSize?: number;
  /** Hidden from `/.well-known/core`. @defaultValue false */
  readonly hidden?: boolean;
}

/**
 * Normalizes a resource path: a leading slash, no trailing slash (except the root), no empty segments.
 * @param path - `'sensors/temp/'` or `'/sensors/temp'`
 */
export function normalizePath(path: string): string {
  const segments = path.split('/').filter((segment) => segment.length > 0);
  return '/' + segments.join('/');
}

/** A link-format attribute value: a token when it is one, else a quoted string (RFC 6690 §2). */
function formatAttribute(name: string, value: string | true): string {
  if (value === true) return name;
  // RFC 6690 §2: ptoken = 1*ptokenchar; anything else needs a quoted-string.
  if (/^[!#$%&'()*+\-./:<=>?@[\]^_`{|}~0-9A-Za-z]+$/.test(value) && name !== 'rt' && name !== 'if') {
    return `${name}=${value}`;
  }
  return `${name}="${value.replace(/["\\]/g, (c) => '\\' + c)}"`;
}

/**
 * One RFC 6690 link for a resource, e.g. `</sensors/temperature>;rt="temperature";obs;ct=0`.
 * @param resource - the resource to describe
 */
export function formatLink(resource: TestResource): string {
  let link = `<${normalizePath(resource.path)}>`;
  const attributes = resource.linkAttributes ?? {};
  for (const [name, value] of Object.entries(attributes)) link += ';' + formatAttribute(name, value);
  if (resource.observable === true && !('obs' in attributes)) link += ';obs';
  if (resource.contentFormat !== undefined && !('ct' in attributes)) link += `;ct=${resource.contentFormat}`;
  return link;
}

/**
 * The link-format attributes of a resource as a name -> values map, for query filtering.
 */
function attributesOf(resource: TestResource): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const values = map.get(name);
    if (values === undefined) map.set(name, [value]);
    else values.push(value);
  };
  add('href', normalizePath(resource.path));
  for (const [name, value] of Object.entries(resource.linkAttributes ?? {})) {
    // RFC 6690 §4.1: rt and if are space-separated lists; a filter matches any member.
    if (value === true) add(name, '');
    else if (name === 'rt' || name === 'if') for (const part of value.split(' ')) add(name, part);
    else add(name, value);
  }
  if (resource.observable === true) add('obs', '');
  if (resource.contentFormat !== undefined) add('ct', String(resource.contentFormat));
  return map;
}

/**
 * RFC 6690 §4.1 query filtering: `name=value` matches when an attribute equals the value, or starts
 * with it when the value ends in `*`.
 * @param resource - the resource to test
 * @param query - the Uri-Query values of the request; only the first filter counts (§4.1 allows one)
 */
export function matchesLinkFilter(resource: TestResource, query: readonly string[]): boolean {
  if (query.length === 0) return true;
  const filter = query[0];
  const equals = filter.indexOf('=');
  const name = equals < 0 ? filter : filter.slice(0, equals);
  const wanted = equals < 0 ? '' : filter.slice(equals + 1);
  const values = attributesOf(resource).get(name);
  if (values === undefined) return false;
  if (wanted.endsWith('*')) {
    const prefix = wanted.slice(0, -1);
    return values.some((value) => value.startsWith(prefix));
  }
  return equals < 0 || values.includes(wanted);
}

/**
 * The `/.well-known/core` document for a set of resources (RFC 6690 §5), hidden ones left out.
 * @param resources - the resources to list
 * @param query - Uri-Query filters of the discovery request
 */
export function formatLinkFormat(resources: Iterable<TestResource>, query: readonly string[] = []): string {
  const links: string[] = [];
  for (const resource of resources) {
    if (resource.hidden === true || !matchesLinkFilter(resource, query)) continue;
    links.push(formatLink(resource));
  }
  return links.join(',');
}
