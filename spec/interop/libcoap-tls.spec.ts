/**
 * CoAP over TLS (RFC 8323, `coaps+tcp://`) against libcoap's `coap-server-openssl` and `coap-server-gnutls`, both
 * 4.3.1 (Debian bookworm) and 4.3.4 (trixie, the private install of scripts/install-libcoap-4.3.4.sh):
 * - TLS-PSK (`-k key -h hint`): the shared reliable cases (GET / and /time, PUT then GET, Observe with
 *   deregistration, 100 KiB block-wise, Ping, 32 outstanding), the identity hint, a wrong key;
 * - certificates (`-c cert -j key`, mutual authentication with `-C ca`): trusted, the context's roots, an
 *   untrusted CA, an unverified session, a wrong host name, an expired certificate (and allowExpiredCerts),
 *   validateCn rejecting, PEM given as bytes, a client certificate, and one missing where the server demands it;
 * - a server SIGKILLed mid-observation and mid-request: the library fails within 5 s, and the next request too.
 *
 * Certificates are made for each run with the openssl CLI in a temporary directory (EC P-256; a CA, a server
 * certificate for 127.0.0.1/localhost, a client certificate, one for another name, an expired one, and a second
 * CA nobody trusts), so none expires in the repository.
 *
 * What the servers do, seen with a plain node:tls client (both versions unless noted):
 * - `-p P` listens for TLS on P + 1. PSK: TLS 1.2 only (PSK-AES128-GCM-SHA256 and friends), the hint from `-h`.
 * - `-c/-j` alone (no `-C`/`-R`): the server does not ask for a client certificate, `-n` or not.
 * - `-C ca`: the server demands a client certificate (TLS 1.3). Without one the handshake completes on the
 *   client's side and then the server ends it: 4.3.1 openssl and 4.3.4 gnutls reset the connection
 *   (ECONNRESET), 4.3.1 gnutls sends alert 42 (bad_certificate), 4.3.4 openssl alert 116 (certificate_required).
 * - The openssl builds answer ALPN `coap`; the gnutls builds select no ALPN protocol.
 * - Either build serves an expired or wrongly named certificate without complaint: checking is the client's job.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lastValueFrom, timeout } from 'rxjs';
import { CoapContext, type ClientSession } from '../../src/node';
import type { PkiCredentials } from '../../src/pki-credentials';
import { LIBCOAP_VERSIONS, describeInterop, startLibcoapServer, type LibcoapFlavor, type LibcoapServer, type LibcoapVersion } from '../helpers/libcoap';
import { LOSS_DEADLINE, REQUEST_LIMIT, connectionLossCases, failureOf, reliableSessionCases } from '../helpers/reliable-interop';

jest.setTimeout(30_000);

const KEY = 'secretPSK';
const IDENTITY = 'rxcoap-client';
const HINT = 'rxcoap-hint';
const SERVER_ARGS = ['-d', '10', '-v', '7'];
const OUTPUT_LIMIT = 8_000_000;
const flavors: readonly LibcoapFlavor[] = ['openssl', 'gnutls'];

/** Files of the test PKI. */
interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Signed by the CA for DNS:wrong.example only. */
  readonly wrongNameCert: string;
  readonly wrongNameKey: string;
  /** Signed by the CA, valid in January 2020 only. */
  readonly expiredCert: string;
  readonly expiredKey: string;
  /** A CA that signed nothing here. */
  readonly otherCa: string;
}

let pkiCache: TestPki | undefined;

