import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { CoapArgumentError } from '../../src/errors';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { createPdu, Method, MessageType, ResponseCode, type CoapOption } from '../../src/codec/pdu';
import { buildRequest, checkObserveInit, contentFormatNumber } from '../../src/session/request-init';
import { createFakeTransport } from '../../src/testing/fake-transport';

const NO_HOST = { hostOptions: [] };
const HOST = { hostOptions: [{ number: OptionNumber.UriHost, value: encodeString('example.com') }] };

/** Options as [number, text] pairs. */
const readable = (options: readonly CoapOption[]) => options.map((o) => [o.number, Buffer.from(o.value).toString()]);

function argumentError(call: () => unknown): CoapArgumentError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(CoapArgumentError);
    return error as CoapArgumentError;
  }
  throw new Error('expected a CoapArgumentError');
}

describe('buildRequest: paths with a query (issue 16, finding 11; RFC 7252 §6.4)', () => {
  it("splits '/time?ticks' into Uri-Path 'time' and Uri-Query 'ticks'", () => {
    expect(readable(buildRequest({}, NO_HOST, 'GET', '/time?ticks').options)).toEqual([
      [OptionNumber.UriPath, 'time'],
      [OptionNumber.UriQuery, 'ticks'],
    ]);
  });

  it('splits every & argument and percent-decodes segments and arguments', () => {
    expect(readable(buildRequest({ path: '/a%2Fb/c?x%26y=1&z' }, NO_HOST).options)).toEqual([
      [OptionNumber.UriPath, 'a/b'],
      [OptionNumber.UriPath, 'c'],
      [OptionNumber.UriQuery, 'x&y=1'],
      [OptionNumber.UriQuery, 'z'],
    ]);
  });

  it("keeps Uri-Host first and the path's query before the init's query", () => {
    const request = buildRequest({ query: 'b=2' }, HOST, 'GET', '/t?a=1');
    expect(readable(request.options)).toEqual([
      [OptionNumber.UriHost, 'example.com'],
      [OptionNumber.UriPath, 't'],
      [OptionNumber.UriQuery, 'a=1'],
      [OptionNumber.UriQuery, 'b=2'],
    ]);
  });

  it("adds no Uri-Query for a trailing '?', and the fast path gives the same options as the full one", () => {
    expect(readable(buildRequest({}, NO_HOST, 'GET', '/t?').options)).toEqual([[OptionNumber.UriPath, 't']]);
    const fast = buildRequest({}, HOST, 'GET', '/s/t?u');
    const full = buildRequest({ payload: 'x' }, HOST, 'PUT', '/s/t?u');
    expect(readable(fast.options)).toEqual(readable(full.options));
  });

  it('returns the same shared options for a repeated path (the path cache) and does not cache a bad one', () => {
    expect(buildRequest({}, NO_HOST, 'GET', '/cached?q').options).toBe(buildRequest({}, NO_HOST, 'GET', '/cached?q').options);
    expect(argumentError(() => buildRequest({}, NO_HOST, 'GET', '/%zz')).field).toBe('path');
    expect(argumentError(() => buildRequest({}, NO_HOST, 'GET', '/%zz')).field).toBe('path');
  });

  it('sends Uri-Path and Uri-Query from session.get("/time?ticks")', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const fake = createFakeTransport({
      scheduler,
      respond: (pdu) => (pdu.type === MessageType.CON ? createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: pdu.messageId, token: pdu.token }) : undefined),
    });
    const session = new CoapContext({ scheduler }).newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
    const codes: string[] = [];
    session.get('/time?ticks').subscribe((response) => codes.push(response.codeText));
    expect(codes).toEqual(['2.05']);
    expect(readable(fake.sent[0].pdu!.options)).toEqual([
      [OptionNumber.UriPath, 'time'],
      [OptionNumber.UriQuery, 'ticks'],
    ]);
  });
});

