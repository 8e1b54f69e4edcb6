/**
 * The test peer's resources and how a request becomes a response, whatever the transport: handlers,
 * `/.well-known/core` (RFC 6690), critical options (RFC 7252 §5.4.1), Observe registration (RFC 7641),
 * block-wise transfers (RFC 7959, with BERT of RFC 8323 §6 on TCP/TLS) and separate responses.
 */
import { blockSize, decodeBlock, encodeBlock, sizeToSzx, type BlockValue } from '../codec/block';
import { OptionNumber, isCritical } from '../codec/option-numbers';
import { decodeString, decodeUint, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, Method, ResponseCode, getOption, getOptions, tokenToHex, withOption, type CoapOption, type CoapPdu } from '../codec/pdu';
import type { Block1Assembler, Block1Result } from './block1-assembler';
import { bodyEtag, sliceBlock2, type Block2Slice } from './block2-slice';
import { errorResponse, isSuccess, pathOf, toBytes, type Observer, type RequestClient, type ResponseParts } from './test-peer-core';
import type { RequestFaults } from './test-peer-faults';
import type { ObserverRegistry } from './test-peer-observers';
import { formatLinkFormat, type TestHandler, type TestReply, type TestRequest, type TestResource, type TestResponse } from './test-resource';

/** A response produced later (RFC 7252 §5.2.2 separate response), `delay` milliseconds from now. */
export interface SeparateResponse {
  readonly kind: 'separate';
  readonly delay: number;
  readonly produce: () => ResponseParts;
}

/** What a request gets: a response now, RST (datagrams), or a separate response. */
export type RequestOutcome = ResponseParts | 'reset' | SeparateResponse;

/** Options of a {@link ResourceServer}. */
export interface ResourceServerOptions {
  /** Largest Block2 SZX served. */
  readonly maxBlock2Szx: number;
  /** Largest Block1 SZX accepted (BERT uploads only when it is 6). */
  readonly maxBlock1Szx: number;
  readonly block1: Block1Assembler;
  readonly observers: ObserverRegistry;
  readonly faults: RequestFaults;
  /** True once the peer is closing: no new observers. */
  readonly isClosed: () => boolean;
}

const WELL_KNOWN_CORE = '/.well-known/core';
const LINK_FORMAT = 40;
/** BERT counts in 1024-byte units (RFC 8323 §6). */
const BERT_UNIT = 1024;
const BERT_SZX = 7;

/** Options this server understands: any other critical option makes a request 4.02 (RFC 7252 §5.4.1). */
const understoodOptions: ReadonlySet<number> = new Set([
  OptionNumber.IfMatch,
  OptionNumber.UriHost,
  OptionNumber.ETag,
  OptionNumber.IfNoneMatch,
  OptionNumber.Observe,
  OptionNumber.UriPort,
  OptionNumber.UriPath,
  OptionNumber.ContentFormat,
  OptionNumber.UriQuery,
  OptionNumber.HopLimit,
  OptionNumber.Accept,
  OptionNumber.Block2,
  OptionNumber.Block1,
  OptionNumber.Size2,
  OptionNumber.ProxyUri,
  OptionNumber.ProxyScheme,
  OptionNumber.Size1,
  OptionNumber.Echo,
  OptionNumber.NoResponse,
  OptionNumber.RequestTag,
]);

/** The scripted resources of one peer, and the request processing every listener shares. */
export class ResourceServer {
  readonly #resources = new Map<string, TestResource>();
  /** Bodies of recent non-GET responses, for Block2 follow-ups of a POST/PUT/FETCH (RFC 7959 §2.6). */
  readonly #responseBodies = new Map<string, ResponseParts>();
  readonly #options: ResourceServerOptions;

  constructor(options: ResourceServerOptions) {
    this.#options = options;
  }

  get(path: string): TestResource | undefined {
    return this.#resources.get(path);
  }

  /** Adds or replaces the resource at its (normalized) path. */
  set(resource: TestResource): void {
    this.#resources.set(resource.path, resource);
  }

  delete(path: string): void {
    this.#resources.delete(path);
  }