/** Makes the test PKI once per file, with the openssl CLI. */
function testPki(): TestPki {
  if (pkiCache !== undefined) return pkiCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-pki-'));
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const ecKey = (name: string): void => openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file(name));
  const selfSignedCa = (name: string, cn: string): void => {
    ecKey(`${name}.key`);
    openssl('req', '-x509', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${cn}`, '-days', '30', '-out', file(`${name}.pem`),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  const extensions = (name: string, lines: string[]): string => {
    fs.writeFileSync(file(name), `${lines.join('\n')}\n`);
    return file(name);
  };
  const serverExt = extensions('server.ext', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth']);
  const wrongExt = extensions('wrong.ext', ['subjectAltName=DNS:wrong.example', 'basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth']);
  const clientExt = extensions('client.ext', ['basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth']);
  const signed = (name: string, cn: string, ext: string): void => {
    ecKey(`${name}.key`);
    openssl('req', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${cn}`, '-out', file(`${name}.csr`));
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '30',
      '-extfile', ext, '-out', file(`${name}.pem`));
  };
  selfSignedCa('ca', 'rxcoap test CA');
  selfSignedCa('other-ca', 'rxcoap untrusted CA');
  signed('server', 'localhost', serverExt);
  signed('client', IDENTITY, clientExt);
  signed('wrong', 'wrong.example', wrongExt);
  // `openssl x509 -req` (OpenSSL 3.0) cannot date a certificate in the past; `openssl ca` can.
  fs.mkdirSync(file('ca-db'));
  fs.writeFileSync(file('ca-db/index.txt'), '');
  fs.writeFileSync(file('ca-db/serial'), '1000\n');
  fs.writeFileSync(file('ca.cnf'), [
    '[ ca ]', 'default_ca = test_ca', '[ test_ca ]', 'database = ca-db/index.txt', 'new_certs_dir = ca-db', 'serial = ca-db/serial',
    'default_md = sha256', 'policy = any', 'unique_subject = no', '[ any ]', 'commonName = supplied', '',
  ].join('\n'));
  ecKey('expired.key');
  openssl('req', '-new', '-key', file('expired.key'), '-subj', '/CN=localhost', '-out', file('expired.csr'));
  openssl('ca', '-batch', '-config', file('ca.cnf'), '-cert', file('ca.pem'), '-keyfile', file('ca.key'), '-in', file('expired.csr'),
    '-out', file('expired.pem'), '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extfile', serverExt, '-notext');
  pkiCache = {
    dir,
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    wrongNameCert: file('wrong.pem'),
    wrongNameKey: file('wrong.key'),
    expiredCert: file('expired.pem'),
    expiredKey: file('expired.key'),
    otherCa: file('other-ca.pem'),
  };
  return pkiCache;
}

afterAll(() => {
  if (pkiCache !== undefined) fs.rmSync(pkiCache.dir, { recursive: true, force: true });
  pkiCache = undefined;
});

const tlsUri = (server: LibcoapServer): string => `coaps+tcp://127.0.0.1:${server.securePort}`;
const get = (session: ClientSession, path = '/time') => lastValueFrom(session.get(path).pipe(timeout(REQUEST_LIMIT)));

/** Expects the session's GET to fail with a CoapTlsError of `reason`, fast, with no key material in the text. */
async function expectTlsFailure(session: ClientSession, reason: string | readonly string[]): Promise<unknown> {
  const { error, elapsed } = await failureOf(session.get('/time'), LOSS_DEADLINE);
  const reasons = typeof reason === 'string' ? [reason] : reason;
  expect(error).toMatchObject({ name: 'CoapTlsError', code: 'COAP_ERR_TLS' });
  expect(reasons).toContain((error as { reason?: string }).reason);
  expect(elapsed).toBeLessThan(LOSS_DEADLINE);
  expect(String((error as Error).message)).not.toContain(KEY);
  expect(String((error as Error).message)).not.toContain('PRIVATE KEY');
  return error;
}

