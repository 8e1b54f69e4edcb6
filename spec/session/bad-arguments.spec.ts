/**
 * Issue 16: bad arguments at every public entry point, table-driven. Every row must fail with a
 * CoapArgumentError (code COAP_ERR_ARGUMENT) whose `field` names the argument the way the caller wrote it
 * (`'server.host'`, `'transmission.ackTimeout'`, `'options[0].value'`), never with a TypeError, a silent
 * coercion or a crash later on.
 *
 * Where the error surfaces (the rule):
 * - Methods that return an Observable (`request`, `get`/`put`/`post`/`delete`/`fetch`/`patch`/`ipatch`,
 *   `observe`, `ping`) never throw at the call. A bad argument arrives as a CoapArgumentError on the Observable
 *   when it is subscribed, and nothing is sent (the request is built inside the subscribe function).
 * - Every other call (`new CoapContext`, `ctx.setBlockMode`, `ctx.newClientSession`, `ctx.newClientSessionPsk`,
 *   `session.setMtu`) throws the CoapArgumentError at the call.
 */
import { TestScheduler } from 'rxjs/testing';
import type { Observable } from 'rxjs';
import { CoapContext } from '../../src/context';
import { CoapArgumentError } from '../../src/errors';
import { MessageType, ResponseCode, createPdu, type CoapPdu } from '../../src/codec/pdu';
import { BlockMode, resolveBlockMode } from '../../src/session/block-mode';
import type { ClientSession } from '../../src/session/client-session';
import { registerTransport, type TransportTarget } from '../../src/session/transport-registry';
import { createFakeTransport, type FakeTransport } from '../../src/testing/fake-transport';

const PSK = { identity: 'client', key: 'secret-key' };

let scheduler: TestScheduler;
let fake: FakeTransport;
let targets: TransportTarget[];

beforeEach(() => {
  scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  fake = createFakeTransport({
    scheduler,
    respond: (pdu: CoapPdu) =>
      pdu.type === MessageType.CON ? createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: pdu.messageId, token: pdu.token }) : undefined,
  });
  targets = [];
  // Sessions made from a URI alone use the registered transports: fakes here, so no socket is opened.
  const maker = (target: TransportTarget) => (targets.push(target), fake.factory);
  registerTransport('udp', maker, 0);
  registerTransport('dtls', maker, 29);
});

/** The CoapArgumentError that `call` throws; fails the test for no error or another error. */
function thrown(call: () => unknown): CoapArgumentError {
  let error: unknown;
  try {
    call();
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) throw new Error('expected a CoapArgumentError, but the call returned');
  if (!(error instanceof CoapArgumentError)) throw error;
  expect(error).toMatchObject({ name: 'CoapArgumentError', code: 'COAP_ERR_ARGUMENT' });
  return error;
}

/** The error the Observable made by `make` emits on subscribe; making it must not throw, nor anything be sent. */
function emitted(make: (session: ClientSession) => Observable<unknown>): CoapArgumentError {
  const ctx = new CoapContext({ scheduler });
  const session = ctx.newClientSession({ server: 'coap://example.com', transport: fake.factory });
  let observable!: Observable<unknown>;
  expect(() => (observable = make(session))).not.toThrow();
  let error: unknown;
  const values: unknown[] = [];
  observable.subscribe({ next: (value) => values.push(value), error: (caught) => (error = caught) });
  if (error === undefined) throw new Error(`expected a CoapArgumentError on the Observable, got ${values.length} values and no error`);
  if (!(error instanceof CoapArgumentError)) throw error;
  expect(error).toMatchObject({ name: 'CoapArgumentError', code: 'COAP_ERR_ARGUMENT' });
  expect(values).toEqual([]);
  expect(fake.connections).toBe(0);
  expect(fake.sent).toEqual([]);
  return error;
}

type Row = readonly [name: string, value: unknown, field: string];

