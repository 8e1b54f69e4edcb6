/**
 * rxcoap's DTLS client against libcoap 4.3.1 (`coap-server-openssl`, `coap-server-gnutls`) through a
 * man-in-the-middle (`startDtlsMitmProxy`) that flips one bit of the ServerKeyExchange signature, of the
 * server's Finished record or of an application record, and through the lossy proxy (loss, duplication,
 * reordering of handshake datagrams), plus a certificate chain larger than a datagram.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { filter, firstValueFrom, take, timeout, toArray, type Subscription } from 'rxjs';
import { startDtlsMitmProxy } from '../../src/testing/dtls-mitm-proxy';
import { startLossyProxy } from '../../src/testing/lossy-proxy';
import { dtlsPkiTransport, type DtlsPkiTransportOptions } from '../../src/transport/dtls/pki';
import type { Transport, TransportEvent } from '../../src/transport/transport';
import { describeInterop, startLibcoapServer, type LibcoapFlavor, type LibcoapServer } from '../helpers/libcoap';

jest.setTimeout(60_000);

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pki');
const fixture = (name: string): string => path.join(FIXTURES, name);
const PKI = { pkiKey: { caFile: fixture('ca.pem') } };
const GET_TIME = (mid: number): Uint8Array => Uint8Array.of(0x41, 0x01, mid >> 8, mid & 0xff, 0x01, 0xb4, ...Buffer.from('time'));

interface Opened {
  readonly transport: Transport;
  readonly subscription: Subscription;
  readonly events: TransportEvent[];
}

function open(options: Partial<DtlsPkiTransportOptions> & { port: number }): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const events: TransportEvent[] = [];
    const subscription = dtlsPkiTransport({ host: '127.0.0.1', pki: PKI, handshakeDeadline: 10_000, ...options })().subscribe({
      next: (transport) => {
        transport.events$.subscribe((event) => events.push(event));
        resolve({ transport, subscription, events });
      },
      error: reject,
    });
  });
}

async function getTime(transport: Transport, mid: number): Promise<number> {
  const response = firstValueFrom(transport.frames$.pipe(filter((frame) => ((frame[2] << 8) | frame[3]) === mid), take(1), timeout(5000)));
  transport.send(GET_TIME(mid));
  return (await response)[1];
}

let chainDir: string | undefined;
/**
 * Certificates larger than a datagram: a leaf for 127.0.0.1 with 150 more DNS names (about 5 KB), signed by the
 * fixtures' CA, alone (`big.pem`: libcoap 4.3.1's openssl build sends the leaf only) and as a chain of about 8 KB
 * through two RSA-4096 intermediates (`chain.pem`: CA -> int1 -> int2 -> leaf, sent by the gnutls build).
 */