function describeTls(version: LibcoapVersion, flavor: LibcoapFlavor): void {
  const label = `tls-${flavor}-${version.replace(/\./g, '')}`;
  const needs = { flavors: flavor, version };
  const start = (args: readonly string[]): Promise<LibcoapServer> =>
    startLibcoapServer({ flavor, version, args: [...SERVER_ARGS, ...args], outputLimit: OUTPUT_LIMIT });

  describeInterop(`coaps+tcp with PSK, coap-server-${flavor} ${version}`, needs, () => {
    let server: LibcoapServer;
    let context: CoapContext;
    let session: ClientSession | undefined;

    beforeAll(async () => {
      server = await start(['-k', KEY, '-h', HINT]);
      context = new CoapContext();
    });

    afterAll(async () => {
      await context?.free();
      await server?.stop();
    });

    reliableSessionCases({
      label,
      server: () => server,
      session: () => (session ??= context.newClientSessionPsk({ server: tlsUri(server), psk: { identity: IDENTITY, key: KEY } })),
    });

    it('is a tls session', () => {
      session ??= context.newClientSessionPsk({ server: tlsUri(server), psk: { identity: IDENTITY, key: KEY } });
      expect(session.proto).toBe('tls');
    });

    it('hands the server\'s identity hint (-h) to validateIdentityHint, whose credentials are used', async () => {
      const hints: string[] = [];
      const hinted = context.newClientSessionPsk({
        server: tlsUri(server),
        psk: {
          identity: 'not-used',
          key: 'not-the-key',
          validateIdentityHint: (hint) => {
            hints.push(hint);
            return { identity: IDENTITY, key: KEY };
          },
        },
      });
      try {
        expect((await get(hinted)).codeText).toBe('2.05');
        expect(hints).toEqual([HINT]);
      } finally {
        hinted.release();
      }
    });

    it('fails with CoapTlsError bad-psk on a wrong key', async () => {
      const wrong = context.newClientSessionPsk({ server: tlsUri(server), psk: { identity: IDENTITY, key: 'not-the-key' } });
      try {
        const error = await expectTlsFailure(wrong, 'bad-psk');
        expect(String((error as Error).message)).not.toContain('not-the-key');
      } finally {
        wrong.release();
      }
    });
  });

  describeInterop(`coaps+tcp with certificates, coap-server-${flavor} ${version}`, needs, () => {
    /** `-c -j` only: server authentication. */
    let server: LibcoapServer;
    /** `-C ca`: demands a client certificate signed by the CA. */
    let mutual: LibcoapServer;
    let wrongName: LibcoapServer;
    let expired: LibcoapServer;
    let context: CoapContext;
    let pki: TestPki;
    const opened: ClientSession[] = [];

    const pkiSession = (target: LibcoapServer, credentials: PkiCredentials, on = context): ClientSession => {
      const session = on.newClientSessionPki({ server: tlsUri(target), pki: credentials });
      opened.push(session);
      return session;
    };
    const trusting = (extra: PkiCredentials = {}): PkiCredentials => ({ ...extra, pkiKey: { caFile: pki.ca, ...extra.pkiKey } });

    beforeAll(async () => {
      pki = testPki();
      server = await start(['-c', pki.serverCert, '-j', pki.serverKey]);
      mutual = await start(['-c', pki.serverCert, '-j', pki.serverKey, '-C', pki.ca]);
      wrongName = await start(['-c', pki.wrongNameCert, '-j', pki.wrongNameKey]);
      expired = await start(['-c', pki.expiredCert, '-j', pki.expiredKey]);
      context = new CoapContext();
    });

    afterEach(() => {
      for (const session of opened.splice(0)) if (!session.closed) session.release();
    });

    afterAll(async () => {
      await context?.free();
      await Promise.all([server, mutual, wrongName, expired].map((s) => s?.stop()));
    });

    it('GETs /time and PUTs then GETs a resource from a server whose CA is pkiKey.caFile', async () => {
      const session = pkiSession(server, trusting());
      expect(session.proto).toBe('tls');
      expect((await get(session)).codeText).toBe('2.05');
      const value = `pki ${label} ${Date.now()}`;
      const put = await lastValueFrom(session.put(`/pki-${label}`, { payload: value }).pipe(timeout(REQUEST_LIMIT)));
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      expect((await get(session, `/pki-${label}`)).text()).toBe(value);
    });

    it('takes the CA and its own certificate as PEM bytes instead of files', async () => {
      const session = pkiSession(mutual, {
        pkiKey: {
          caFile: new Uint8Array(fs.readFileSync(pki.ca)),
          publicCert: new Uint8Array(fs.readFileSync(pki.clientCert)),
          privateKey: new Uint8Array(fs.readFileSync(pki.clientKey)),
        },
      });
      expect((await get(session)).codeText).toBe('2.05');
    });

    it('rejects a certificate from a CA it does not trust (CoapTlsError untrusted)', async () => {
      await expectTlsFailure(pkiSession(server, { pkiKey: { caFile: pki.otherCa } }), 'untrusted');
    });

    it('verifies a credential-less coaps+tcp session against the roots: the system\'s (untrusted), then setPkiRootCas', async () => {
      const bare = new CoapContext();
      try {
        const untrusted = bare.newClientSession({ server: tlsUri(server) });
        await expectTlsFailure(untrusted, 'untrusted');
        untrusted.release();
        bare.setPkiRootCas(pki.ca);
        const trusted = bare.newClientSession({ server: tlsUri(server) });
        expect((await get(trusted)).codeText).toBe('2.05');
      } finally {
        await bare.free();
      }
    });

    it('connects to an untrusted server only with verifyPeerCert: false', async () => {
      const session = pkiSession(server, { verifyPeerCert: false, pkiKey: { caFile: pki.otherCa } });
      expect((await get(session)).codeText).toBe('2.05');
    });

    it('rejects a certificate for another host name (CoapTlsError name-mismatch)', async () => {
      await expectTlsFailure(pkiSession(wrongName, trusting()), 'name-mismatch');
    });

    it('rejects an expired certificate (CoapTlsError expired), and accepts it with allowExpiredCerts', async () => {
      await expectTlsFailure(pkiSession(expired, trusting()), 'expired');
      const lenient = pkiSession(expired, trusting({ allowExpiredCerts: true }));
      expect((await get(lenient)).codeText).toBe('2.05');
    });

    it('fails with CoapTlsError cn-rejected when validateCn says no, after showing it the server certificate', async () => {
      const seen: { cn: string; depth: number; validated: boolean; der: number }[] = [];
      const session = pkiSession(
        server,
        trusting({
          validateCn: (cn, derCert, depth, validated) => {
            seen.push({ cn, depth, validated, der: derCert.length });
            return false;
          },
        }),
      );
      await expectTlsFailure(session, 'cn-rejected');
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.map((call) => call.cn)).toContain('localhost');
      expect(seen.every((call) => call.der > 0)).toBe(true);
    });

    it('authenticates itself with a client certificate where the server demands one (-C)', async () => {
      const session = pkiSession(mutual, trusting({ pkiKey: { publicCert: pki.clientCert, privateKey: pki.clientKey } }));
      expect((await get(session)).codeText).toBe('2.05');
    });

    it('fails fast, typed, when the server demands a client certificate it lacks', async () => {
      // TLS 1.3: the client finishes its handshake before the server refuses; half the builds only reset (see top).
      const { error, elapsed } = await failureOf(pkiSession(mutual, trusting()).get('/time'), LOSS_DEADLINE);
      expect(elapsed).toBeLessThan(LOSS_DEADLINE);
      expect(error).toMatchObject({ code: expect.stringMatching(/^COAP_ERR_(TLS|TRANSPORT)$/) });
      if ((error as { code?: string }).code === 'COAP_ERR_TLS') {
        expect(['client-cert-required', 'alert', 'closed-by-peer']).toContain((error as { reason?: string }).reason);
      }
    });
  });

  describeInterop(`coaps+tcp: coap-server-${flavor} ${version} SIGKILLed`, needs, () => {
    let context: CoapContext;
    beforeEach(() => {
      context = new CoapContext();
    });
    afterEach(async () => {
      await context?.free();
    });

    connectionLossCases({
      start: () => start(['-k', KEY, '-h', HINT]),
      session: (server) => context.newClientSessionPsk({ server: tlsUri(server), psk: { identity: IDENTITY, key: KEY } }),
      // A FIN or RST without close_notify: the connection is gone (the TLS layer may be the one to say so).
      lossCodes: ['COAP_ERR_TRANSPORT', 'COAP_ERR_TLS'],
    });
  });
}

for (const version of LIBCOAP_VERSIONS) {
  for (const flavor of flavors) describeTls(version, flavor);
}