/** Block modes that are wrong wherever a block mode is taken (issue 16, finding 6). */
const BAD_BLOCK_MODES: readonly Row[] = [
  ["'single'", 'single', 'blockMode'],
  ['null', null, 'blockMode'],
  ['true', true, 'blockMode'],
  ["{ useLibrary: 'no' } (was taken as true)", { useLibrary: 'no' }, 'blockMode.useLibrary'],
  ['{ singleBody: 1 }', { singleBody: 1 }, 'blockMode.singleBody'],
  ['{ singelBody: false } (a typo)', { singelBody: false }, 'blockMode.singelBody'],
  ['4 (COAP_BLOCK_TRY_Q_BLOCK, not supported)', 4, 'blockMode'],
  ['0x20 (COAP_BLOCK_STLESS_FETCH, not supported)', 0x20, 'blockMode'],
  ['-1', -1, 'blockMode'],
  ['1.5', 1.5, 'blockMode'],
  ['NaN', NaN, 'blockMode'],
];

describe('new CoapContext(options): throws at the call', () => {
  const rows: readonly Row[] = [
    // Finding 8: a TypeError (null) or silently accepted (3) before.
    ['null', null, 'options'],
    ['3', 3, 'options'],
    ["'coap://h'", 'coap://h', 'options'],
    ['an array', [], 'options'],
    ['scheduler: 5', { scheduler: 5 }, 'scheduler'],
    ['scheduler: {} (no now/schedule)', { scheduler: {} }, 'scheduler'],
    ['scheduler: null', { scheduler: null }, 'scheduler'],
    ['random: 0.5', { random: 0.5 }, 'random'],
    ['tokenLength: 9', { tokenLength: 9 }, 'tokenLength'],
    ['tokenLength: 1.5', { tokenLength: 1.5 }, 'tokenLength'],
    ["tokenLength: '8'", { tokenLength: '8' }, 'tokenLength'],
    ["tokenGenerator: 'x'", { tokenGenerator: 'x' }, 'tokenGenerator'],
    ['logger: 5', { logger: 5 }, 'logger'],
    ['logger: null', { logger: null }, 'logger'],
    ["logger: { warn: 'x' }", { logger: { warn: 'x' } }, 'logger.warn'],
    ['mtu: 10', { mtu: 10 }, 'mtu'],
    ["mtu: '1152'", { mtu: '1152' }, 'mtu'],
    // Finding 5: transmission parameters.
    ['transmission: null', { transmission: null }, 'transmission'],
    ['transmission: 5', { transmission: 5 }, 'transmission'],
    ['ackTimeout: Infinity', { transmission: { ackTimeout: Infinity } }, 'transmission.ackTimeout'],
    ['ackTimeout: 1e10', { transmission: { ackTimeout: 1e10 } }, 'transmission.ackTimeout'],
    ["ackTimeout: '2000'", { transmission: { ackTimeout: '2000' } }, 'transmission.ackTimeout'],
    ['ackTimeout: -1', { transmission: { ackTimeout: -1 } }, 'transmission.ackTimeout'],
    ['ackTimeout: NaN', { transmission: { ackTimeout: NaN } }, 'transmission.ackTimeout'],
    ['ackRandomFactor: 0.9', { transmission: { ackRandomFactor: 0.9 } }, 'transmission.ackRandomFactor'],
    ['maxRetransmit: 2.5', { transmission: { maxRetransmit: 2.5 } }, 'transmission.maxRetransmit'],
    ['nstart: 0', { transmission: { nstart: 0 } }, 'transmission.nstart'],
    ['separateResponseTimeout: 3e9', { transmission: { separateResponseTimeout: 3e9 } }, 'transmission.separateResponseTimeout'],
    ['nonTimeout: -1', { transmission: { nonTimeout: -1 } }, 'transmission.nonTimeout'],
    ['maxRetransmit: 20 (derived timers over 2^31-1 ms)', { transmission: { maxRetransmit: 20 } }, 'transmission'],
    ['ackTimout: 1000 (a typo)', { transmission: { ackTimout: 1000 } }, 'transmission.ackTimout'],
    // Finding 6: block mode and sizes.
    ...BAD_BLOCK_MODES.map(([name, value, field]): Row => [`blockMode: ${name}`, { blockMode: value }, field]),
    ['maxBlockSize: 5 (became 16 before)', { maxBlockSize: 5 }, 'maxBlockSize'],
    ['maxBlockSize: 48', { maxBlockSize: 48 }, 'maxBlockSize'],
    ['maxBlockSize: 2048', { maxBlockSize: 2048 }, 'maxBlockSize'],
    ["maxBlockSize: '1024'", { maxBlockSize: '1024' }, 'maxBlockSize'],
    ['maxBodySize: -1', { maxBodySize: -1 }, 'maxBodySize'],
    ['maxBodySize: 0', { maxBodySize: 0 }, 'maxBodySize'],
    ['maxBodySize: 1.5', { maxBodySize: 1.5 }, 'maxBodySize'],
    ['maxBodySize: Infinity', { maxBodySize: Infinity }, 'maxBodySize'],
    // Finding 8: PSK defaults.
    ["psk: 'secret'", { psk: 'secret' }, 'psk'],
    ['psk: {}', { psk: {} }, 'psk.identity'],
    ['psk identity: null', { psk: { identity: null, key: 'k' } }, 'psk.identity'],
    ['psk key: {}', { psk: { identity: 'i', key: {} } }, 'psk.key'],
    ["psk key: ''", { psk: { identity: 'i', key: '' } }, 'psk.key'],
    ['psk identity of 129 bytes', { psk: { identity: 'i'.repeat(129), key: 'k' } }, 'psk.identity'],
    ['psk clientSni: 5', { psk: { ...PSK, clientSni: 5 } }, 'psk.clientSni'],
    ["psk validateIdentityHint: 'x'", { psk: { ...PSK, validateIdentityHint: 'x' } }, 'psk.validateIdentityHint'],
  ];

  it.each(rows)('rejects %s', (_name, options, field) => {
    const error = thrown(() => new CoapContext(options as never));
    expect(error.field).toBe(field);
  });

  it('never puts a key into the message', () => {
    expect(thrown(() => new CoapContext({ psk: 'secret' } as never)).message).not.toContain('secret');
    expect(thrown(() => new CoapContext({ psk: { identity: 'i', key: 'k'.repeat(65) } })).message).not.toContain('kkk');
  });

  it('accepts no options, {}, and every option at its bounds', () => {
    expect(() => new CoapContext()).not.toThrow();
    expect(() => new CoapContext(undefined)).not.toThrow();
    expect(
      () =>
        new CoapContext({
          scheduler,
          random: () => 0,
          tokenLength: 0,
          mtu: 64,
          maxBlockSize: 16,
          maxBodySize: 1,
          blockMode: BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY,
          transmission: { ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 0, nstart: 1, maxLatency: 0, processingDelay: 0 },
          psk: PSK,
          logger: {},
        }),
    ).not.toThrow();
  });
});

