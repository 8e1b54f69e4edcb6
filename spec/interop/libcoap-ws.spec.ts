/**
 * CoAP over WebSockets (RFC 8323 §4, `coap+ws://` and `coaps+ws://`) against libcoap 4.3.4's
 * `coap-server-openssl -w PORT,PORT+1 -X 1152` (Debian trixie's build, the private install of
 * scripts/install-libcoap-4.3.4.sh). libcoap 4.3.1 (Debian bookworm's, on PATH) has no WebSockets at all: its
 * usage text lists no `-w`, which the last suite checks, so there is nothing to run against it.
 *
 * Cases: GET, PUT then GET, 4.04, Observe with deregistration (seen in the server's `-v 7` log), 20 KB block-wise
 * both ways after which the server still answers, coaps+ws with certificates (spec/fixtures/pki) and with a PSK,
 * an untrusted CA refused, and a server SIGKILLed mid-observation and mid-request (the shared loss cases).
 *
 * What libcoap 4.3.4's WebSocket server does, each seen here with a raw `ws` client:
 * - it drops WebSocket messages of 2 bytes or less: an empty CSM (`00 e1`) or a tokenless Ping never arrives, so
 *   it never answers; rxcoap's CSM always carries Max-Message-Size and its Pings a token;
 * - it aborts the connection on a frame over 1472 bytes while advertising 8 MB by default: `-X 1152` makes its
 *   CSM say 1152, which the client honours (every message fits, block-wise above that);
 * - it answers 400 to any HTTP header line of 80 characters or more (rxcoap's upgrade request has short lines);
 * - it writes a message's header and payload in two writes without TCP_NODELAY, so every lockstep exchange
 *   waits for a delayed ACK (about 22 round trips a second for any client): the cases stay small.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapContext, type ClientSession } from '../../src/node';
import { describeInterop, findFreePortPair, libcoapServerCommand, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { LOSS_DEADLINE, REQUEST_LIMIT, connectionLossCases, failureOf } from '../helpers/reliable-interop';

jest.setTimeout(30_000);

const PKI = join(__dirname, '..', 'fixtures', 'pki');
const pkiFile = (name: string): string => join(PKI, name);
const KEY = 'wsSecretPSK';
const IDENTITY = 'rxcoap-ws';
const OUTPUT_LIMIT = 4_000_000;

/** A running server and its WebSocket ports. */
interface WsServer {
  readonly server: LibcoapServer;
  readonly wsPort: number;
  readonly wssPort: number;
}

/**
 * Starts `coap-server-openssl` 4.3.4 with `-w P,P+1 -X 1152 -d 10 -v 7` and whatever `args` add, and waits for its
 * WebSocket endpoints (the helper's readiness check is a UDP ping; WS ports are picked here and checked in the log).
 */
async function startWsServer(args: readonly string[] = []): Promise<WsServer> {
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const wsPort = await findFreePortPair();
    const server = await startLibcoapServer({
      flavor: 'openssl',
      version: '4.3.4',
      args: ['-w', `${wsPort},${wsPort + 1}`, '-X', '1152', '-d', '10', '-v', '7', ...args],
      outputLimit: OUTPUT_LIMIT,
    });
    try {
      await server.waitForOutput(new RegExp(`created WS +endpoint \\S+:${wsPort}`), { timeout: 3000 });
      // Without credentials (-k, -c) it opens no WSS endpoint.
      if (args.includes('-k') || args.includes('-c')) await server.waitForOutput(new RegExp(`created WSS +endpoint \\S+:${wsPort + 1}`), { timeout: 1000 });
      return { server, wsPort, wssPort: wsPort + 1 };
    } catch (error) {
      lastError = error;
      await server.stop();
    }
  }
  throw lastError;
}