describe('buildRequest: what goes on the wire', () => {
  it('takes the method by name (any case) or request code', () => {
    expect(buildRequest({ method: 'post' }, NO_HOST).code).toBe(Method.POST);
    expect(buildRequest({ method: 'iPATCH' as 'IPATCH' }, NO_HOST).code).toBe(Method.IPATCH);
    expect(buildRequest({ method: 0x1f }, NO_HOST).code).toBe(0x1f);
    expect(buildRequest({}, NO_HOST).code).toBe(Method.GET);
  });

  it('encodes option values given as text, bytes and integers', () => {
    const request = buildRequest(
      { options: [{ number: OptionNumber.MaxAge, value: 60 }, { number: OptionNumber.ETag, value: Uint8Array.of(1, 2) }, { number: OptionNumber.UriQuery, value: 'q' }] },
      NO_HOST,
    );
    expect(request.options).toEqual([
      { number: OptionNumber.ETag, value: Uint8Array.of(1, 2) },
      { number: OptionNumber.MaxAge, value: encodeUint(60) },
      { number: OptionNumber.UriQuery, value: encodeString('q') },
    ]);
  });

  it('names the field of each bad value, for the session to put on the Observable', () => {
    expect(argumentError(() => buildRequest(null as never, NO_HOST)).field).toBe('init');
    expect(argumentError(() => buildRequest({ method: 69 }, NO_HOST))).toMatchObject({ field: 'method', message: expect.stringContaining('got 69') });
    expect(argumentError(() => buildRequest({ options: [{ number: OptionNumber.ContentFormat, value: 70000 }] }, NO_HOST))).toMatchObject({
      field: 'options[0].value',
      message: expect.stringContaining('Content-Format value is 3 bytes'),
    });
  });

  it('resolves Content-Format names and numbers, naming the field that is wrong', () => {
    expect(contentFormatNumber('json')).toBe(50);
    expect(contentFormatNumber(0)).toBe(0);
    expect(argumentError(() => contentFormatNumber(70000, 'accept')).field).toBe('accept');
    expect(argumentError(() => contentFormatNumber('nope')).field).toBe('contentFormat');
  });
});

describe('checkObserveInit', () => {
  it('accepts GET and FETCH registrations with boolean flags and a margin', () => {
    expect(() => checkObserveInit({})).not.toThrow();
    expect(() => checkObserveInit({ method: 'FETCH', deregister: false, reregister: true, reregisterMargin: 0 })).not.toThrow();
  });

  it.each<[unknown, string]>([
    [5, 'init'],
    [null, 'init'],
    [{ method: 'PUT' }, 'method'],
    [{ method: 69 }, 'method'],
    [{ deregister: 'no' }, 'deregister'],
    [{ reregister: 1 }, 'reregister'],
    [{ reregisterMargin: -1 }, 'reregisterMargin'],
    [{ reregisterMargin: 3e9 }, 'reregisterMargin'],
  ])('rejects %p naming %s', (init, field) => {
    expect(argumentError(() => checkObserveInit(init)).field).toBe(field);
  });
});

describe('buildRequest: the last plain request is reused only when nothing differs', () => {
  const OTHER_HOST = { hostOptions: [{ number: OptionNumber.UriHost, value: encodeString('other.example') }] };

  it('hands back the same template for the same method, path and host', () => {
    const first = buildRequest({}, HOST, 'GET', '/reuse/a');
    expect(buildRequest({}, HOST, 'GET', '/reuse/a')).toBe(first);
  });

  it('builds anew for another path, method or host, and when hints or other fields are set', () => {
    const first = buildRequest({}, HOST, 'GET', '/reuse/b');
    expect(readable(buildRequest({}, HOST, 'GET', '/reuse/c').options)).toEqual([
      [OptionNumber.UriHost, 'example.com'],
      [OptionNumber.UriPath, 'reuse'],
      [OptionNumber.UriPath, 'c'],
    ]);
    buildRequest({}, HOST, 'GET', '/reuse/b');
    expect(buildRequest({}, HOST, 'PUT', '/reuse/b').code).toBe(Method.PUT);
    buildRequest({}, HOST, 'GET', '/reuse/b');
    expect(readable(buildRequest({}, OTHER_HOST, 'GET', '/reuse/b').options)[0]).toEqual([OptionNumber.UriHost, 'other.example']);
    buildRequest({}, HOST, 'GET', '/reuse/b');
    expect(readable(buildRequest({ omitUriHost: true }, HOST, 'GET', '/reuse/b').options)).toEqual([
      [OptionNumber.UriPath, 'reuse'],
      [OptionNumber.UriPath, 'b'],
    ]);
    buildRequest({}, HOST, 'GET', '/reuse/b');
    expect(buildRequest({ accept: 'application/json' }, HOST, 'GET', '/reuse/b').options.some((o) => o.number === OptionNumber.Accept)).toBe(true);
    expect(buildRequest({}, HOST, 'GET', '/reuse/b')).not.toBe(first); // built again after the others
  });

  it('still checks the hints of a request that matches the last one', () => {
    buildRequest({}, HOST, 'GET', '/reuse/d');
    expect(argumentError(() => buildRequest({ confirmable: 'yes' as unknown as boolean }, HOST, 'GET', '/reuse/d')).field).toBe('confirmable');
  });
});
