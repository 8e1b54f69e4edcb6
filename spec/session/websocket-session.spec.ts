/**
 * Sessions over coap+ws:// and coaps+ws:// (RFC 8323 §4) end to end: CoapContext → the ws transport of
 * `rxcoap/node` → the reliable stack with WebSocket framing → the test peer's WS and WSS listeners. Requests,
 * observe with deregistration, block-wise both ways within the peer's Max-Message-Size, and the peer's faults:
 * a message over our Max-Message-Size, a closed WebSocket, Abort and Release.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, take, timeout, toArray } from 'rxjs';
import { ResponseCode, SignalCode } from '../../src/codec/pdu';
import { CoapContext, type ClientSession } from '../../src/node';
import { startTestPeer, type ReceivedPdu, type TestPeer } from '../../src/testing/test-peer';

jest.setTimeout(20_000);

const pki = (name: string): Buffer => readFileSync(join(__dirname, '../fixtures/test-peer-pki', name));
const psk = { identity: 'ws-client', key: 'ws-session-secret' };
const body = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 7) % 251);
const LIMIT = 5_000;

describe('coap+ws:// and coaps+ws:// sessions against the test peer', () => {
  let peer: TestPeer;
  let context: CoapContext;
  let counter = 0;
  let stored: Uint8Array = new Uint8Array(0);
  const received: ReceivedPdu[] = [];

  beforeAll(async () => {
    peer = await startTestPeer({
      transports: ['ws', 'wss'],
      tls: { psk, cert: { cert: pki('server.pem'), key: pki('server-key.pem') } },
      resources: [
        { path: '/hello', contentFormat: 0, get: 'world' },
        { path: '/counter', observable: true, contentFormat: 0, get: () => String(counter++) },
        { path: '/big', contentFormat: 42, get: () => body(20_000) },
        {
          path: '/store',
          get: () => stored,
          put: (request) => {
            stored = request.payload.slice();
            return { code: ResponseCode.Changed };
          },
        },
      ],
    });
    peer.on('message', (pdu) => received.push(pdu));
  });

  afterAll(async () => {
    await peer?.close();
  });

  beforeEach(() => {
    context = new CoapContext();
    received.length = 0;
    peer.setStreamFault(null);
  });

  afterEach(async () => {
    await context.free();
  });

  const ws = (): ClientSession => context.newClientSession(peer.uri('/', 'ws').replace(/\/$/, ''));
  const get = (session: ClientSession, path: string) => lastValueFrom(session.get(path).pipe(timeout(LIMIT)));

  it('GETs over coap+ws://: a ws session, CSMs exchanged first, never an empty message', async () => {
    const session = ws();
    expect(session.proto).toBe('ws');
    const response = await get(session, '/hello');
    expect(response.codeText).toBe('2.05');
    expect(response.text()).toBe('world');
    expect(received[0]).toMatchObject({ code: SignalCode.CSM, transport: 'ws' });
    // libcoap 4.3.4 drops WebSocket messages of 2 bytes or less: a CSM with Max-Message-Size, a token on a GET.
    expect(received.every((pdu) => pdu.size > 2)).toBe(true);
  });

  it('GETs over coaps+ws:// with certificates (the CA of the peer) and with a PSK', async () => {
    const wss = peer.uri('/', 'wss').replace(/\/$/, '');
    const pkiSession = context.newClientSessionPki({ server: wss, pki: { pkiKey: { caFile: pki('ca.pem') } } });
    expect(pkiSession.proto).toBe('wss');
    expect((await get(pkiSession, '/hello')).text()).toBe('world');
    const pskSession = context.newClientSessionPsk({ server: wss, psk });
    expect((await get(pskSession, '/hello')).text()).toBe('world');
    expect(received.filter((pdu) => pdu.code === SignalCode.CSM).map((pdu) => pdu.transport)).toEqual(['wss', 'wss']);
  });

  it('fails coaps+ws:// against an untrusted CA with CoapTlsError untrusted', async () => {
    const session = context.newClientSessionPki({ server: peer.uri('/', 'wss').replace(/\/$/, ''), pki: { pkiKey: { caFile: pki('other-ca.pem') } } });
    await expect(get(session, '/hello')).rejects.toMatchObject({ code: 'COAP_ERR_TLS', reason: 'untrusted' });
  });

  it('observes, then deregisters with a GET carrying Observe: 1', async () => {
    const session = ws();
    const notifications = session.observe('/counter').pipe(take(3), toArray(), timeout(LIMIT));
    const values = lastValueFrom(notifications);
    for (let i = 0; i < 20 && peer.observerCount('/counter') === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    peer.notify('/counter');
    peer.notify('/counter');
    const seen = await values;
    expect(seen.map((n) => n.codeText)).toEqual(['2.05', '2.05', '2.05']);
    for (let i = 0; i < 50 && peer.observerCount('/counter') > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peer.observerCount('/counter')).toBe(0);
  });

  it("downloads and uploads 20 KB block-wise in messages within the peer's Max-Message-Size (1152)", async () => {
    const session = ws();
    const download = await lastValueFrom(session.get('/big').pipe(timeout(LIMIT)));
    expect(Buffer.compare(Buffer.from(download.payload), Buffer.from(body(20_000)))).toBe(0);
    const upload = body(20_000).reverse();
    const put = await lastValueFrom(session.put('/store', { payload: upload }).pipe(timeout(LIMIT)));
    expect(put.codeText).toBe('2.04');
    expect(Buffer.compare(Buffer.from(stored), Buffer.from(upload))).toBe(0);
    expect(Math.max(...received.map((pdu) => pdu.size))).toBeLessThanOrEqual(1152);
  });

  it('aborts a message larger than its own Max-Message-Size (oversize fault) and fails with a decode error', async () => {
    const session = ws();
    await get(session, '/hello');
    peer.setStreamFault({ transports: ['ws'], path: '/hello', oversize: true });
    await expect(get(session, '/hello')).rejects.toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'MESSAGE_TOO_LARGE' });
    for (let i = 0; i < 20 && !received.some((pdu) => pdu.code === SignalCode.Abort); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received.find((pdu) => pdu.code === SignalCode.Abort)).toBeDefined();
  });

  it('fails at once when the server closes the WebSocket, and reconnects for the next request', async () => {
    const session = ws();
    await get(session, '/hello');
    peer.setFault({ path: '/never', drop: 1 });
    const pending = lastValueFrom(session.get('/never').pipe(timeout(LIMIT)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    peer.connections.find((connection) => connection.transport === 'ws' && !connection.closed)?.close();
    await expect(pending).rejects.toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'closed-by-peer' });
    peer.setFault(null);
    expect((await get(session, '/hello')).text()).toBe('world');
  });

  it('fails with reason aborted and the diagnostic on Abort, and released on Release', async () => {
    const session = ws();
    peer.setStreamFault({ transports: ['ws'], path: '/hello', abort: { diagnostic: 'go away' }, times: 1 });
    await expect(get(session, '/hello')).rejects.toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'aborted', diagnostic: 'go away' });
    const second = ws();
    peer.setStreamFault({ transports: ['ws'], path: '/hello', release: { holdOff: 3 }, times: 1 });
    await expect(get(second, '/hello')).rejects.toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'released', holdOff: 3 });
  });
});