  /**
   * Works out the answer to a request: a response, RST, or a separate response produced later.
   * @param pdu - the request
   * @param client - who sent it, and where notifications go if it registers an observer
   */
  respond(pdu: CoapPdu, client: RequestClient): RequestOutcome {
    const imposed = this.#options.faults.answer(pdu, client.key, client.transport === 'udp' || client.transport === 'unix-dgram');
    if (imposed !== undefined) return imposed;

    for (const option of pdu.options) {
      // RFC 7252 §5.4.1: an unrecognized critical option in a request is answered with 4.02.
      if (isCritical(option.number) && !understoodOptions.has(option.number)) {
        return errorResponse(ResponseCode.BadOption, `unrecognized critical option ${option.number}`);
      }
    }
    if (getOption(pdu, OptionNumber.ProxyUri) !== undefined || getOption(pdu, OptionNumber.ProxyScheme) !== undefined) {
      return errorResponse(ResponseCode.ProxyingNotSupported, 'this test peer is not a proxy');
    }

    const path = pathOf(pdu);
    const query = getOptions(pdu, OptionNumber.UriQuery).map(decodeString);
    const resource = this.#resources.get(path) ?? (path === WELL_KNOWN_CORE ? this.#wellKnownCore() : undefined);
    if (resource === undefined) return errorResponse(ResponseCode.NotFound, `no resource at ${path}`);

    let block2Request: BlockValue | undefined;
    let block1Request: BlockValue | undefined;
    try {
      const block2Value = getOption(pdu, OptionNumber.Block2);
      const block1Value = getOption(pdu, OptionNumber.Block1);
      block2Request = block2Value === undefined ? undefined : decodeBlock(block2Value);
      block1Request = block1Value === undefined ? undefined : decodeBlock(block1Value);
    } catch {
      return errorResponse(ResponseCode.BadOption, 'invalid block option');
    }

    const method = pdu.code;
    const handler = this.#handlerFor(resource, method);
    if (handler === undefined) return errorResponse(ResponseCode.MethodNotAllowed, `method not allowed on ${path}`);

    // RFC 7959 §2.6: later blocks of a POST/PUT/FETCH response are served from the body already produced.
    const bodyKey = `${client.key}|${method}|${path}`;
    if (method !== Method.GET && block1Request === undefined && block2Request !== undefined && block2Request.num > 0) {
      const previous = this.#responseBodies.get(bodyKey);
      if (previous !== undefined) return this.#finishResponse(previous, pdu, resource, client, block2Request, undefined);
    }

    let payload = pdu.payload;
    let block1Echo: BlockValue | undefined;
    if (block1Request !== undefined) {
      const size1Value = getOption(pdu, OptionNumber.Size1);
      const requestTag = getOption(pdu, OptionNumber.RequestTag);
      // RFC 9175 §3.3: blocks with different Request-Tags belong to different bodies.
      const transferKey = `${bodyKey}|${requestTag === undefined ? '-' : tokenToHex(requestTag)}`;
      const size1 = size1Value === undefined ? undefined : decodeUint(size1Value);
      const result =
        block1Request.szx === BERT_SZX && client.bertUnits !== undefined && this.#options.maxBlock1Szx === 6
          ? this.#acceptBert(transferKey, block1Request, pdu.payload, size1)
          : this.#options.block1.accept(transferKey, block1Request, pdu.payload, size1);
      switch (result.kind) {
        case 'continue':
          // RFC 7959 §2.3: 2.31 Continue acknowledges a non-final block; its SZX may ask for smaller blocks.
          return { code: ResponseCode.Continue, options: [{ number: OptionNumber.Block1, value: encodeBlock(result.block) }], payload: EMPTY_BYTES };
        case 'incomplete':
          return errorResponse(ResponseCode.RequestEntityIncomplete, result.reason);
        case 'too-large':
          // RFC 7959 §2.9.3: 4.13 may carry Size1 with the largest body the server accepts.
          return errorResponse(ResponseCode.RequestEntityTooLarge, 'request body too large', [{ number: OptionNumber.Size1, value: encodeUint(result.limit) }]);
        case 'bad-block':
          return errorResponse(ResponseCode.BadRequest, result.reason);
        case 'complete':
          payload = result.body;
          block1Echo = result.block;
          break;
      }
    }

    // RFC 7641 §2: Observe on a GET registers (0) or deregisters (1).
    const observers = this.#options.observers;
    const observeValue = method === Method.GET ? getOption(pdu, OptionNumber.Observe) : undefined;
    const observe = observeValue === undefined ? undefined : decodeUint(observeValue);
    const observerKey = `${client.key}|${tokenToHex(pdu.token)}`;
    const existing = observers.get(observerKey);
    if (existing !== undefined && method === Method.GET && (observe === 1 || (observe === undefined && (block2Request === undefined || block2Request.num === 0)))) {
      // Observe=1, or a plain GET reusing the observation's token: the client no longer wants notifications.
      observers.remove(existing);
    }
    const registering = observe === 0 && resource.observable === true && (block2Request === undefined || block2Request.num === 0);

    const request: TestRequest = { pdu, method, path, query, payload, source: client.source, notification: false };
    const produce = (): ResponseParts => {
      const parts = this.#runHandler(handler, request, resource);
      if (method !== Method.GET) this.#rememberBody(bodyKey, parts);
      if (registering && isSuccess(parts.code) && !this.#options.isClosed()) {
        observers.add({ key: observerKey, client, token: pdu.token.slice(), path, request: pdu, block2: block2Request, notifications: 0, attempts: 0 });
        return this.#finishResponse(parts, pdu, resource, client, block2Request, block1Echo, observers.nextSequence());
      }
      return this.#finishResponse(parts, pdu, resource, client, block2Request, block1Echo);
    };
    if (resource.separate !== undefined && resource.separate >= 0) return { kind: 'separate', delay: resource.separate, produce };
    return produce();
  }

