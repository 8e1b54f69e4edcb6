/**
 * CoAP over DTLS 1.2 with certificates and anonymous DTLS (`coaps://`) on rxcoap's own DTLS client, against
 * libcoap's `coap-server-openssl` and `coap-server-gnutls`, 4.3.1 and 4.3.4, with the test PKI of
 * `spec/fixtures/pki` (EC P-256) plus an RSA certificate made here with the openssl CLI.
 *
 * Every suite the client implements is tried alone against each server (CCM_8, CCM, GCM with ECDSA; GCM with RSA),
 * each group alone (x25519, secp256r1), then GET, PUT, observe and block-wise over a session; mutual
 * authentication with `-C`; the negatives each a CoapDtlsError with a reason, fast; anonymous DTLS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstValueFrom, filter, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapContext, type ClientSession, type SessionEvent } from '../../src/node';
import type { PkiCredentials } from '../../src/pki-credentials';
import { dtlsPkiTransport, type DtlsGroup } from '../../src/transport/dtls/pki';
import type { DtlsPkiCipherSuite } from '../../src/transport/dtls/ecdhe-suites';
import type { Transport, TransportEvent } from '../../src/transport/transport';
import { LIBCOAP_VERSIONS, describeInterop, startLibcoapServer, type LibcoapFlavor, type LibcoapServer, type LibcoapVersion } from '../helpers/libcoap';
import { LOSS_DEADLINE, REQUEST_LIMIT, failureOf } from '../helpers/reliable-interop';

jest.setTimeout(30_000);

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pki');
const fixture = (name: string): string => path.join(FIXTURES, name);
const flavors: readonly LibcoapFlavor[] = ['openssl', 'gnutls'];

let rsaDir: string | undefined;
/** A self-signed RSA-2048 server certificate for 127.0.0.1 (for TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256). */
function rsaCertificate(): { cert: string; key: string } {
  rsaDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-dtls-rsa-'));
  const cert = path.join(rsaDir, 'rsa.pem');
  const key = path.join(rsaDir, 'rsa.key');
  if (!fs.existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return { cert, key };
}

afterAll(() => {
  if (rsaDir !== undefined) fs.rmSync(rsaDir, { recursive: true, force: true });
});

const dtlsUri = (server: LibcoapServer): string => `coaps://127.0.0.1:${server.securePort}`;
const get = (session: ClientSession, uriPath = '/time') => lastValueFrom(session.get(uriPath).pipe(timeout(REQUEST_LIMIT)));
const trusting = (extra: PkiCredentials = {}): PkiCredentials => ({ ...extra, pkiKey: { caFile: fixture('ca.pem'), ...extra.pkiKey } });

/** Opens one transport, sends a CoAP GET /time (CON, MID 1) and resolves with the suite and the response's code byte. */
async function handshakeAndGet(
  port: number,
  options: { cipherSuites?: DtlsPkiCipherSuite[]; groups?: DtlsGroup[]; pki: PkiCredentials; host?: string; family?: 4 | 6 },
): Promise<{ suite: string; code: number }> {
  const transport$ = dtlsPkiTransport({ host: '127.0.0.1', port, handshakeDeadline: 5000, ...options })();
  return new Promise((resolve, reject) => {
    let suite = '';
    const subscription = transport$.subscribe({
      next: (transport: Transport) => {
        transport.events$.subscribe((event: TransportEvent) => {
          if (event.type === 'dtls-connected') suite = event.cipherSuite;
        });
        transport.frames$.pipe(take(1)).subscribe((frame) => {
          resolve({ suite, code: frame[1] });
          subscription.unsubscribe();
        });
        // CON GET, MID 1, token 0x01, Uri-Path "time"
        transport.send(Uint8Array.of(0x41, 0x01, 0x00, 0x01, 0x01, 0xb4, ...Buffer.from('time')));
      },
      error: reject,
    });
  });
}

/** Expects the session's GET to fail with a CoapDtlsError of `reason`, fast, with no key material in the text. */
async function expectDtlsFailure(session: ClientSession, reason: string): Promise<unknown> {
  const { error, elapsed } = await failureOf(session.get('/time'), LOSS_DEADLINE);
  expect(error).toMatchObject({ name: 'CoapDtlsError', code: 'COAP_ERR_DTLS', reason });
  expect(elapsed).toBeLessThan(LOSS_DEADLINE);
  expect(String((error as Error).message)).not.toContain('PRIVATE KEY');
  return error;
}

function describeDtls(version: LibcoapVersion, flavor: LibcoapFlavor): void {
  const label = `dtls-pki-${flavor}-${version.replace(/\./g, '')}`;
  const needs = { flavors: flavor, version };
  const start = (args: readonly string[]): Promise<LibcoapServer> => startLibcoapServer({ flavor, version, args: ['-d', '10', '-v', '7', ...args], outputLimit: 2_000_000 });

  describeInterop(`coaps:// with certificates, coap-server-${flavor} ${version}`, needs, () => {
    let server: LibcoapServer;
    let mutual: LibcoapServer;
    let wrongName: LibcoapServer;
    let expired: LibcoapServer;
    let rsa: LibcoapServer;
    let revoked: LibcoapServer;
    let context: CoapContext;
    const opened: ClientSession[] = [];
    const pkiSession = (target: LibcoapServer, pki: PkiCredentials, on = context): ClientSession => {
      const session = on.newClientSessionPki({ server: dtlsUri(target), pki });
      opened.push(session);
      return session;
    };

    beforeAll(async () => {
      const rsaPair = rsaCertificate();
      [server, mutual, wrongName, expired, rsa, revoked] = await Promise.all([
        start(['-c', fixture('server.pem'), '-j', fixture('server.key')]),
        start(['-c', fixture('server.pem'), '-j', fixture('server.key'), '-C', fixture('ca.pem')]),
        start(['-c', fixture('wrong-name.pem'), '-j', fixture('wrong-name.key')]),
        start(['-c', fixture('expired.pem'), '-j', fixture('expired.key')]),
        start(['-c', rsaPair.cert, '-j', rsaPair.key]),
        start(['-c', fixture('revoked.pem'), '-j', fixture('revoked.key')]),
      ]);
      context = new CoapContext();
    });

    afterEach(() => {
      for (const session of opened.splice(0)) if (!session.closed) session.release();
    });

    afterAll(async () => {
      await context?.free();
      await Promise.all([server, mutual, wrongName, expired, rsa, revoked].map((s) => s?.stop()));
    });

    const ecdsaSuites: DtlsPkiCipherSuite[] = ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'];
    // OpenSSL 3.2 and later put the CCM_8 suites at security level 0, below libcoap's default (4.3.4's openssl build)
    const refusesCcm8 = flavor === 'openssl' && version !== '4.3.1';
    it.each(ecdsaSuites)('completes the handshake with %s alone and GETs /time', async (suite) => {
      if (refusesCcm8 && suite === 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8') {
        await expect(handshakeAndGet(server.securePort, { cipherSuites: [suite], pki: trusting() })).rejects.toMatchObject({ name: 'CoapDtlsError', reason: 'alert' });
        return;
      }
      const result = await handshakeAndGet(server.securePort, { cipherSuites: [suite], pki: trusting() });
      expect(result).toEqual({ suite, code: 0x45 });
    });

    // RSA certificate: with ECDSA, TLS 1.2 servers also need the certificate's curve among the groups (RFC 8422 §5.1)
    it.each(['x25519', 'secp256r1'] as DtlsGroup[])('agrees on %s alone', async (group) => {
      const result = await handshakeAndGet(rsa.securePort, { groups: [group], pki: { pkiKey: { caFile: rsaCertificate().cert } } });
      expect(result.code).toBe(0x45);
    });

    it('completes TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 with an RSA certificate', async () => {
      const result = await handshakeAndGet(rsa.securePort, { pki: { pkiKey: { caFile: rsaCertificate().cert } } });
      expect(result).toEqual({ suite: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', code: 0x45 });
    });

    it('GETs, PUTs, observes and transfers 20 KiB block-wise over one session (newClientSessionPki)', async () => {
      const session = pkiSession(server, trusting());
      const events: SessionEvent[] = [];
      session.events$.subscribe((event) => events.push(event));
      expect(session.proto).toBe('dtls');
      expect((await get(session)).codeText).toBe('2.05');
      expect(events.find((event) => event.type === 'dtls-connected')).toMatchObject({ cipherSuite: expect.stringMatching(/^TLS_ECDHE_ECDSA_WITH_AES_128_/) });
      const value = `pki ${label} ${Date.now()}`;
      expect((await lastValueFrom(session.put(`/${label}`, { payload: value }).pipe(timeout(REQUEST_LIMIT)))).codeText).toMatch(/^2\.0[14]$/);
      expect((await get(session, `/${label}`)).text()).toBe(value);
      const notifications = await lastValueFrom(session.observe('/time').pipe(take(3), toArray(), timeout(REQUEST_LIMIT)));
      expect(notifications[2].observe!).toBeGreaterThan(notifications[1].observe!);
      const body = new Uint8Array(randomBytes(20 * 1024));
      const put = await lastValueFrom(session.put(`/${label}-big`, { payload: body, contentFormat: 'application/octet-stream' }).pipe(timeout(REQUEST_LIMIT)));
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      const back = await get(session, `/${label}-big`);
      expect(Buffer.compare(Buffer.from(back.payload), Buffer.from(body))).toBe(0);
    });

    it('sends close_notify on release()', async () => {
      const session = pkiSession(server, trusting());
      await get(session);
      const from = server.output().length;
      session.release();
      await server.waitForOutput(/close.notify|Close notify|closed by peer|session disconnected|alert/i, { from, timeout: LOSS_DEADLINE });
    });

    it('authenticates itself with a client certificate where the server demands one (-C)', async () => {
      const session = pkiSession(mutual, trusting({ pkiKey: { publicCert: fixture('client.pem'), privateKey: fixture('client.key') } }));
      expect((await get(session)).codeText).toBe('2.05');
    });

    it('fails with client-cert-required when the server demands a certificate and none is set', async () => {
      await expectDtlsFailure(pkiSession(mutual, trusting()), 'client-cert-required');
    });

    it('rejects a server whose CA it does not trust (untrusted)', async () => {
      await expectDtlsFailure(pkiSession(server, { pkiKey: { caFile: fixture('other-ca.pem') } }), 'untrusted');
    });

    it('connects to an untrusted server only with verifyPeerCert: false, with a verification-off warning', async () => {
      const session = pkiSession(server, { verifyPeerCert: false, pkiKey: { caFile: fixture('other-ca.pem') } });
      const warning = firstValueFrom(session.events$.pipe(filter((event) => event.type === 'warning')));
      expect((await get(session)).codeText).toBe('2.05');
      expect(await warning).toMatchObject({ reason: 'verification-off' });
    });

    it('rejects a certificate for another host name (name-mismatch)', async () => {
      await expectDtlsFailure(pkiSession(wrongName, trusting()), 'name-mismatch');
    });

    it('rejects an expired certificate (expired), and accepts it with allowExpiredCerts', async () => {
      await expectDtlsFailure(pkiSession(expired, trusting()), 'expired');
      expect((await get(pkiSession(expired, trusting({ allowExpiredCerts: true })))).codeText).toBe('2.05');
    });

    it('rejects a revoked certificate with checkCertRevocation and crlFiles (revoked); accepts the good one', async () => {
      const withCrl = trusting({ checkCertRevocation: true, crlFiles: [fixture('crl.pem')] });
      await expectDtlsFailure(pkiSession(revoked, withCrl), 'revoked');
      expect((await get(pkiSession(server, withCrl))).codeText).toBe('2.05');
      expect((await get(pkiSession(revoked, trusting()))).codeText).toBe('2.05');
    });

    it('fails with cn-rejected when validateCn says no, after showing it the chain', async () => {
      const seen: { cn: string; depth: number; validated: boolean }[] = [];
      const session = pkiSession(server, trusting({ validateCn: (cn, der, depth, validated) => (seen.push({ cn, depth, validated }), false) }));
      await expectDtlsFailure(session, 'cn-rejected');
      expect(seen).toEqual([{ cn: 'localhost', depth: 0, validated: true }]);
    });

    it('verifies an anonymous session (newClientSession, no credentials) against setPkiRootCas roots: rejects, then accepts', async () => {
      const bare = new CoapContext();
      try {
        bare.setPkiRootCas(fixture('other-ca.pem'));
        await expectDtlsFailure(bare.newClientSession({ server: dtlsUri(server) }), 'untrusted');
        bare.setPkiRootCas(fixture('ca.pem'));
        const trusted = bare.newClientSession({ server: dtlsUri(server) });
        const events: SessionEvent[] = [];
        trusted.events$.subscribe((event) => events.push(event));
        expect((await get(trusted)).codeText).toBe('2.05');
        expect(events.some((event) => event.type === 'warning')).toBe(false);
      } finally {
        await bare.free();
      }
    });

    it('runs anonymous DTLS without roots: encrypted, unauthenticated, with an unauthenticated warning', async () => {
      const bare = new CoapContext();
      try {
        const session = bare.newClientSession({ server: dtlsUri(server) });
        const warning = firstValueFrom(session.events$.pipe(filter((event) => event.type === 'warning')));
        expect((await get(session)).codeText).toBe('2.05');
        expect(await warning).toMatchObject({ type: 'warning', reason: 'unauthenticated' });
      } finally {
        await bare.free();
      }
    });
  });
}

describeInterop('coaps:// with certificates over IPv6 and by host name (coap-server-openssl 4.3.1)', 'openssl', () => {
  let v6: LibcoapServer;
  let v4: LibcoapServer;
  beforeAll(async () => {
    [v6, v4] = await Promise.all([
      startLibcoapServer({ flavor: 'openssl', host: '::1', args: ['-c', fixture('server.pem'), '-j', fixture('server.key')] }),
      startLibcoapServer({ flavor: 'openssl', args: ['-c', fixture('server.pem'), '-j', fixture('server.key')] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([v6, v4].map((s) => s?.stop()));
  });

  it('GETs over [::1], the certificate naming IP ::1', async () => {
    const context = new CoapContext();
    try {
      const session = context.newClientSessionPki({ server: `coaps://[::1]:${v6.securePort}`, pki: trusting() });
      expect((await get(session)).codeText).toBe('2.05');
    } finally {
      await context.free();
    }
  });

  it('connects by the host name localhost (checked against DNS:localhost), and clientSni names the host to check', async () => {
    const result = await handshakeAndGet(v4.securePort, { pki: trusting(), host: 'localhost', family: 4 });
    expect(result.code).toBe(0x45);
    // the SNI sent is checked in client-connection.spec.ts (the test server reads it); here the name is checked
    await expect(handshakeAndGet(v4.securePort, { pki: trusting({ clientSni: 'wrong.example' }) })).rejects.toMatchObject({ reason: 'name-mismatch' });
  });
});

/** A P-256 key pair for raw public keys: `both.pem` (private and public, as `coap-server -M` takes it) and `public.pem`. */
function rpkFiles(): { both: string; publicKey: string } {
  rsaDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-dtls-rsa-'));
  const key = path.join(rsaDir, 'rpk.key');
  const publicKey = path.join(rsaDir, 'rpk.pub');
  const both = path.join(rsaDir, 'rpk-both.pem');
  if (!fs.existsSync(both)) {
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], { stdio: ['ignore', 'pipe', 'pipe'] });
    execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', publicKey], { stdio: ['ignore', 'pipe', 'pipe'] });
    fs.writeFileSync(both, fs.readFileSync(key, 'latin1') + fs.readFileSync(publicKey, 'latin1'));
  }
  return { both, publicKey };
}

for (const version of LIBCOAP_VERSIONS) {
  describeInterop(`coaps:// with raw public keys (RFC 7250), coap-server-gnutls ${version} -M`, { flavors: 'gnutls', version }, () => {
    let server: LibcoapServer;
    let context: CoapContext;
    const own = { pkiKey: { privateKey: fixture('client.key') } };

    beforeAll(async () => {
      server = await startLibcoapServer({ flavor: 'gnutls', version, args: ['-M', rpkFiles().both] });
      context = new CoapContext();
    });
    afterAll(async () => {
      await context?.free();
      await server?.stop();
    });

    it('GETs /time when the server\'s key is among rpkTrustedKeys, sending its own raw public key', async () => {
      const session = context.newClientSessionPki({ server: dtlsUri(server), pki: { isRpkNotCert: true, rpkTrustedKeys: [rpkFiles().publicKey], ...own } });
      expect((await get(session)).codeText).toBe('2.05');
      session.release();
    });

    it('hands the key to validateCn as libcoap does (CN "RPK", the SubjectPublicKeyInfo), which may accept it', async () => {
      const seen: { cn: string; length: number; validated: boolean }[] = [];
      const session = context.newClientSessionPki({
        server: dtlsUri(server),
        pki: { isRpkNotCert: true, validateCn: (cn, der, _depth, validated) => (seen.push({ cn, length: der.length, validated }), true), ...own },
      });
      expect((await get(session)).codeText).toBe('2.05');
      expect(seen).toEqual([{ cn: 'RPK', length: 91, validated: false }]);
      session.release();
    });

    it('refuses a key it does not trust (untrusted), and one validateCn rejects (cn-rejected)', async () => {
      await expectDtlsFailure(context.newClientSessionPki({ server: dtlsUri(server), pki: { isRpkNotCert: true, rpkTrustedKeys: [fixture('ca.pem')], ...own } }), 'untrusted');
      await expectDtlsFailure(context.newClientSessionPki({ server: dtlsUri(server), pki: { isRpkNotCert: true, validateCn: () => false, ...own } }), 'cn-rejected');
    });

    it('fails with client-cert-required when the server wants the client\'s raw public key and none is set', async () => {
      await expectDtlsFailure(context.newClientSessionPki({ server: dtlsUri(server), pki: { isRpkNotCert: true, rpkTrustedKeys: [rpkFiles().publicKey] } }), 'client-cert-required');
    });
  });
}

/** Runs the built CLI (`dist/src/cli/main.js`, as the `bin` entry). */
function runCli(args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const cli = path.join(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describeInterop('the rxcoap CLI over coaps:// with -c, -j, -C, -R, -n (coap-server-openssl 4.3.1)', 'openssl', () => {
  let server: LibcoapServer;
  let mutual: LibcoapServer;
  beforeAll(async () => {
    [server, mutual] = await Promise.all([
      startLibcoapServer({ flavor: 'openssl', args: ['-c', fixture('server.pem'), '-j', fixture('server.key')] }),
      startLibcoapServer({ flavor: 'openssl', args: ['-c', fixture('server.pem'), '-j', fixture('server.key'), '-C', fixture('ca.pem')] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server, mutual].map((s) => s?.stop()));
  });

  it.each([
    ['-C ca', (port: number) => ['-C', fixture('ca.pem'), `coaps://127.0.0.1:${port}/time`]],
    ['-R roots', (port: number) => ['-R', fixture('ca.pem'), `coaps://127.0.0.1:${port}/time`]],
    ['no credentials (anonymous)', (port: number) => [`coaps://127.0.0.1:${port}/time`]],
    ['-n with an untrusted CA', (port: number) => ['-n', '-C', fixture('other-ca.pem'), `coaps://127.0.0.1:${port}/time`]],
  ])('GETs /time with %s', (_, argv) => {
    const result = runCli(argv(server.securePort));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\d\d:\d\d:\d\d/);
  });

  it('authenticates with -c and -j where the server demands a certificate, and says to give -c without one', () => {
    const ok = runCli(['-C', fixture('ca.pem'), '-c', fixture('client.pem'), '-j', fixture('client.key'), `coaps://127.0.0.1:${mutual.securePort}/time`]);
    expect(ok.status).toBe(0);
    const refused = runCli(['-C', fixture('ca.pem'), `coaps://127.0.0.1:${mutual.securePort}/time`]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('give -c certfile (and -j keyfile)');
  });

  it('refuses a server whose CA -C does not name', () => {
    const result = runCli(['-C', fixture('other-ca.pem'), `coaps://127.0.0.1:${server.securePort}/time`]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('is not trusted');
  });
});

for (const version of LIBCOAP_VERSIONS) {
  for (const flavor of flavors) describeDtls(version, flavor);
}
