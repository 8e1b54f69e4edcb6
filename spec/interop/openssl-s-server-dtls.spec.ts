/**
 * rxcoap's DTLS client against `openssl s_server -dtls1_2` as a bare DTLS peer (no CoAP): each suite forced by
 * `-cipher`, each group by `-groups`, a required client certificate (`-Verify`), and application data both ways
 * (what the client sends appears on s_server's stdout; what is written to s_server's stdin reaches the client).
 * Skips loudly without the openssl CLI, unless COAP_INTEROP=required.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import * as path from 'node:path';
import { firstValueFrom, take, timeout, type Subscription } from 'rxjs';
import { dtlsPkiTransport, type DtlsPkiTransportOptions } from '../../src/transport/dtls/pki';
import type { Transport, TransportEvent } from '../../src/transport/transport';
import { describeWhen } from '../helpers/describe-when';

jest.setTimeout(30_000);

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pki');
const fixture = (name: string): string => path.join(FIXTURES, name);
const available = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
const describeOpenssl = (name: string, fn: () => void): void =>
  describeWhen(name, available ? undefined : { what: 'the openssl command', how: 'apt-get install openssl' }, fn);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

interface SServer {
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
}

async function startSServer(args: readonly string[]): Promise<SServer> {
  const port = await freePort();
  const child = spawn('openssl', ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`, '-cert', fixture('server.pem'), '-key', fixture('server.key'), '-quiet', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  await new Promise((resolve) => setTimeout(resolve, 300)); // s_server prints nothing when it is ready with -quiet
  return { port, child, output: () => output };
}

function open(options: Partial<DtlsPkiTransportOptions> & { port: number }): Promise<{ transport: Transport; subscription: Subscription; events: TransportEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: TransportEvent[] = [];
    const subscription = dtlsPkiTransport({ host: '127.0.0.1', pki: { pkiKey: { caFile: fixture('ca.pem') } }, handshakeDeadline: 5000, ...options })().subscribe({
      next: (transport) => {
        transport.events$.subscribe((event) => events.push(event));
        resolve({ transport, subscription, events });
      },
      error: reject,
    });
  });
}

async function waitFor(condition: () => boolean, within = 3000): Promise<void> {
  const until = Date.now() + within;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeOpenssl('openssl s_server -dtls1_2 as a bare DTLS peer', () => {
  const started: SServer[] = [];
  const subscriptions: Subscription[] = [];
  afterEach(() => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    for (const server of started.splice(0)) server.child.kill('SIGTERM');
  });
  const server = async (args: readonly string[]): Promise<SServer> => {
    const s = await startSServer(args);
    started.push(s);
    return s;
  };

  it.each([
    ['ECDHE-ECDSA-AES128-CCM8', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'],
    ['ECDHE-ECDSA-AES128-CCM', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM'],
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ])('completes the handshake with -cipher %s and carries data both ways', async (cipher, suite) => {
    const s = await server(['-cipher', cipher]);
    const opened = await open({ port: s.port });
    subscriptions.push(opened.subscription);
    expect(opened.events.find((event) => event.type === 'dtls-connected')).toMatchObject({ cipherSuite: suite });
    opened.transport.send(Buffer.from(`hello over ${suite}\n`));
    await waitFor(() => s.output().includes(`hello over ${suite}`));
    const back = firstValueFrom(opened.transport.frames$.pipe(take(1), timeout(3000)));
    s.child.stdin!.write('pong\n');
    expect(Buffer.from(await back).toString()).toBe('pong\n');
  });

  it.each(['X25519', 'P-256'])('agrees on the group s_server advertises alone (-groups %s)', async (group) => {
    const s = await server(['-groups', group]);
    const opened = await open({ port: s.port });
    subscriptions.push(opened.subscription);
    opened.transport.send(Buffer.from(`group ${group}\n`));
    await waitFor(() => s.output().includes(`group ${group}`));
  });

  it('sends its certificate and CertificateVerify where s_server requires one (-Verify), and s_server verifies them', async () => {
    const s = await server(['-Verify', '2', '-CAfile', fixture('ca.pem'), '-verify_return_error']);
    const opened = await open({ port: s.port, pki: { pkiKey: { caFile: fixture('ca.pem'), publicCert: fixture('client.pem'), privateKey: fixture('client.key') } } });
    subscriptions.push(opened.subscription);
    opened.transport.send(Buffer.from('mutual\n'));
    await waitFor(() => s.output().includes('mutual'));
  });

  it('fails with client-cert-required where s_server requires a certificate and none is set', async () => {
    const s = await server(['-Verify', '2', '-CAfile', fixture('ca.pem'), '-verify_return_error']);
    await expect(open({ port: s.port })).rejects.toMatchObject({ name: 'CoapDtlsError', reason: 'client-cert-required' });
  });
});