function largeCertificates(): { big: string; chain: string; key: string } {
  const dir = (chainDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-dtls-chain-')));
  const file = (name: string): string => path.join(dir, name);
  const result = { big: file('big.pem'), chain: file('chain.pem'), key: file('leaf.key') };
  if (fs.existsSync(result.chain)) return result;
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const names = Array.from({ length: 150 }, (_, i) => `DNS:host-${i}.a-rather-long-name.rxcoap.example`).join(',');
  fs.writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(file('leaf.ext'), `subjectAltName=IP:127.0.0.1,DNS:localhost,${names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  const sign = (name: string, out: string, issuerCert: string, issuerKey: string, ext: string): void => {
    openssl('req', '-new', '-key', file(`${name}.key`), '-subj', `/CN=rxcoap ${name}`, '-out', file(`${name}.csr`));
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', issuerCert, '-CAkey', issuerKey, '-CAcreateserial', '-CAserial', file('serial.srl'), '-days', '30', '-extfile', file(ext), '-out', out);
  };
  for (const name of ['int1', 'int2']) openssl('genrsa', '-out', file(`${name}.key`), '4096');
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('leaf.key'));
  sign('int1', file('int1.pem'), fixture('ca.pem'), fixture('ca.key'), 'ca.ext');
  sign('int2', file('int2.pem'), file('int1.pem'), file('int1.key'), 'ca.ext');
  sign('leaf', file('leaf.pem'), file('int2.pem'), file('int2.key'), 'leaf.ext');
  sign('leaf', result.big, fixture('ca.pem'), fixture('ca.key'), 'leaf.ext');
  fs.writeFileSync(result.chain, ['leaf', 'int2', 'int1'].map((name) => fs.readFileSync(file(`${name}.pem`), 'latin1')).join(''));
  return result;
}

afterAll(() => {
  if (chainDir !== undefined) fs.rmSync(chainDir, { recursive: true, force: true });
});

for (const flavor of ['openssl', 'gnutls'] as LibcoapFlavor[]) {
  describeInterop(`DTLS with certificates through a man in the middle and a lossy path, coap-server-${flavor} 4.3.1`, flavor, () => {
    let server: LibcoapServer;
    let chained: LibcoapServer;
    const cleanup: (() => unknown)[] = [];

    beforeAll(async () => {
      const large = largeCertificates();
      [server, chained] = await Promise.all([
        startLibcoapServer({ flavor, args: ['-c', fixture('server.pem'), '-j', fixture('server.key')] }),
        startLibcoapServer({ flavor, args: ['-c', flavor === 'openssl' ? large.big : large.chain, '-j', large.key] }),
      ]);
    });

    afterEach(async () => {
      for (const step of cleanup.splice(0).reverse()) await step();
    });

    afterAll(async () => {
      await Promise.all([server, chained].map((s) => s?.stop()));
    });

    const proxied = async (tamper: Parameters<typeof startDtlsMitmProxy>[0]['tamper'], times?: number) => {
      const proxy = await startDtlsMitmProxy({ target: { host: '127.0.0.1', port: server.securePort }, tamper, times });
      cleanup.push(() => proxy.close());
      return proxy;
    };

    it('passes an untampered handshake and GET through the proxy', async () => {
      const proxy = await proxied('none');
      const opened = await open({ port: proxy.address.port });
      cleanup.push(() => opened.subscription.unsubscribe());
      expect(await getTime(opened.transport, 1)).toBe(0x45);
      expect(proxy.tampered).toBe(0);
    });

    it('fails with bad-signature, at once, when one bit of the ServerKeyExchange signature is flipped', async () => {
      const proxy = await proxied('server-key-exchange-signature');
      const started = Date.now();
      await expect(open({ port: proxy.address.port })).rejects.toMatchObject({ name: 'CoapDtlsError', reason: 'bad-signature' });
      expect(proxy.tampered).toBe(1);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('never accepts a server Finished record with a bit flipped: every copy tampered ends in handshake-timeout', async () => {
      const proxy = await proxied('server-finished');
      await expect(open({ port: proxy.address.port, handshakeDeadline: 3500 })).rejects.toMatchObject({ name: 'CoapDtlsError', reason: 'handshake-timeout' });
      // openssl sends its final flight again for each of our retransmissions; gnutls only on its own timer
      expect(proxy.tampered).toBeGreaterThanOrEqual(1);
    });

    it('drops the tampered Finished record and completes with the server\'s retransmission of it', async () => {
      const proxy = await proxied('server-finished', 1);
      const opened = await open({ port: proxy.address.port });
      cleanup.push(() => opened.subscription.unsubscribe());
      expect(proxy.tampered).toBe(1);
      expect(opened.events.some((event) => event.type === 'dtls-retry')).toBe(true);
      expect(await getTime(opened.transport, 2)).toBe(0x45);
    });

    it('drops an application record with a bit flipped: the response arrives only when the server sends it again', async () => {
      const proxy = await proxied('application-data', 1);
      const opened = await open({ port: proxy.address.port });
      cleanup.push(() => opened.subscription.unsubscribe());
      const frames = firstValueFrom(opened.transport.frames$.pipe(take(1), toArray(), timeout(5000)));
      opened.transport.send(GET_TIME(3));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(proxy.tampered).toBe(1);
      // the CON again (same MID): libcoap answers from its cache, in a new record
      opened.transport.send(GET_TIME(3));
      const received = await frames;
      expect(received).toHaveLength(1);
      expect(received[0][1]).toBe(0x45);
    });

    it.each([1, 2, 3, 4, 5])('completes the handshake and a GET through 25 %% loss, 20 %% duplication and 30 %% reordering both ways (seed %i)', async (seed) => {
      const loss = { drop: 0.25, duplicate: 0.2, reorder: 0.3, reorderTimeout: 20 };
      const proxy = await startLossyProxy({ target: { host: '127.0.0.1', port: server.securePort }, seed, toServer: loss, toClient: loss });
      cleanup.push(() => proxy.close());
      const opened = await open({ port: proxy.address.port, handshakeDeadline: 40_000, retransmitTimeout: 250 });
      cleanup.push(() => opened.subscription.unsubscribe());
      proxy.setLoss({ toServer: {}, toClient: {} });
      expect(await getTime(opened.transport, 10 + seed)).toBe(0x45);
      expect(proxy.stats.toServer.received + proxy.stats.toClient.received).toBeGreaterThan(4);
    });

    it(`takes ${flavor === 'openssl' ? 'a certificate' : 'a certificate chain'} larger than a datagram (fragmented, reassembled) and verifies it to the root`, async () => {
      expect(fs.statSync(flavor === 'openssl' ? largeCertificates().big : largeCertificates().chain).size).toBeGreaterThan(5000);
      const opened = await open({ port: chained.securePort });
      cleanup.push(() => opened.subscription.unsubscribe());
      expect(await getTime(opened.transport, 20)).toBe(0x45);
    });

    it('takes it through loss and reordering too', async () => {
      const loss = { drop: 0.2, reorder: 0.4, reorderTimeout: 20 };
      const proxy = await startLossyProxy({ target: { host: '127.0.0.1', port: chained.securePort }, seed: 42, toServer: loss, toClient: loss });
      cleanup.push(() => proxy.close());
      const opened = await open({ port: proxy.address.port, handshakeDeadline: 40_000, retransmitTimeout: 250 });
      cleanup.push(() => opened.subscription.unsubscribe());
      proxy.setLoss({ toServer: {}, toClient: {} });
      expect(await getTime(opened.transport, 21)).toBe(0x45);
    });
  });
}