  /**
   * The next notification for an observer; `final` when it ends the observation (a non-2.xx code,
   * RFC 7641 §3.2), after which the observer is to be removed.
   */
  notification(observer: Observer): { readonly parts: ResponseParts; readonly resource: TestResource | undefined; readonly final: boolean } {
    const resource = this.#resources.get(observer.path);
    if (resource === undefined) return { parts: errorResponse(ResponseCode.NotFound, 'resource removed'), resource: undefined, final: true };
    const handler = this.#handlerFor(resource, Method.GET);
    const request: TestRequest = {
      pdu: observer.request,
      method: Method.GET,
      path: observer.path,
      query: getOptions(observer.request, OptionNumber.UriQuery).map(decodeString),
      payload: EMPTY_BYTES,
      source: observer.client.source,
      notification: true,
    };
    const parts = handler === undefined ? errorResponse(ResponseCode.MethodNotAllowed, 'no GET handler') : this.#runHandler(handler, request, resource);
    // RFC 7641 §3.2: a non-2.xx notification ends the observation.
    if (!isSuccess(parts.code)) return { parts, resource: undefined, final: true };
    // RFC 7959 §2.6: a notification carries the first block; the client GETs the rest without Observe.
    const firstBlock = observer.block2 === undefined ? undefined : { num: 0, more: false, szx: observer.block2.szx };
    const finished = this.#finishResponse(parts, observer.request, resource, observer.client, firstBlock, undefined, this.#options.observers.nextSequence());
    return { parts: finished, resource, final: false };
  }

  /** The resource directory of this server (RFC 6690 §4), with the §4.1 query filtering. */
  #wellKnownCore(): TestResource {
    return {
      path: WELL_KNOWN_CORE,
      contentFormat: LINK_FORMAT,
      get: (request) => formatLinkFormat(this.#resources.values(), request.query),
    };
  }

