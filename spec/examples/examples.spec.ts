/**
 * The runnable examples, built (`npm test` builds first; by hand run `npm run build`), run as a user runs
 * them: the demo on its own, the others against the test peer, and the PSK client against libcoap's
 * coap-server-openssl. `examples/marble-test.spec.ts` runs with jest directly.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentFormat } from '../../src/codec/content-format';
import { cborPayload } from '../../src/codec/payload';
import { startTestPeer, type TestPeer } from '../../src/testing/test-peer';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';
import { describeUnixDgram } from '../helpers/unix-dgram-socket';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'dist', 'examples');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsed: number;
}

/** Runs a built example; `whileRunning` is polled every 100 ms while it runs. */
function runExample(name: string, args: readonly string[], options: { timeout?: number; env?: NodeJS.ProcessEnv; whileRunning?: () => void } = {}): Promise<Run> {
  const script = path.join(EXAMPLES, `${name}.js`);
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const poll = options.whileRunning === undefined ? undefined : setInterval(options.whileRunning, 100);
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 25_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      if (poll !== undefined) clearInterval(poll);
      resolve({ status, stdout, stderr, elapsed: Date.now() - started });
    });
  });
}

describe('npm run demo', () => {
  it('discovers, observes, downloads and verifies the firmware, and exits 0 by itself within 20 s', async () => {
    const result = await runExample('demo', [], { timeout: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.elapsed).toBeLessThan(20_000);
    expect(result.stdout).toMatch(/GET \/\.well-known\/core: 3 resources/);
    expect(result.stdout).toMatch(/\/sensors\/temperature +temperature-c {2}\| {2}observable {2}\| {2}application\/senml\+cbor/);
    expect(result.stdout.match(/^ {2}\d+\.\d\d °C/gm)?.length ?? 0).toBeGreaterThanOrEqual(5);
    expect(result.stdout).toMatch(/307200 bytes in 300 blocks/);
    expect(result.stdout).toMatch(/SHA-256 [0-9a-f]{64} matches the peer's/);
    expect(result.stdout).toMatch(/demo complete/);
  });
});

describe('examples against the test peer', () => {
  let peer: TestPeer;
  let step = 0;
  const server = (): string => peer.uri('/').replace(/\/$/, '');

  beforeAll(async () => {
    peer = await startTestPeer({
      resources: [
        { path: '/hello', contentFormat: ContentFormat.TextPlain, get: 'hello from the test peer' },
        {
          path: '/sensors/temperature',
          contentFormat: ContentFormat.SenmlCbor,
          observable: true,
          notifyEvery: 150,
          get: () => cborPayload([new Map<number, unknown>([[0, 'temperature'], [1, 'Cel'], [2, 20 + (step++ % 10) / 10]])]),
        },
      ],
    });
  });

  afterAll(async () => {
    await peer?.close();
  });

  it('udp-client pings, GETs and prints code, options and body', async () => {
    const result = await runExample('udp-client', [peer.uri('/hello')]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/^ping coap:\/\/127\.0\.0\.1:\d+: \d+\.\d ms$/m);
    expect(result.stdout).toContain('2.05 Content (ACK, 24 bytes)');
    expect(result.stdout).toContain('  Content-Format: text/plain;charset=utf-8');
    expect(result.stdout).toContain('hello from the test peer');
    const missing = await runExample('udp-client', [peer.uri('/missing')]);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain('4.04 Not Found');
  });

  it('observe-to-ndjson writes one JSON line per notification and cancels the observation', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-ndjson-')), 'temperature.ndjson');
    const result = await runExample('observe-to-ndjson', [peer.uri('/sensors/temperature'), file, '1.5']);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    const records = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(result.stdout).toContain(`${records.length} notifications written`);
    expect(records.length).toBeGreaterThanOrEqual(5);
    for (const record of records) {
      expect(record).toMatchObject({ code: '2.05', contentFormat: 'application/senml+cbor', observe: expect.any(Number) });
      expect(record.value[0]).toMatchObject({ '0': 'temperature', '1': 'Cel', '2': expect.any(Number) });
      expect(Date.parse(record.time)).not.toBeNaN();
    }
    for (let i = 1; i < records.length; i++) expect(records[i].observe).toBeGreaterThan(records[i - 1].observe);
    expect(peer.observerCount('/sensors/temperature')).toBe(0);
  });

  it('temperature-service shares one observation between its two subscribers', async () => {
    let most = 0;
    const result = await runExample('temperature-service', [server(), '1.5'], {
      whileRunning: () => (most = Math.max(most, peer.observerCount('/sensors/temperature'))),
    });
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/^header: {4}20\.\d\d °C$/m);
    expect(result.stdout.match(/^dashboard: 20\.\d\d °C \(notification \d+\)$/gm)?.length ?? 0).toBeGreaterThanOrEqual(5);
    expect(most).toBe(1);
    expect(peer.observerCount('/sensors/temperature')).toBe(0);
  });
});

