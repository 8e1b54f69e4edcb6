/**
 * CoAP over Unix-domain sockets against libcoap 4.3.4's `coap-server-notls` (issue 20):
 * - datagram: `-U coap -A dir/s`, served to `coap://%2F...%2Fs` (the `unix-dgram` transport);
 * - stream: `-U coap+tcp -A dir/t`, served to `coap+tcp://%2F...%2Ft` (the TCP transport on a socket path).
 *
 * libcoap 4.3.1 (Debian bookworm's, on PATH) has no Unix-domain sockets at all (no `-U`), so these suites run
 * against 4.3.4 only. libcoap keeps Unix paths to 25 bytes: the server sockets sit in a short `/tmp/rxu…`
 * directory, and the client's default local path is short too (`/tmp/rxc…`), which the cases check.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapContext, CoapTransportError, type ClientSession, type SessionEvent } from '../../src/node';
import { LIBCOAP_UNIX_PATH_MAX } from '../../src/transport/unix-path';
import { describeInterop, libcoapServerCommand, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { REQUEST_LIMIT, reliableSessionCases } from '../helpers/reliable-interop';
import { UnixDatagramPeer, describeUnixDgram } from '../helpers/unix-dgram-socket';

jest.setTimeout(30_000);

const SERVER_ARGS = ['-d', '10', '-v', '7'];
const OUTPUT_LIMIT = 8_000_000;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh short directory for the server sockets (libcoap's 25-byte limit). */
function socketDir(): string {
  return mkdtempSync('/tmp/rxu');
}

/** The session's local path, from its 'connected' event. */
function localPathOf(events: SessionEvent[]): string | undefined {
  const connected = events.find((event) => event.type === 'connected');
  return connected !== undefined && connected.type === 'connected' && 'path' in connected.local ? connected.local.path : undefined;
}