describe('ctx.setBlockMode(mode): throws at the call', () => {
  it.each(BAD_BLOCK_MODES)('rejects %s', (_name, mode, field) => {
    expect(thrown(() => new CoapContext().setBlockMode(mode as never)).field).toBe(field);
  });

  it('takes libcoap flags, with libcoap values (coap_block.h)', () => {
    expect(BlockMode).toEqual({ USE_LIBCOAP: 0x01, SINGLE_BODY: 0x02, NO_PREEMPTIVE_RTAG: 0x10 });
    const ctx = new CoapContext();
    expect(() => ctx.setBlockMode(BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY)).not.toThrow();
    expect(() => ctx.setBlockMode(BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY | BlockMode.NO_PREEMPTIVE_RTAG)).not.toThrow();
    expect(() => ctx.setBlockMode(0)).not.toThrow();
    expect(() => ctx.setBlockMode({ singleBody: false })).not.toThrow();
  });

  it('reads flags as libcoap does: an unset flag is off', () => {
    expect(resolveBlockMode(BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY)).toEqual({ useLibrary: true, singleBody: true, noPreemptiveRequestTag: false });
    expect(resolveBlockMode(BlockMode.USE_LIBCOAP)).toEqual({ useLibrary: true, singleBody: false, noPreemptiveRequestTag: false });
    expect(resolveBlockMode(BlockMode.USE_LIBCOAP | BlockMode.NO_PREEMPTIVE_RTAG)).toEqual({ useLibrary: true, singleBody: false, noPreemptiveRequestTag: true });
    expect(resolveBlockMode(0)).toEqual({ useLibrary: false, singleBody: false, noPreemptiveRequestTag: false });
  });

  it('fills in the object form with the defaults (library on, single body)', () => {
    expect(resolveBlockMode(undefined)).toEqual({ useLibrary: true, singleBody: true, noPreemptiveRequestTag: false });
    expect(resolveBlockMode({ singleBody: false })).toEqual({ useLibrary: true, singleBody: false, noPreemptiveRequestTag: false });
  });
});

