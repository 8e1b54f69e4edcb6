/**
 * `verifyCertificateChain` (tls-verify.ts), the certificate check of the DTLS client, which has no OpenSSL verdict
 * underneath: the same `pki` rules as over TLS, on the fixtures of spec/fixtures/pki (and two certificates made
 * here with a bad key usage), with no network.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PkiCredentials } from '../../../src/pki-credentials';
import { readPkiMaterials, verificationRules, verifyCertificateChain } from '../../../src/transport/tls-verify';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'pki');
const fixture = (name: string): string => path.join(FIXTURES, name);
const chainOf = (file: string): X509Certificate[] =>
  (fs.readFileSync(file, 'latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));

function verdict(presented: string, pki: PkiCredentials, host = '127.0.0.1', rootCas?: { caFile?: string }, now = Date.now()) {
  // The time of the check, not of the module's load: beforeAll makes certificates valid from the second it runs.
  const rules = verificationRules(pki, readPkiMaterials(pki, rootCas, 'pki'), host);
  return verifyCertificateChain(chainOf(presented), rules, now, 'the server');
}

const trusting = (extra: PkiCredentials = {}): PkiCredentials => ({ ...extra, pkiKey: { caFile: fixture('ca.pem'), ...extra.pkiKey } });

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-dtls-ku-'));
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('ku.key'));
  openssl('req', '-new', '-key', file('ku.key'), '-subj', '/CN=localhost', '-out', file('ku.csr'));
  fs.writeFileSync(file('ku.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,keyEncipherment\n');
  openssl('x509', '-req', '-in', file('ku.csr'), '-CA', fixture('ca.pem'), '-CAkey', fixture('ca.key'), '-CAcreateserial', '-CAserial', file('ca.srl'), '-days', '30', '-extfile', file('ku.ext'), '-out', file('ku.pem'));
  // a SHA-1 signature by the CA, and a self-signed RSA-1024 certificate
  fs.writeFileSync(file('ok.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-sha1', '-in', file('ku.csr'), '-CA', fixture('ca.pem'), '-CAkey', fixture('ca.key'), '-CAserial', file('ca.srl'), '-days', '30', '-extfile', file('ok.ext'), '-out', file('sha1.pem'));
  openssl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', file('short.key'), '-out', file('short.pem'), '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('verifyCertificateChain (DTLS)', () => {
  it('accepts the good server for 127.0.0.1, ::1 and localhost, and nothing else', () => {
    expect(verdict(fixture('server.pem'), trusting())).toBeUndefined();
    expect(verdict(fixture('server.pem'), trusting(), '::1')).toBeUndefined();
    expect(verdict(fixture('server.pem'), trusting(), 'localhost')).toBeUndefined();
    expect(verdict(fixture('server.pem'), trusting(), 'example.com')).toMatchObject({ reason: 'name-mismatch' });
    expect(verdict(fixture('server.pem'), trusting({ clientSni: 'example.com' }))).toMatchObject({ reason: 'name-mismatch' });
  });

  it('falls back to the CN only when there is no subjectAltName (RFC 6125 §6.4)', () => {
    expect(verdict(fixture('cn-only.pem'), trusting(), 'localhost')).toBeUndefined();
    expect(verdict(fixture('wrong-name.pem'), trusting(), 'localhost')).toMatchObject({ reason: 'name-mismatch' });
  });

  it('refuses a chain to a CA it does not trust, and takes the context roots only with checkCommonCa: false', () => {
    expect(verdict(fixture('untrusted.pem'), trusting())).toMatchObject({ reason: 'untrusted' });
    expect(verdict(fixture('server.pem'), { pkiKey: { caFile: fixture('other-ca.pem') } })).toMatchObject({ reason: 'untrusted' });
    expect(verdict(fixture('server.pem'), { pkiKey: { caFile: fixture('other-ca.pem') } }, '127.0.0.1', { caFile: fixture('ca.pem') })).toMatchObject({ reason: 'untrusted' });
    expect(verdict(fixture('server.pem'), { checkCommonCa: false, pkiKey: { caFile: fixture('other-ca.pem') } }, '127.0.0.1', { caFile: fixture('ca.pem') })).toBeUndefined();
    expect(verdict(fixture('server.pem'), {}, '127.0.0.1', { caFile: fixture('ca.pem') })).toBeUndefined();
  });

  it('refuses an expired certificate unless allowExpiredCerts', () => {
    expect(verdict(fixture('expired.pem'), trusting())).toMatchObject({ reason: 'expired' });
    expect(verdict(fixture('expired.pem'), trusting({ allowExpiredCerts: true }))).toBeUndefined();
  });

  it('refuses a self-signed certificate unless allowSelfSigned (without a common CA)', () => {
    expect(verdict(fixture('self-signed.pem'), {})).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('self-signed') });
    expect(verdict(fixture('self-signed.pem'), { allowSelfSigned: true })).toBeUndefined();
  });

  it('walks a chain through its intermediate, within certChainVerifyDepth', () => {
    expect(verdict(fixture('leaf.pem'), trusting())).toMatchObject({ reason: 'untrusted' });
    expect(verdict(fixture('server-chain.pem'), trusting())).toBeUndefined();
    expect(verdict(fixture('server-chain.pem'), trusting({ certChainVerifyDepth: 0 }))).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('certChainVerifyDepth') });
  });

  it('calls validateCn for each certificate of the path, leaf first, with the verdict so far', () => {
    const calls: [string, number, boolean][] = [];
    expect(verdict(fixture('server-chain.pem'), trusting({ validateCn: (cn, _der, depth, validated) => (calls.push([cn, depth, validated]), true) }))).toBeUndefined();
    expect(calls.map(([, depth, validated]) => [depth, validated])).toEqual([[0, true], [1, true], [2, true]]);
    expect(calls[0][0]).toBe('localhost');
    expect(verdict(fixture('server.pem'), trusting({ validateCn: (_cn, _der, depth) => depth !== 1 }))).toMatchObject({ reason: 'cn-rejected' });
  });

  it('skips every check with verifyPeerCert: false, but still asks validateCn', () => {
    expect(verdict(fixture('untrusted.pem'), { verifyPeerCert: false }, 'example.com')).toBeUndefined();
    expect(verdict(fixture('untrusted.pem'), { verifyPeerCert: false, validateCn: () => false })).toMatchObject({ reason: 'cn-rejected' });
  });

  it('refuses a server certificate whose key usage does not allow digitalSignature (RFC 5280 §4.2.1.3)', () => {
    expect(verdict(path.join(dir, 'ku.pem'), trusting())).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('digitalSignature') });
  });

  it('refuses a SHA-1 signature unless allowBadMdHash, and an RSA key under 2048 bits unless allowShortRsaLength', () => {
    expect(verdict(path.join(dir, 'sha1.pem'), trusting())).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('SHA-1') });
    expect(verdict(path.join(dir, 'sha1.pem'), trusting({ allowBadMdHash: true }))).toBeUndefined();
    const short = { pkiKey: { caFile: path.join(dir, 'short.pem') }, checkCommonCa: true };
    expect(verdict(path.join(dir, 'short.pem'), short)).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('shorter than 2048') });
    expect(verdict(path.join(dir, 'short.pem'), { ...short, allowShortRsaLength: true })).toBeUndefined();
  });

  it('checks revocation against crlFiles (RFC 5280 §6.3): revoked, good, no CRL, an expired CRL, a CRL of another CA', () => {
    const withCrl = (extra: PkiCredentials = {}): PkiCredentials => trusting({ checkCertRevocation: true, crlFiles: [fixture('crl.pem')], ...extra });
    expect(verdict(fixture('revoked.pem'), withCrl())).toMatchObject({ reason: 'revoked' });
    expect(verdict(fixture('revoked.pem'), trusting())).toBeUndefined();
    expect(verdict(fixture('server.pem'), withCrl())).toBeUndefined();
    // the CRL is signed by ca: for a chain through the intermediate, the intermediate's CRL is missing
    expect(verdict(fixture('server-chain.pem'), withCrl())).toMatchObject({ reason: 'revocation-unknown' });
    expect(verdict(fixture('server-chain.pem'), withCrl({ allowNoCrl: true }))).toBeUndefined();
    expect(verdict(fixture('server.pem'), trusting({ checkCertRevocation: true, allowNoCrl: true }))).toBeUndefined();
    // in 2130 the CRL (next update 2126) has expired (and the certificate too: excused here)
    const later = Date.UTC(2130, 0, 1);
    expect(verdict(fixture('server.pem'), withCrl({ allowExpiredCerts: true }), '127.0.0.1', undefined, later)).toMatchObject({ reason: 'revocation-unknown', message: expect.stringContaining('CRL_HAS_EXPIRED') });
    expect(verdict(fixture('server.pem'), withCrl({ allowExpiredCerts: true, allowExpiredCrl: true }), '127.0.0.1', undefined, later)).toBeUndefined();
    // a CRL whose signature does not verify under the issuer's key vouches for nothing
    const pem = fs.readFileSync(fixture('crl.pem'), 'latin1');
    const der = Buffer.from(pem.replace(/-----(BEGIN|END) X509 CRL-----|\s/g, ''), 'base64');
    der[der.length - 3] ^= 0x01;
    expect(verdict(fixture('revoked.pem'), trusting({ checkCertRevocation: true, crlFiles: [new Uint8Array(der)] }))).toMatchObject({ reason: 'revocation-unknown' });
  });

  it('refuses a client certificate (extendedKeyUsage clientAuth only) presented as a server certificate', () => {
    expect(verdict(fixture('client.pem'), trusting(), 'rxcoap-client')).toMatchObject({ reason: 'untrusted', message: expect.stringContaining('serverAuth') });
  });
});
