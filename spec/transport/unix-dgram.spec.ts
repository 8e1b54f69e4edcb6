/**
 * The Unix-domain transports against the test peer (issue 20): `coap://%2F...` over the `unix-dgram` transport
 * and `coap+tcp://%2F...` over the TCP transport on a socket path; local paths (generated, given, in use, stale,
 * not a socket), their removal on release and at a normal process exit; strangers' datagrams dropped; the
 * addressing rules; and the error when `unix-dgram` is missing.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapArgumentError, CoapContext, CoapTransportError, type SessionEvent } from '../../src/node';
import { startTestPeer, type TestPeer } from '../../src/testing';
import { datagramPingContract, streamPingContract } from '../../src/testing/transport-contract';
import { tcpTransport } from '../../src/transport/tcp';
import { setUnixDgramLoader, unixDgramModule, unixDgramTransport } from '../../src/transport/unix-dgram';
import { LIBCOAP_UNIX_PATH_MAX, defaultLocalPath } from '../../src/transport/unix-path';
import { UnixDatagramPeer, describeUnixDgram } from '../helpers/unix-dgram-socket';
import { describeTransportContract } from './transport-contract';

jest.setTimeout(20_000);

const localOf = (events: SessionEvent[]): string => {
  const connected = events.find((event) => event.type === 'connected');
  if (connected?.type !== 'connected' || !('path' in connected.local)) throw new Error('no connected event with a local path');
  return connected.local.path;
};

describeUnixDgram('Unix-domain transports with the test peer', () => {
  let peer: TestPeer;
  let ctx: CoapContext;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/rxu');
    let count = 0;
    peer = await startTestPeer({
      transports: ['unix-dgram', 'unix-stream'],
      resources: [
        { path: '/hello', get: 'world' },
        { path: '/count', observable: true, notifyEvery: 30, get: () => String(count++) },
        { path: '/big', get: new Uint8Array(5000).fill(7) },
      ],
    });
  });

  afterAll(async () => {
    await peer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    ctx = new CoapContext();
  });

  afterEach(async () => {
    await ctx.free();
  });

  it('serves coap://%2F... (datagram) and coap+tcp://%2F... (stream) and says where it listens', () => {
    expect(peer.paths['unix-dgram']).toMatch(/^\/tmp\/rxc/);
    expect(peer.uri('/hello', 'unix-dgram')).toBe(`coap://${encodeURIComponent(peer.paths['unix-dgram']!)}/hello`);
    expect(peer.uri('/hello', 'unix-stream')).toBe(`coap+tcp://${encodeURIComponent(peer.paths['unix-stream']!)}/hello`);
    expect(statSync(peer.paths['unix-dgram']!).isSocket()).toBe(true);
  });

  it('GETs over a Unix datagram socket from a generated short local path, removed on release', async () => {
    const session = ctx.newClientSession(peer.uri('', 'unix-dgram').replace(/\/$/, ''));
    const events: SessionEvent[] = [];
    session.events$.subscribe((event) => events.push(event));
    const response = await lastValueFrom(session.get('/hello').pipe(timeout(5000)));
    expect(response.text()).toBe('world');
    expect(response.remote).toEqual({ path: peer.paths['unix-dgram'] });
    const local = localOf(events);
    expect(Buffer.byteLength(local)).toBeLessThanOrEqual(LIBCOAP_UNIX_PATH_MAX);
    expect(peer.received.at(-1)).toMatchObject({ transport: 'unix-dgram', source: { path: local } });
    expect(existsSync(local)).toBe(true);
    session.release();
    expect(existsSync(local)).toBe(false);
  });

  it('GETs over a Unix stream socket with server: { path } and proto tcp', async () => {
    const session = ctx.newClientSession({ server: { path: peer.paths['unix-stream']! }, proto: 'tcp' });
    const response = await lastValueFrom(session.get('/hello').pipe(timeout(5000)));
    expect(response.text()).toBe('world');
    expect(peer.received.at(-1)).toMatchObject({ transport: 'unix-stream' });
  });

  it.each(['unix-dgram', 'unix-stream'] as const)('observes and deregisters, and downloads block-wise, over %s', async (transport) => {
    const session = ctx.newClientSession(peer.uri('', transport).replace(/\/$/, ''));
    const notifications = await lastValueFrom(session.observe('/count').pipe(take(3), toArray(), timeout(5000)));
    expect(notifications.map((n) => n.codeText)).toEqual(['2.05', '2.05', '2.05']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.observerCount('/count')).toBe(0);
    const big = await lastValueFrom(session.get('/big').pipe(timeout(5000)));
    expect(big.payload).toEqual(new Uint8Array(5000).fill(7));
    expect(peer.received.filter((pdu) => pdu.transport === transport).length).toBeGreaterThan(5);
  });

  it('gives every session its own generated path', () => {
    const paths = new Set(Array.from({ length: 100 }, () => defaultLocalPath()));
    expect(paths.size).toBe(100);
    for (const each of paths) expect(Buffer.byteLength(each)).toBeLessThanOrEqual(LIBCOAP_UNIX_PATH_MAX);
  });

  it('reclaims a stale socket file at localIf.path (nobody bound to it)', async () => {
    const stale = path.join(dir, 'stale');
    // A socket closed without removing its file, as after a crash.
    const module = unixDgramModule();
    const socket = module.createSocket('unix_dgram');
    socket.bind(stale);
    socket.close();
    expect(statSync(stale).isSocket()).toBe(true);
    const session = ctx.newClientSession({ server: { path: peer.paths['unix-dgram']! }, localIf: { path: stale } });
    expect((await lastValueFrom(session.get('/hello').pipe(timeout(5000)))).text()).toBe('world');
    session.release();
    expect(existsSync(stale)).toBe(false);
  });

  it('refuses a localIf.path in use, and one that is no socket, leaving both alone', async () => {
    const busy = path.join(dir, 'busy');
    const other = await UnixDatagramPeer.bind(busy);
    const file = path.join(dir, 'file');
    closeSync(openSync(file, 'w'));
    try {
      for (const taken of [busy, file]) {
        const session = ctx.newClientSession({ server: { path: peer.paths['unix-dgram']! }, localIf: { path: taken } });
        const error = await lastValueFrom(session.get('/hello')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CoapTransportError);
        expect(error).toMatchObject({ reason: 'path-in-use', peer: { path: taken } });
        expect(existsSync(taken)).toBe(true);
      }
      expect(statSync(file).isFile()).toBe(true);
      expect(await other.echoFrom(path.join(dir, 'probe'))).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('refuses to serve a path in use too (the test peer claims its paths the same way)', async () => {
    const error = await startTestPeer({ transports: ['unix-dgram'], unixPath: peer.paths['unix-dgram'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'path-in-use' });
    const streamError = await startTestPeer({ transports: ['unix-stream'], unixStreamPath: peer.paths['unix-stream'] }).catch((e: unknown) => e);
    expect(streamError).toMatchObject({ reason: 'path-in-use' });
    // Still serving.
    const session = ctx.newClientSession({ server: { path: peer.paths['unix-dgram']! } });
    expect((await lastValueFrom(session.get('/hello').pipe(timeout(5000)))).text()).toBe('world');
  });

  it('drops datagrams to our path from anyone but the server', async () => {
    const session = ctx.newClientSession({ server: { path: peer.paths['unix-dgram']! } });
    const events: SessionEvent[] = [];
    session.events$.subscribe((event) => events.push(event));
    await lastValueFrom(session.get('/hello').pipe(timeout(5000)));
    const stranger = await UnixDatagramPeer.bind(path.join(dir, 'stranger'));
    try {
      // A NON 2.05 with an unknown token: had it been taken, the message layer would reject it (an event).
      await stranger.sendTo(localOf(events), Uint8Array.of(0x51, 0x45, 0x12, 0x34, 0xee));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(events.filter((event) => event.type === 'rejected' || event.type === 'bad-packet')).toEqual([]);
    } finally {
      await stranger.close();
    }
  });

  it('fails fast with reason refused when nothing is bound to the server path', async () => {
    const session = ctx.newClientSession({ server: { path: path.join(dir, 'nobody') } });
    const started = Date.now();
    const error = await lastValueFrom(session.get('/hello')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'refused', syscallCode: 'ENOENT' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('fails fast with reason refused when the server goes away mid-session, and works again once it is back', async () => {
    const own = await startTestPeer({ transports: ['unix-dgram'], unixPath: path.join(dir, 'gone'), resources: [{ path: '/hello', get: 'world' }] });
    const session = ctx.newClientSession({ server: { path: path.join(dir, 'gone') } });
    expect((await lastValueFrom(session.get('/hello').pipe(timeout(5000)))).text()).toBe('world');
    await own.close();
    const started = Date.now();
    const error = await lastValueFrom(session.get('/hello')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'refused' });
    expect(Date.now() - started).toBeLessThan(1500);
    const back = await startTestPeer({ transports: ['unix-dgram'], unixPath: path.join(dir, 'gone'), resources: [{ path: '/hello', get: 'again' }] });
    try {
      expect((await lastValueFrom(session.get('/hello').pipe(timeout(5000)))).text()).toBe('again');
    } finally {
      await back.close();
    }
  });

  it('removes the local path at a normal process exit', async () => {
    const script = `
      const { CoapContext } = require('./src/node');
      const { lastValueFrom } = require('rxjs');
      const ctx = new CoapContext();
      const session = ctx.newClientSession({ server: { path: ${JSON.stringify(peer.paths['unix-dgram'])} } });
      session.events$.subscribe((e) => { if (e.type === 'connected') require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'local.txt'))}, e.local.path); });
      lastValueFrom(session.get('/hello')).then((r) => { console.log(r.text()); process.exit(0); });
    `;
    // Asynchronously: the test peer answering the child runs in this process.
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: path.resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('error', reject);
      child.once('close', () => {
        clearTimeout(killer);
        resolve(output);
      });
    });
    expect(stdout.trim()).toBe('world');
    const local = readFileSync(path.join(dir, 'local.txt'), 'utf8');
    expect(local).toMatch(/^\/tmp\/rxc/);
    expect(existsSync(local)).toBe(false);
  });

  it("takes a full queue at the server (unix-dgram's send error EAGAIN) as a lost datagram: the CON is retransmitted", async () => {
    const real = unixDgramModule();
    let refused = 0;
    setUnixDgramLoader(() => ({
      createSocket(type: 'unix_dgram') {
        const socket = real.createSocket(type);
        const send = socket.send.bind(socket);
        socket.send = (buffer: Buffer, offset: number, length: number, target: string): void => {
          if (refused++ === 0) {
            // What unix-dgram's sendto does when the receiver's queue (net.unix.max_dgram_qlen) is full.
            (socket as unknown as { emit(event: string, error: Error): void }).emit('error', Object.assign(new Error('send -11'), { errno: -11, code: -11, syscall: 'send' }));
            return;
          }
          send(buffer, offset, length, target);
        };
        return socket;
      },
    }));
    try {
      const session = ctx.newClientSession({ server: peer.uri('', 'unix-dgram').replace(/\/$/, ''), transmission: { ackTimeout: 100 } });
      const events: SessionEvent[] = [];
      session.events$.subscribe((event) => events.push(event));
      const response = await lastValueFrom(session.get('/hello').pipe(timeout(5000)));
      expect(response.text()).toBe('world');
      expect(refused).toBeGreaterThanOrEqual(2);
      expect(events.some((event) => event.type === 'retransmitted')).toBe(true);
      expect(events.some((event) => event.type === 'failed')).toBe(false);
    } finally {
      setUnixDgramLoader(undefined);
    }
  });
});

describe('Unix-domain addressing', () => {
  let ctx: CoapContext;
  beforeEach(() => {
    ctx = new CoapContext();
  });
  afterEach(async () => {
    await ctx.free();
  });

  it.each([
    [{ server: 'coaps://%2Ftmp%2Fs' }, 'server', /coap:\/\/ \(datagram\) and coap\+tcp:\/\//],
    [{ server: { path: '/tmp/s' }, localIf: '127.0.0.1:5000' }, 'localIf', /give localIf as \{ path \}/],
    [{ server: 'coap://127.0.0.1', localIf: { path: '/tmp/c' } }, 'localIf.path', /for Unix-domain servers/],
    [{ server: 'coap+tcp://%2Ftmp%2Ft', localIf: { path: '/tmp/c' } }, 'localIf.path', /unnamed/],
    [{ server: { path: 'relative.sock' } }, 'server.path', /absolute/],
    [{ server: { path: '/tmp/s' }, localIf: { path: 'x' } }, 'localIf.path', /absolute/],
    [{ server: { path: '/tmp/s' }, localIf: { path: '/tmp/s' } }, 'localIf.path', /differ/],
    [{ server: { path: `/tmp/${'x'.repeat(120)}` } }, 'path', /107/],
  ])('refuses %j (field %s)', (options, field, message) => {
    let error: unknown;
    try {
      ctx.newClientSession(options as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CoapArgumentError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toMatch(message);
  });

  it('says how to get unix-dgram when it is missing, at session creation; stream sockets need nothing', () => {
    setUnixDgramLoader(() => {
      throw Object.assign(new Error("Cannot find module 'unix-dgram'"), { code: 'MODULE_NOT_FOUND' });
    });
    try {
      expect(() => ctx.newClientSession('coap://%2Ftmp%2Fs')).toThrow(CoapArgumentError);
      expect(() => ctx.newClientSession('coap://%2Ftmp%2Fs')).toThrow(/optional package 'unix-dgram'.*npm install unix-dgram/);
      expect(() => ctx.newClientSession('coap+tcp://%2Ftmp%2Ft')).not.toThrow();
    } finally {
      setUnixDgramLoader(undefined);
    }
  });
});

// The transport contract every transport runs, on both Unix-domain sockets.
let contractPeer: TestPeer | undefined;
describeUnixDgram('unix-dgram transport contract', () => {
  describeTransportContract(
    'unix-dgram (test peer)',
    async () => {
      contractPeer = await startTestPeer({ transports: ['unix-dgram'] });
      return { ...datagramPingContract, factory: unixDgramTransport({ path: contractPeer.paths['unix-dgram']! }) };
    },
    async () => {
      await contractPeer?.close();
    },
  );
});

describeTransportContract(
  'tcp on a Unix stream socket (test peer)',
  async () => {
    contractPeer = await startTestPeer({ transports: ['unix-stream'] });
    return { ...streamPingContract, factory: tcpTransport({ path: contractPeer.paths['unix-stream']! }) };
  },
  async () => {
    await contractPeer?.close();
  },
);