describe('ctx.newClientSession(options): throws at the call', () => {
  const rows: readonly Row[] = [
    // Finding 8.
    ['no argument', undefined, 'options'],
    ['3', 3, 'options'],
    ['null', null, 'options'],
    ['{} (no server)', {}, 'server'],
    ['server: 123', { server: 123 }, 'server'],
    ['server: null', { server: null }, 'server'],
    ['host: null', { server: { host: null } }, 'server.host'],
    ['host: 5', { server: { host: 5, port: 5683 } }, 'server.host'],
    // Finding 4: crashed the process in the bind callback before.
    ["host: '' with a port", { server: { host: '', port: 5683 } }, 'server.host'],
    ["host: 'h:5683' (a port in the host)", { server: { host: 'h:5683' } }, 'server.host'],
    ["host: '[::1]' (brackets)", { server: { host: '[::1]' } }, 'server.host'],
    ["host: 'a b'", { server: { host: 'a b' } }, 'server.host'],
    ['port: 70000', { server: { host: 'h', port: 70000 } }, 'server.port'],
    ["port: '5683'", { server: { host: 'h', port: '5683' } }, 'server.port'],
    ['port: 1.5', { server: { host: 'h', port: 1.5 } }, 'server.port'],
    // Finding 11: a base path was silently ignored before.
    ["'coap://h/base' (a path)", 'coap://h/base', 'server'],
    ["'coap://h?x' (a query)", 'coap://h?x', 'server'],
    ["{ server: 'coap://h/a/b?x' }", { server: 'coap://h/a/b?x' }, 'server'],
    ["'coap://' (no host)", 'coap://', 'server'],
    ["'http://h' (not CoAP)", 'http://h', 'server'],
    ["'coap+ws://h' (no transport registered here)", 'coap+ws://h', 'server'],
    // issue 19: 'coaps://h' without credentials is anonymous DTLS now, no longer an argument error
    ["'coaps+ws://h' (no transport registered here)", 'coaps+ws://h', 'server'],
    ["proto: 'quic'", { server: { host: 'h' }, proto: 'quic' }, 'proto'],
    ["proto: 'dtls' with coap://", { server: 'coap://h', proto: 'dtls' }, 'proto'],
    ['localIf: 5', { server: 'coap://h', localIf: 5 }, 'localIf'],
    ["localIf: '127.0.0.1:abc'", { server: 'coap://h', localIf: '127.0.0.1:abc' }, 'localIf'],
    ["localIf: '127.0.0.1:70000'", { server: 'coap://h', localIf: '127.0.0.1:70000' }, 'localIf'],
    ['localIf: { port: -1 }', { server: 'coap://h', localIf: { port: -1 } }, 'localIf.port'],
    ["localIf: { address: '' }", { server: 'coap://h', localIf: { address: '' } }, 'localIf.address'],
    ["transmission: { ackTimeout: '2000' }", { server: 'coap://h', transmission: { ackTimeout: '2000' } }, 'transmission.ackTimeout'],
    ['transmission: { nstart: -1 }', { server: 'coap://h', transmission: { nstart: -1 } }, 'transmission.nstart'],
    ['mtu: 1e6', { server: 'coap://h', mtu: 1e6 }, 'mtu'],
    ['tokenLength: 9', { server: 'coap://h', tokenLength: 9 }, 'tokenLength'],
    ['transport: 5', { server: 'coap://h', transport: 5 }, 'transport'],
    ["logger: 'x'", { server: 'coap://h', logger: 'x' }, 'logger'],
  ];

  it.each(rows)('rejects %s', (_name, options, field) => {
    expect(thrown(() => new CoapContext({ scheduler }).newClientSession(options as never)).field).toBe(field);
  });

  it('takes a URI string as shorthand for { server }', () => {
    const session = new CoapContext({ scheduler }).newClientSession('coap://127.0.0.1:5700');
    expect(session).toMatchObject({ proto: 'udp', server: 'coap://127.0.0.1:5700' });
    expect(targets).toEqual([expect.objectContaining({ host: '127.0.0.1', port: 5700 })]);
  });

  it("accepts a URI that ends in '/' and { host, port: 0 }", () => {
    const ctx = new CoapContext({ scheduler });
    expect(() => ctx.newClientSession('coap://h/')).not.toThrow();
    expect(() => ctx.newClientSession({ server: { host: 'h', port: 0 } })).not.toThrow();
    expect(() => ctx.newClientSession({ server: { host: '::1' }, localIf: '[::1]:0' })).not.toThrow();
  });
});