const get = (session: ClientSession, path: string, query?: string) =>
  lastValueFrom(session.get(path, query === undefined ? undefined : { query }).pipe(timeout(REQUEST_LIMIT)));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const body = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + 7) % 251);
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeInterop('coap+ws:// against coap-server-openssl 4.3.4 -w -X 1152', { flavors: 'openssl', version: '4.3.4' }, () => {
  let ws: WsServer;
  let context: CoapContext;
  let session: ClientSession;

  beforeAll(async () => {
    ws = await startWsServer();
    context = new CoapContext();
    session = context.newClientSession(`coap+ws://127.0.0.1:${ws.wsPort}`);
  });

  afterAll(async () => {
    await context?.free();
    await ws?.server.stop();
  });

  it("GETs / (libcoap's banner) and /time over a ws session", async () => {
    expect(session.proto).toBe('ws');
    const banner = await get(session, '/');
    expect(banner.codeText).toBe('2.05');
    expect(banner.text()).toContain('This is a test server made with libcoap');
    expect((await get(session, '/time')).text()).toMatch(/\d\d:\d\d:\d\d/);
    // It holds responses until our CSM: it got one (with Max-Message-Size, not 2 bytes), and says 1152 in its own.
    expect(ws.server.output()).toMatch(/c:CSM \{\} \[ Max-Message-Size:1152/);
  });

  it('PUTs a dynamic resource (-d) and GETs it back', async () => {
    const value = `over coap+ws ${Date.now()}`;
    const put = await lastValueFrom(session.put('/ws-dyn', { payload: value }).pipe(timeout(REQUEST_LIMIT)));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    expect((await get(session, '/ws-dyn')).text()).toBe(value);
  });

  it('answers 4.04 for a resource that does not exist', async () => {
    const response = await get(session, '/no/such/resource');
    expect(response.codeText).toBe('4.04');
  });

  it('observes /time, then deregisters: the server logs "removed subscription" for the token', async () => {
    const from = ws.server.output().length;
    const notifications = await lastValueFrom(session.observe('/time').pipe(take(2), toArray(), timeout(REQUEST_LIMIT)));
    expect(notifications.map((n) => n.codeText)).toEqual(['2.05', '2.05']);
    expect(notifications[1].observe!).toBeGreaterThan(notifications[0].observe!);
    const token = hex(notifications[0].token);
    const removed = await ws.server.waitForOutput(new RegExp(`removed subscription \\S+ with token '${token}'`), { from, timeout: LOSS_DEADLINE });
    const removedAt = from + ws.server.output().slice(from).indexOf(removed[0]);
    await delay(1_500); // /time changes every second
    expect(ws.server.output().slice(removedAt)).not.toMatch(new RegExp(`c:2\\.05 \\{${token}\\} \\[ Observe:`));
  });

  it('PUTs 20 KB block-wise and GETs the same bytes back, every message within 1152 bytes; the server lives on', async () => {
    const payload = body(20 * 1024);
    await get(session, '/time'); // connected
    const from = ws.server.output().length;
    const put = await lastValueFrom(session.put('/ws-big', { payload, contentFormat: 'application/octet-stream' }).pipe(timeout(REQUEST_LIMIT * 2)));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    // Asked for 1024-byte blocks: unasked, it sends the 20 KB in one message, which our Max-Message-Size (64 KiB) allows.
    const back = await lastValueFrom(session.get('/ws-big', { block2: { size: 1024 } }).pipe(timeout(REQUEST_LIMIT * 2)));
    expect(Buffer.compare(Buffer.from(back.payload), Buffer.from(payload))).toBe(0);
    const log = ws.server.output().slice(from);
    expect(log).toMatch(/Block1:\d+\/M\//);
    expect(log).toMatch(/Block2:\d+\/M\//);
    // It aborts a connection on a frame over 1472 bytes: none came, it still answers, and it is still running.
    expect((await get(session, '/time')).codeText).toBe('2.05');
    expect(ws.server.process.exitCode).toBeNull();
    expect(log).not.toMatch(/new incoming session/);
  });
});

describeInterop('coaps+ws:// against coap-server-openssl 4.3.4 -w (certificates and PSK)', { flavors: 'openssl', version: '4.3.4' }, () => {
  let wss: WsServer;
  let context: CoapContext;

  beforeAll(async () => {
    // -c/-j: its certificate (CN localhost, SAN 127.0.0.1, by the fixtures' CA); -k: a PSK as well.
    wss = await startWsServer(['-c', pkiFile('server.pem'), '-j', pkiFile('server.key'), '-k', KEY]);
    context = new CoapContext();
  });

  afterAll(async () => {
    await context?.free();
    await wss?.server.stop();
  });

  const uri = (): string => `coaps+ws://127.0.0.1:${wss.wssPort}`;

  it('GETs over coaps+ws:// with its certificate verified against the CA', async () => {
    const session = context.newClientSessionPki({ server: uri(), pki: { pkiKey: { caFile: pkiFile('ca.pem') } } });
    expect(session.proto).toBe('wss');
    const response = await get(session, '/time');
    expect(response.codeText).toBe('2.05');
    session.release();
  });

  it("verifies against the context's roots (setPkiRootCas) when the session names no CA", async () => {
    const rooted = new CoapContext();
    try {
      rooted.setPkiRootCas(pkiFile('ca.pem'));
      expect((await get(rooted.newClientSession(uri()), '/time')).codeText).toBe('2.05');
    } finally {
      await rooted.free();
    }
  });

  it('GETs over coaps+ws:// with a PSK (TLS 1.2)', async () => {
    const session = context.newClientSessionPsk({ server: uri(), psk: { identity: IDENTITY, key: KEY } });
    expect((await get(session, '/time')).codeText).toBe('2.05');
    session.release();
  });

  it('refuses a server whose certificate does not chain to the CA it is given: CoapTlsError untrusted, fast', async () => {
    const session = context.newClientSessionPki({ server: uri(), pki: { pkiKey: { caFile: pkiFile('other-ca.pem') } } });
    const { error, elapsed } = await failureOf(session.get('/time'), LOSS_DEADLINE);
    expect(error).toMatchObject({ name: 'CoapTlsError', code: 'COAP_ERR_TLS', reason: 'untrusted' });
    expect(elapsed).toBeLessThan(LOSS_DEADLINE);
  });

  it('fails a wrong PSK with a CoapTlsError and no key in the message', async () => {
    const session = context.newClientSessionPsk({ server: uri(), psk: { identity: IDENTITY, key: 'not-the-key' } });
    const { error } = await failureOf(session.get('/time'), LOSS_DEADLINE);
    expect(error).toMatchObject({ code: 'COAP_ERR_TLS' });
    expect(String((error as Error).message)).not.toContain('not-the-key');
  });
});

describeInterop('a coap+ws:// server SIGKILLed, coap-server-openssl 4.3.4', { flavors: 'openssl', version: '4.3.4' }, () => {
  let context: CoapContext;
  const ports = new Map<LibcoapServer, number>();
  beforeAll(() => {
    context = new CoapContext();
  });
  afterAll(async () => {
    await context?.free();
  });
  connectionLossCases({
    start: async () => {
      const started = await startWsServer();
      ports.set(started.server, started.wsPort);
      return started.server;
    },
    session: (server) => context.newClientSession(`coap+ws://127.0.0.1:${ports.get(server)}`),
    lossCodes: ['COAP_ERR_TRANSPORT'],
  });
});

describeInterop('libcoap 4.3.1 has no WebSockets', { flavors: 'openssl', version: '4.3.1' }, () => {
  it('lists no -w option in coap-server-openssl 4.3.1 (so coap+ws:// interop runs against 4.3.4 only)', () => {
    const command = libcoapServerCommand('openssl', '4.3.1')!;
    let usage: string;
    try {
      usage = execFileSync(command.command, [...command.prefixArgs, '-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      // it prints the usage and exits non-zero
      const failed = error as { stdout?: string; stderr?: string };
      usage = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
    }
    expect(usage).toContain('Usage: coap-server');
    expect(usage).not.toMatch(/-w \[port\]/);
    const newer = libcoapServerCommand('openssl', '4.3.4');
    if (newer !== undefined) {
      let usage434 = '';
      try {
        usage434 = execFileSync(newer.command, [...newer.prefixArgs, '-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string };
        usage434 = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
      }
      expect(usage434).toMatch(/-w \[port\]\[,secure_port\]/);
    }
  });
});