describeUnixDgram('Unix datagram sockets (unix-dgram)', () => describeInterop('coap:// over a Unix datagram socket with coap-server-notls 4.3.4', { flavors: 'notls', version: '4.3.4' }, () => {
  let dir: string;
  let server: LibcoapServer;
  let context: CoapContext;
  let session: ClientSession;
  let uri: string;
  const events: SessionEvent[] = [];

  beforeAll(async () => {
    dir = socketDir();
    server = await startLibcoapServer({ flavor: 'notls', version: '4.3.4', args: ['-U', 'coap', ...SERVER_ARGS], unixPath: `${dir}/s`, outputLimit: OUTPUT_LIMIT });
    uri = `coap://${encodeURIComponent(`${dir}/s`)}`;
    context = new CoapContext();
    session = context.newClientSession(uri);
    session.events$.subscribe((event) => events.push(event));
  });

  afterAll(async () => {
    await context?.free();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string): Promise<import('../../src/node').CoapResponse> => lastValueFrom(session.get(path).pipe(timeout(REQUEST_LIMIT)));

  it('GETs / with the default local path, which is a short one libcoap answers', async () => {
    const response = await get('/');
    expect(response.codeText).toBe('2.05');
    expect(response.text()).toContain('This is a test server made with libcoap');
    expect(response.remote).toEqual({ path: `${dir}/s` });
    const local = localPathOf(events);
    expect(local).toMatch(/^\/tmp\/rxc/);
    expect(Buffer.byteLength(local!)).toBeLessThanOrEqual(LIBCOAP_UNIX_PATH_MAX);
    expect(statSync(local!).isSocket()).toBe(true);
    // The server saw that path as the client (it logs each session as 'server' <-> 'client').
    expect(server.output()).toContain(`'${local}'`);
  });

  it('PUTs a dynamic resource (-d) and GETs it back', async () => {
    const value = `over unix-dgram ${Date.now()}`;
    const put = await lastValueFrom(session.put('/dyn-unix', { payload: value }).pipe(timeout(REQUEST_LIMIT)));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const back = await get('/dyn-unix');
    expect(back.text()).toBe(value);
  });

  it('observes /time, then deregisters: the server logs "removed subscription" for the token', async () => {
    const from = server.output().length;
    const notifications = await lastValueFrom(session.observe('/time').pipe(take(2), toArray(), timeout(REQUEST_LIMIT)));
    expect(notifications.map((n) => n.codeText)).toEqual(['2.05', '2.05']);
    expect(notifications[1].observe!).toBeGreaterThan(notifications[0].observe!);
    const token = hex(notifications[0].token);
    const removed = await server.waitForOutput(new RegExp(`removed subscription \\S+ with token '${token}'`), { from, timeout: 5_000 });
    const removedAt = from + server.output().slice(from).indexOf(removed[0]);
    await delay(1_500); // /time changes every second
    expect(server.output().slice(removedAt)).not.toMatch(new RegExp(`c:2\\.05 i:[0-9a-f]{4} \\{${token}\\} \\[ Observe:`));
  });

  it('PUTs 20 KB block-wise (Block1) and GETs the same bytes back (Block2)', async () => {
    const body = new Uint8Array(randomBytes(20 * 1024));
    const from = server.output().length;
    const put = await lastValueFrom(session.put('/big-unix', { payload: body, contentFormat: 'application/octet-stream' }).pipe(timeout(REQUEST_LIMIT * 3)));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const back = await lastValueFrom(session.get('/big-unix').pipe(timeout(REQUEST_LIMIT * 3)));
    expect(Buffer.compare(Buffer.from(back.payload), Buffer.from(body))).toBe(0);
    // The server's log arrives through a pipe: its last lines may come after our last response, so wait for them.
    const count = (pattern: RegExp): number => [...server.output().slice(from).matchAll(pattern)].length;
    const block1 = /c:PUT i:[0-9a-f]{4} \{[0-9a-f]*\} \[[^\]]*Block1:\d+\/[M_]\//g;
    const block2 = /c:2\.05 i:[0-9a-f]{4} \{[0-9a-f]*\} \[[^\]]*Block2:\d+\/[M_]\//g;
    for (let waited = 0; waited < 2_000 && (count(block1) < 20 || count(block2) < 20); waited += 50) await delay(50);
    expect(count(block1)).toBeGreaterThanOrEqual(20);
    expect(count(block2)).toBeGreaterThanOrEqual(20);
  });

  it('removes the default local path when the session is released', async () => {
    const own = new CoapContext();
    const released = own.newClientSession(uri);
    const seen: SessionEvent[] = [];
    released.events$.subscribe((event) => seen.push(event));
    expect((await lastValueFrom(released.get('/time').pipe(timeout(REQUEST_LIMIT)))).codeText).toBe('2.05');
    const local = localPathOf(seen)!;
    expect(existsSync(local)).toBe(true);
    released.release();
    expect(existsSync(local)).toBe(false);
    await own.free();
  });

  it('takes localIf { path } as libcoap does, and removes it on release', async () => {
    const own = new CoapContext();
    const path = `${dir}/c1`;
    const mine = own.newClientSession({ server: uri, localIf: { path } });
    expect((await lastValueFrom(mine.get('/time').pipe(timeout(REQUEST_LIMIT)))).codeText).toBe('2.05');
    expect(server.output()).toContain(`'${path}'`);
    mine.release();
    expect(existsSync(path)).toBe(false);
    await own.free();
  });

  it('refuses a local path in use by another socket, and leaves that socket working', async () => {
    const path = `${dir}/busy`;
    const other = await UnixDatagramPeer.bind(path);
    try {
      const own = new CoapContext();
      const refused = own.newClientSession({ server: uri, localIf: { path } });
      const error = await lastValueFrom(refused.get('/time')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CoapTransportError);
      expect(error).toMatchObject({ reason: 'path-in-use', peer: { path } });
      expect((error as Error).message).toContain('in use');
      await own.free();
      // Not stolen: the other socket still has its path and gets what is sent to it.
      expect(statSync(path).isSocket()).toBe(true);
      expect(await other.echoFrom(`${dir}/probe`)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('warns when a user local path is longer than libcoap keeps (25 bytes): libcoap does not answer it', async () => {
    const own = new CoapContext();
    const path = `${dir}/a-path-too-long-for-libcoap`;
    const mine = own.newClientSession({ server: uri, localIf: { path }, transmission: { maxRetransmit: 0, ackTimeout: 500 } });
    const seen: SessionEvent[] = [];
    mine.events$.subscribe((event) => seen.push(event));
    const outcome = await lastValueFrom(mine.get('/time').pipe(timeout(5_000))).catch((e: unknown) => e);
    const warning = seen.find((event) => event.type === 'warning');
    expect(warning).toMatchObject({ type: 'warning', message: expect.stringContaining('25 bytes') });
    // libcoap 4.3.4 truncates the source path and so answers nobody: no 2.05 comes back.
    expect(outcome).toMatchObject({ code: 'COAP_ERR_TIMEOUT' });
    await own.free();
    expect(existsSync(path)).toBe(false);
  });
}));

describeInterop('coap+tcp:// over a Unix stream socket with coap-server-notls 4.3.4', { flavors: 'notls', version: '4.3.4' }, () => {
  let dir: string;
  let server: LibcoapServer;
  let context: CoapContext;
  let session: ClientSession | undefined;
  let uri: string;

  beforeAll(async () => {
    dir = socketDir();
    server = await startLibcoapServer({ flavor: 'notls', version: '4.3.4', args: ['-U', 'coap+tcp', ...SERVER_ARGS], unixPath: `${dir}/t`, outputLimit: OUTPUT_LIMIT });
    uri = `coap+tcp://${encodeURIComponent(`${dir}/t`)}`;
    context = new CoapContext();
  });

  afterAll(async () => {
    await context?.free();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  // GET, PUT, observe with deregistration, 100 KiB block-wise both ways, ping, 32 outstanding: as over TCP.
  reliableSessionCases({ label: 'unix-stream', server: () => server, session: () => (session ??= context.newClientSession(uri)) });

  it('connects with server: { path } too, as a tcp session with an unnamed local side', async () => {
    const own = new CoapContext();
    const mine = own.newClientSession({ server: { path: `${dir}/t` }, proto: 'tcp' });
    const seen: SessionEvent[] = [];
    mine.events$.subscribe((event) => seen.push(event));
    const response = await lastValueFrom(mine.get('/time').pipe(timeout(REQUEST_LIMIT)));
    expect(response.codeText).toBe('2.05');
    expect(mine.proto).toBe('tcp');
    expect(seen.find((event) => event.type === 'connected')).toMatchObject({ local: { path: '' }, remote: { path: `${dir}/t` } });
    mine.release();
    await own.free();
  });

  it('fails with reason refused when nothing listens on the path', async () => {
    const own = new CoapContext();
    const error = await lastValueFrom(own.newClientSession(`coap+tcp://${encodeURIComponent(`${dir}/none`)}`).get('/')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'refused', syscallCode: 'ENOENT' });
    await own.free();
  });
});

describeInterop('libcoap 4.3.1 and Unix-domain sockets', { flavors: 'notls', version: '4.3.1' }, () => {
  it('has none: its coap-server has no -U option, so the Unix suites run against 4.3.4 only', () => {
    const command = libcoapServerCommand('notls', '4.3.1')!;
    const help = spawnSync(command.command, [...command.prefixArgs, '-h'], { encoding: 'utf8' });
    const usage = `${help.stdout}${help.stderr}`;
    expect(usage).toMatch(/Usage: coap-server/);
    expect(usage).not.toMatch(/-U type/);
  });
});