describe('ctx.newClientSessionPsk(options): throws at the call', () => {
  const rows: readonly Row[] = [
    ['no argument', undefined, 'options'],
    ['null', null, 'options'],
    ['{ server: 5 }', { server: 5, psk: PSK }, 'server'],
    ["psk: 'secret'", { server: 'coaps://h', psk: 'secret' }, 'psk'],
    ['psk: {}', { server: 'coaps://h', psk: {} }, 'psk.identity'],
    ['identity: null', { server: 'coaps://h', psk: { identity: null, key: 'k' } }, 'psk.identity'],
    ['key: 5', { server: 'coaps://h', psk: { identity: 'i', key: 5 } }, 'psk.key'],
    ['key of 65 bytes', { server: 'coaps://h', psk: { identity: 'i', key: new Uint8Array(65) } }, 'psk.key'],
    ["'coaps://h' without a context psk", 'coaps://h', 'psk'],
    ["a coap:// server", { server: 'coap://h', psk: PSK }, 'server'],
    ["'coaps://h/x' (a path)", { server: 'coaps://h/x', psk: PSK }, 'server'],
  ];

  it.each(rows)('rejects %s', (_name, options, field) => {
    expect(thrown(() => new CoapContext({ scheduler }).newClientSessionPsk(options as never)).field).toBe(field);
  });

  it("takes 'coaps://host' as shorthand, with the context's psk", () => {
    const session = new CoapContext({ scheduler, psk: PSK }).newClientSessionPsk('coaps://127.0.0.1');
    expect(session.proto).toBe('dtls');
    expect(Buffer.from(targets[0].psk!.identity).toString()).toBe('client');
  });
});

describe('session.setMtu(mtu): throws at the call', () => {
  it.each<Row>([
    ['10', 10, 'mtu'],
    ['70000', 70000, 'mtu'],
    ["'1152'", '1152', 'mtu'],
    ['NaN', NaN, 'mtu'],
    ['1.5', 1.5, 'mtu'],
    ['null', null, 'mtu'],
  ])('rejects %s', (_name, mtu, field) => {
    const session = new CoapContext({ scheduler }).newClientSession({ server: 'coap://h', transport: fake.factory });
    expect(thrown(() => session.setMtu(mtu as never)).field).toBe(field);
  });
});

type RequestRow = readonly [name: string, make: (session: ClientSession) => Observable<unknown>, field: string];

const bad = <T>(value: unknown): T => value as T;