  #handlerFor(resource: TestResource, method: number): TestHandler | undefined {
    switch (method) {
      case Method.GET:
      case Method.FETCH: {
        const get = resource.get;
        if (get === undefined || typeof get === 'function') return get;
        return () => get;
      }
      case Method.PUT:
        return resource.put;
      case Method.POST:
        return resource.post;
      case Method.DELETE:
        return resource.delete;
      default:
        return undefined;
    }
  }

  #runHandler(handler: TestHandler, request: TestRequest, resource: TestResource): ResponseParts {
    let reply: TestReply;
    try {
      reply = handler(request);
    } catch (error) {
      return errorResponse(ResponseCode.InternalServerError, error instanceof Error ? error.message : String(error));
    }
    const defaultCode =
      request.method === Method.GET || request.method === Method.FETCH ? ResponseCode.Content : request.method === Method.DELETE ? ResponseCode.Deleted : ResponseCode.Changed;
    const response: TestResponse = typeof reply === 'string' || reply instanceof Uint8Array ? { payload: reply } : reply;
    const code = response.code ?? defaultCode;
    let options: CoapOption[] = [...(response.options ?? [])];
    const payload = toBytes(response.payload);
    const contentFormat = response.contentFormat ?? resource.contentFormat;
    if (contentFormat !== undefined && isSuccess(code) && payload.length > 0 && !options.some((o) => o.number === OptionNumber.ContentFormat)) {
      options = withOption(options, OptionNumber.ContentFormat, [encodeUint(contentFormat)]);
    }
    if (code === ResponseCode.Content) {
      if (resource.maxAge !== undefined) options = withOption(options, OptionNumber.MaxAge, [encodeUint(resource.maxAge)]);
      if (resource.etag !== undefined) options = withOption(options, OptionNumber.ETag, [resource.etag]);
    }
    return { code, options, payload };
  }

  /** Adds Observe, Block1 (echo), Block2, Size2 and ETag to a response and cuts the block to send. */
  #finishResponse(
    parts: ResponseParts,
    request: CoapPdu,
    resource: TestResource,
    client: RequestClient,
    block2: BlockValue | undefined,
    block1: BlockValue | undefined,
    observeSequence?: number,
  ): ResponseParts {
    let options = parts.options;
    let payload = parts.payload;
    if (observeSequence !== undefined) options = withOption(options, OptionNumber.Observe, [encodeUint(observeSequence)]);
    // RFC 7959 §2.3: the response to the final block of a Block1 transfer carries Block1 too.
    if (block1 !== undefined) options = withOption(options, OptionNumber.Block1, [encodeBlock(block1)]);
    const wantsSize2 = getOption(request, OptionNumber.Size2) !== undefined;
    if (isSuccess(parts.code)) {
      let maxSzx = Math.min(this.#options.maxBlock2Szx, sizeToSzx(resource.blockSize ?? 1024));
      if (client.maxSzx !== undefined) maxSzx = Math.min(maxSzx, client.maxSzx);
      // RFC 8323 §6: BERT only when the client asks for it, both CSMs allowed it and 1024-byte blocks are served.
      const bert = block2?.szx === BERT_SZX && client.bertUnits !== undefined && maxSzx === 6;
      const slice = bert ? sliceBert(parts.payload, block2.num, client.bertUnits as number) : sliceBlock2(parts.payload, block2, maxSzx);
      if (slice.kind === 'out-of-range') {
        return errorResponse(ResponseCode.BadOption, `block ${block2?.num ?? 0} is past the end of the ${parts.payload.length}-byte body`);
      }
      if (slice.kind === 'block') {
        payload = slice.payload;
        options = withOption(options, OptionNumber.Block2, [encodeBlock(slice.block)]);
        // RFC 7959 §2.4: an ETag lets the client notice that the representation changed between blocks.
        if (getOption(parts, OptionNumber.ETag) === undefined) options = withOption(options, OptionNumber.ETag, [resource.etag ?? bodyEtag(parts.payload)]);
        // RFC 7959 §4: Size2 with the total size on the first block, and whenever the client asks with Size2 = 0.
        if (slice.block.num === 0 || wantsSize2) options = withOption(options, OptionNumber.Size2, [encodeUint(parts.payload.length)]);
      } else if (wantsSize2) {
        options = withOption(options, OptionNumber.Size2, [encodeUint(parts.payload.length)]);
      }
    }
    return { code: parts.code, options, payload };
  }

  /**
   * RFC 8323 §6: a BERT Block1 block carries several 1024-byte units (NUM counts units); it is taken as
   * that many SZX 6 blocks, and answered (2.31 or the final Block1 echo) with the BERT block itself.
   */
  #acceptBert(key: string, block: BlockValue, payload: Uint8Array, size1: number | undefined): Block1Result {
    if (block.more && (payload.length === 0 || payload.length % BERT_UNIT !== 0)) {
      return { kind: 'bad-block', reason: `non-final BERT block of ${payload.length} bytes is not a multiple of ${BERT_UNIT}` };
    }
    const units = Math.max(1, Math.ceil(payload.length / BERT_UNIT));
    let result: Block1Result | undefined;
    for (let unit = 0; unit < units; unit++) {
      const last = unit === units - 1;
      const piece = payload.subarray(unit * BERT_UNIT, Math.min(payload.length, (unit + 1) * BERT_UNIT));
      result = this.#options.block1.accept(key, { num: block.num + unit, more: block.more || !last, szx: 6 }, piece, size1);
      if (!last && result.kind !== 'continue') return result;
    }
    const final = result as Block1Result;
    if (final.kind === 'continue') return { kind: 'continue', block: { num: block.num, more: true, szx: BERT_SZX } };
    if (final.kind === 'complete') return { kind: 'complete', body: final.body, block: { num: block.num, more: false, szx: BERT_SZX } };
    return final;
  }

  #rememberBody(key: string, parts: ResponseParts): void {
    this.#responseBodies.delete(key);
    this.#responseBodies.set(key, parts);
    if (this.#responseBodies.size > 64) this.#responseBodies.delete(this.#responseBodies.keys().next().value as string);
  }
}

/**
 * RFC 8323 §6: a BERT block of up to `units` 1024-byte units starting at unit `num`; the whole body when it
 * fits from the start.
 */
function sliceBert(body: Uint8Array, num: number, units: number): Block2Slice {
  const offset = num * BERT_UNIT;
  const size = units * blockSize(BERT_SZX);
  if (offset === 0 && body.length <= size) return { kind: 'whole' };
  if (offset >= body.length) return { kind: 'out-of-range' };
  const end = Math.min(offset + size, body.length);
  return { kind: 'block', payload: body.subarray(offset, end), block: { num, more: end < body.length, szx: BERT_SZX } };
}