describeInterop('psk-client against libcoap coap-server-openssl -k', 'openssl', () => {
  const key = 'example-psk-key';
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'openssl', args: ['-k', key] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('GETs / over DTLS-PSK with the credentials from the environment', async () => {
    const result = await runExample('psk-client', [`coaps://127.0.0.1:${server.securePort}/`], {
      env: { RXCOAP_PSK_IDENTITY: 'example-client', RXCOAP_PSK_KEY: key },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('2.05 Content');
    expect(result.stdout).toContain('libcoap');
    expect(result.stdout + result.stderr).not.toContain(key);
  });

  it('fails with exit 1 for a wrong key, without printing it', async () => {
    const result = await runExample('psk-client', [`coaps://127.0.0.1:${server.securePort}/`, 'example-client', 'wrong-key-value']);
    expect(result.status).toBe(1);
    expect(result.stdout + result.stderr).not.toContain('wrong-key-value');
  });
});

describeInterop('pki-client and anonymous-dtls-client against libcoap coap-server-openssl with certificates (issue 19)', 'openssl', () => {
  const pki = (name: string): string => path.join(__dirname, '..', 'fixtures', 'pki', name);
  let server: LibcoapServer;
  let mutual: LibcoapServer;

  beforeAll(async () => {
    [server, mutual] = await Promise.all([
      startLibcoapServer({ flavor: 'openssl', args: ['-c', pki('server.pem'), '-j', pki('server.key')] }),
      startLibcoapServer({ flavor: 'openssl', args: ['-c', pki('server.pem'), '-j', pki('server.key'), '-C', pki('ca.pem')] }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([server, mutual].map((s) => s?.stop()));
  });

  it('pki-client GETs /time with the CA, and with its own certificate where the server demands one', async () => {
    const result = await runExample('pki-client', [`coaps://127.0.0.1:${server.securePort}/time`, pki('ca.pem')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/DTLS connected: TLS_ECDHE_ECDSA_WITH_AES_128_/);
    expect(result.stdout).toContain('certificate at depth 0: CN=localhost (verified)');
    expect(result.stdout).toContain('2.05 Content');
    const withCert = await runExample('pki-client', [`coaps://127.0.0.1:${mutual.securePort}/time`, pki('ca.pem'), pki('client.pem'), pki('client.key')]);
    expect(withCert.status).toBe(0);
    const without = await runExample('pki-client', [`coaps://127.0.0.1:${mutual.securePort}/time`, pki('ca.pem')]);
    expect(without.status).toBe(1);
    expect(without.stderr).toContain('CoapDtlsError client-cert-required');
  });

  it('anonymous-dtls-client GETs /time unauthenticated with a warning, and verified with a root CA', async () => {
    const anonymous = await runExample('anonymous-dtls-client', [`coaps://127.0.0.1:${server.securePort}/time`]);
    expect(anonymous.status).toBe(0);
    expect(anonymous.stdout).toContain('warning (unauthenticated)');
    expect(anonymous.stdout).toContain('2.05 Content');
    const verified = await runExample('anonymous-dtls-client', [`coaps://127.0.0.1:${server.securePort}/time`, pki('ca.pem')]);
    expect(verified.status).toBe(0);
    expect(verified.stdout).not.toContain('warning');
    const untrusted = await runExample('anonymous-dtls-client', [`coaps://127.0.0.1:${server.securePort}/time`, pki('other-ca.pem')]);
    expect(untrusted.status).toBe(1);
    expect(untrusted.stderr).toContain('CoapDtlsError');
  });
});

describeUnixDgram('unix-client (libcoap\'s Unix-domain set-up) against the test peer', () => {
  let peer: TestPeer;

  beforeAll(async () => {
    peer = await startTestPeer({
      transports: ['unix-dgram', 'unix-stream'],
      resources: [{ path: '/time', contentFormat: ContentFormat.TextPlain, get: () => new Date().toISOString() }],
    });
  });

  afterAll(async () => {
    await peer?.close();
  });

  it('GETs over the datagram socket from /tmp/client.<pid>, and removes that path at the end', async () => {
    const result = await runExample('unix-client', [peer.paths['unix-dgram']!, '/time']);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/^connected: \/tmp\/client\.\d+ <-> \/tmp\/rxc/m);
    expect(result.stdout).toContain('2.05 Content');
    expect(result.stdout).toMatch(/^local path \/tmp\/client\.\d+ removed$/m);
  });

  it('GETs over the stream socket (coap+tcp) with an unnamed client', async () => {
    const result = await runExample('unix-client', [peer.paths['unix-stream']!, '/time', 'stream']);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/^connected: \(unnamed\) <-> \/tmp\/rxc/m);
    expect(result.stdout).toContain('2.05 Content');
  });
});

describeUnixDgram('unix-client with unix-dgram', () => describeInterop('unix-client against libcoap 4.3.4 coap-server-notls -U coap', { flavors: 'notls', version: '4.3.4' }, () => {
  let server: LibcoapServer;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/rxu');
    server = await startLibcoapServer({ flavor: 'notls', version: '4.3.4', args: ['-U', 'coap'], unixPath: `${dir}/s` });
  });

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GETs /time as the man page\'s client does', async () => {
    const result = await runExample('unix-client', [`${dir}/s`, '/time']);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toContain('2.05 Content');
    expect(result.stdout).toMatch(/^local path \/tmp\/client\.\d+ removed$/m);
  });
}));

describe('custom transports (examples/serial-transport.ts, examples/worker-transport.ts)', () => {
  it('serial-transport GETs and observes over a Duplex stream in RFC 8323 framing, and exits 0', async () => {
    const result = await runExample('serial-transport', []);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toContain('GET /hello: 2.05 Content: hello over the serial line');
    expect(result.stdout).toContain('observe /counter: count 0, count 1, count 2, count 3');
  });

  it('worker-transport GETs and observes over a MessagePort to a worker thread, and exits 0', async () => {
    const result = await runExample('worker-transport', []);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toContain('GET /hello: 2.05 Content: hello from the worker');
    expect(result.stdout).toContain('observe /ticks: tick 0, tick 1, tick 2, tick 3');
  });
});