describe('requests: the error arrives on the Observable, nothing is sent', () => {
  const rows: readonly RequestRow[] = [
    // Finding 7 and 8: the init and the path.
    ['request(5)', (s) => s.request(bad(5)), 'init'],
    ["request('/x')", (s) => s.request(bad('/x')), 'init'],
    ['get(123)', (s) => s.get(bad(123)), 'path'],
    ['get(null)', (s) => s.get(bad(null)), 'path'],
    ["get('/x', 5)", (s) => s.get('/x', bad(5)), 'init'],
    ["get('/x', null)", (s) => s.get('/x', bad(null)), 'init'],
    ["put('/x', 'body')", (s) => s.put('/x', bad('body')), 'init'],
    ['request({ path: 5 })', (s) => s.request(bad({ path: 5 })), 'path'],
    ['observe(5) (observed / before)', (s) => s.observe(bad(5)), 'init'],
    ['observe(null)', (s) => s.observe(bad(null)), 'init'],
    ['observe({ path: 5 })', (s) => s.observe(bad({ path: 5 })), 'path'],
    // Methods: RFC 7252 §12.1.1 request codes are 0.01..0.31.
    ['method 69 (2.05)', (s) => s.request({ method: 69 }), 'method'],
    ['method 224 (7.00, a TCP signal)', (s) => s.request({ method: 224 }), 'method'],
    ['method 0 (Empty)', (s) => s.request({ method: 0 }), 'method'],
    ['method 32 (1.00)', (s) => s.request({ method: 32 }), 'method'],
    ['method 1.5', (s) => s.request({ method: 1.5 }), 'method'],
    ["method 'BREW'", (s) => s.request({ method: bad('BREW') }), 'method'],
    ["method 'toString'", (s) => s.request({ method: bad('toString') }), 'method'],
    ['method null', (s) => s.request({ method: bad(null) }), 'method'],
    // Options: numbers and values (option registry, RFC 7252 §5.4.3, §5.10).
    ['option number 1.5', (s) => s.get('/x', { options: [{ number: 1.5, value: 'a' }] }), 'options[0].number'],
    ['option number 65600', (s) => s.get('/x', { options: [{ number: 65600, value: 'a' }] }), 'options[0].number'],
    ['option number -1', (s) => s.get('/x', { options: [{ number: -1, value: 'a' }] }), 'options[0].number'],
    ["option number '11'", (s) => s.get('/x', { options: [{ number: bad('11'), value: 'a' }] }), 'options[0].number'],
    ['a 300-byte Uri-Host', (s) => s.get('/x', { options: [{ number: 3, value: 'h'.repeat(300) }] }), 'options[0].value'],
    ['a 6-byte Observe', (s) => s.get('/x', { options: [{ number: 6, value: new Uint8Array(6) }] }), 'options[0].value'],
    ['If-None-Match with a value', (s) => s.put('/x', { options: [{ number: 5, value: 'x' }] }), 'options[0].value'],
    ['Uri-Path that is not UTF-8', (s) => s.get('/x', { options: [{ number: 11, value: Uint8Array.of(0xff) }] }), 'options[0].value'],
    ['option value {}', (s) => s.get('/x', { options: [{ number: 2048, value: bad({}) }] }), 'options[0].value'],
    ['option value null', (s) => s.get('/x', { options: [{ number: 2048, value: bad(null) }] }), 'options[0].value'],
    ['option value -1', (s) => s.get('/x', { options: [{ number: 2048, value: -1 }] }), 'options[0].value'],
    ['option value 1.5', (s) => s.get('/x', { options: [{ number: 2048, value: 1.5 }] }), 'options[0].value'],
    ['the second option bad', (s) => s.get('/x', { options: [{ number: 2048, value: 'a' }, { number: 2049, value: bad(true) }] }), 'options[1].value'],
    ['options: null entry', (s) => s.get('/x', { options: [bad(null)] }), 'options[0]'],
    ["options: 'x'", (s) => s.get('/x', { options: bad('x') }), 'options'],
    ['Content-Format 70000', (s) => s.put('/x', { contentFormat: 70000, payload: 'a' }), 'contentFormat'],
    ['Content-Format -1', (s) => s.put('/x', { contentFormat: -1, payload: 'a' }), 'contentFormat'],
    ["Content-Format 'nope'", (s) => s.put('/x', { contentFormat: 'nope', payload: 'a' }), 'contentFormat'],
    ['Content-Format null', (s) => s.put('/x', { contentFormat: bad(null), payload: 'a' }), 'contentFormat'],
    ['Accept 1.5', (s) => s.get('/x', { accept: 1.5 }), 'accept'],
    // Body and token.
    ['payload 123 (dropped before)', (s) => s.put('/x', { payload: bad(123) }), 'payload'],
    ['payload {}', (s) => s.put('/x', { payload: bad({}) }), 'payload'],
    ['payload null', (s) => s.put('/x', { payload: bad(null) }), 'payload'],
    ["token 'abc' (sent as 000000 before)", (s) => s.get('/x', { token: bad('abc') }), 'token'],
    ['token of 9 bytes', (s) => s.get('/x', { token: new Uint8Array(9) }), 'token'],
    ['token [1, 2]', (s) => s.get('/x', { token: bad([1, 2]) }), 'token'],
    // Query.
    ['query 5 (ignored before)', (s) => s.get('/x', { query: bad(5) }), 'query'],
    ['query null', (s) => s.get('/x', { query: bad(null) }), 'query'],
    ['query [1]', (s) => s.get('/x', { query: bad([1]) }), 'query[0]'],
    ['query { a: {} }', (s) => s.get('/x', { query: bad({ a: {} }) }), 'query.a'],
    ['query { a: NaN }', (s) => s.get('/x', { query: { a: NaN } }), 'query.a'],
    ["query '%zz'", (s) => s.get('/x', { query: '%zz' }), 'query'],
    // Block hints (RFC 7959 §2.2: sizes 16..1024, powers of two).
    ['block2 { size: 3 } (coerced before)', (s) => s.get('/x', { block2: { size: 3 } }), 'block2.size'],
    ['block2 { size: 2048 }', (s) => s.get('/x', { block2: { size: 2048 } }), 'block2.size'],
    ['block2 { size: 100 }', (s) => s.get('/x', { block2: { size: 100 } }), 'block2.size'],
    ['block2 { num: -1, size: 64 }', (s) => s.get('/x', { block2: { num: -1, size: 64 } }), 'block2.num'],
    ['block2 { num: 1.5, size: 64 }', (s) => s.get('/x', { block2: { num: 1.5, size: 64 } }), 'block2.num'],
    ['block2 5', (s) => s.get('/x', { block2: bad(5) }), 'block2'],
    ['block2 { szx: 2 }', (s) => s.get('/x', { block2: bad({ szx: 2, size: 64 }) }), 'block2.szx'],
    ['block1Size 3', (s) => s.put('/x', { payload: 'a', block1Size: 3 }), 'block1Size'],
    ['block1Size 2048', (s) => s.put('/x', { payload: 'a', block1Size: 2048 }), 'block1Size'],
    // Flags.
    ["confirmable 'yes'", (s) => s.get('/x', { confirmable: bad('yes') }), 'confirmable'],
    ['confirmable 0', (s) => s.get('/x', { confirmable: bad(0) }), 'confirmable'],
    ['omitUriHost 1', (s) => s.get('/x', { omitUriHost: bad(1) }), 'omitUriHost'],
    // Targets.
    ['uri 5', (s) => s.request({ uri: bad(5) }), 'uri'],
    ["uri 'http://h/x'", (s) => s.request({ uri: 'http://h/x' }), 'uri'],
    ["path '/%zz'", (s) => s.get('/%zz'), 'path'],
    ['a path segment of 300 bytes', (s) => s.get(`/${'a'.repeat(300)}`), 'path'],
  ];

  it.each(rows)('rejects %s', (_name, make, field) => {
    expect(emitted(make).field).toBe(field);
  });

  // ClientSession checks these before it reads the init (request(null) once threw a TypeError at the call,
  // and observe(path, init) spread a bad init away).
  const sessionRows: readonly RequestRow[] = [
    ['request(null)', (s) => s.request(bad(null)), 'init'],
    ["observe('/x', 5)", (s) => s.observe('/x', bad(5)), 'init'],
    ["observe('/x', null)", (s) => s.observe('/x', bad(null)), 'init'],
    ["observe({ method: 'PUT' })", (s) => s.observe({ path: '/x', method: bad<'GET'>('PUT') }), 'method'],
    ["observe({ deregister: 'no' })", (s) => s.observe({ path: '/x', deregister: bad<boolean>('no') }), 'deregister'],
    ['observe({ reregisterMargin: -1 })', (s) => s.observe('/x', { reregisterMargin: -1 }), 'reregisterMargin'],
  ];
  it.each(sessionRows)('rejects %s', (_name, make, field) => {
    expect(emitted(make).field).toBe(field);
  });

  it('accepts the edges: code 0.31, lowercase names, option 65535, an empty If-None-Match, an empty token', () => {
    const ctx = new CoapContext({ scheduler });
    const session = ctx.newClientSession({ server: 'coap://example.com', transport: fake.factory });
    const errors: unknown[] = [];
    const run = (observable: Observable<unknown>) => observable.subscribe({ error: (error) => errors.push(error) });
    run(session.request({ method: 31 }));
    run(session.request({ method: 'ipatch', payload: 'x' }));
    run(session.get('/x', { options: [{ number: 65535, value: 'a' }] }));
    run(session.put('/x', { options: [{ number: 5, value: '' }], payload: 'x' }));
    run(session.get('/x', { token: new Uint8Array(0), block2: { num: 2, size: 1024 }, confirmable: false }));
    run(session.get('/x', { query: { a: 1, b: true, c: 'd' }, accept: 'json', contentFormat: 60 }));
    expect(errors).toEqual([]);
    expect(fake.sent.map((s) => s.pdu!.code)).toEqual([31, 7, 1, 3, 1, 1]);
  });
});
