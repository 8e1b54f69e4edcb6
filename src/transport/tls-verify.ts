/**
 * Certificates for CoAP over TLS (Node only): reading the key material of `PkiCredentials` (files or bytes,
 * PEM or DER, PKCS#8, SEC1 or PKCS#1 keys) and verifying the server once the handshake is done.
 *
 * Verification runs in two stages. OpenSSL verifies the chain during the handshake against the trusted roots
 * (with `rejectUnauthorized: false` it records its verdict instead of aborting; Node keeps only the last
 * error). Then {@link verifyServer} decides: no OpenSSL error means the chain is good; an error the options
 * do not excuse rejects the server; an excused one (`allowExpiredCerts`, `allowSelfSigned`, `allowNoCrl`,
 * ...) is only accepted when this file's own walk of the chain finds nothing else wrong (signatures, issuers
 * that are CAs, a trusted root, validity unless excused, the serverAuth purpose). Then the chain depth, the
 * host name or IP (subjectAltName, CN as fallback) and last `validateCn` for each certificate of the chain.
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { parseCertificate } from './certificate-cache';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { checkServerIdentity, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';
import { CoapArgumentError } from '../errors';
import type { PkiCredentials, PkiMaterial } from '../pki-credentials';
import { parseCrlPems, revocationStatus, type ParsedCrl } from './crl';

/** Why the server's certificate was refused: the `reason` of the `CoapTlsError`. */
export type CertificateFailureReason = 'untrusted' | 'expired' | 'revoked' | 'revocation-unknown' | 'name-mismatch' | 'cn-rejected';

/** A refusal: reason, message (never key material) and the error behind it, if any. */
export interface CertificateFailure {
  readonly reason: CertificateFailureReason;
  readonly message: string;
  readonly cause?: unknown;
}

/** What the Node TLS context gets, read once per factory. */
export interface PkiMaterials {
  /** Trusted roots as PEM, or undefined for Node's default trust store. */
  readonly ca: string[] | undefined;
  /** The client certificate chain (PEM) and key (PEM), for mutual authentication. */
  readonly cert: string | undefined;
  readonly key: string | undefined;
  /** CRLs (PEM), when revocation is checked. */
  readonly crl: string[] | undefined;
}

/** How the server is verified (the `PkiCredentials` flags, resolved). */
export interface VerificationRules {
  readonly verifyPeerCert: boolean;
  readonly allowSelfSigned: boolean;
  readonly allowExpiredCerts: boolean;
  /** OpenSSL verification errors the flags excuse. */
  readonly excused: ReadonlySet<string>;
  /** Most intermediate CAs between the server certificate and its root; undefined = any. */
  readonly maxDepth: number | undefined;
  /** The name or IP the certificate must carry. */
  readonly identity: string;
  readonly validateCn: PkiCredentials['validateCn'];
  /** The trusted roots, parsed (only needed when OpenSSL reported an error). */
  readonly anchors: () => readonly X509Certificate[];
  /** Shortest RSA key accepted where no TLS library checks it (DTLS); undefined = any (`allowShortRsaLength`). */
  readonly minRsaBits?: number;
  /** MD5 and SHA-1 certificate signatures accepted where no TLS library checks them (DTLS; `allowBadMdHash`). */
  readonly allowWeakSignatures?: boolean;
  /** Revocation checks where no TLS library does them (DTLS; `checkCertRevocation`): the CRLs and what is excused. */
  readonly revocation?: { readonly crls: () => readonly ParsedCrl[]; readonly allowNoCrl: boolean; readonly allowExpiredCrl: boolean };
}

const PEM_BEGIN = '-----BEGIN ';
const MAX_FILE_SIZE = 4 * 1024 * 1024;

function looksLikePem(bytes: Uint8Array | string): boolean {
  if (typeof bytes === 'string') return bytes.includes(PEM_BEGIN);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(PEM_BEGIN, 0, 'latin1');
}

/** The material's bytes or PEM text: a string is PEM text when it holds a PEM header, else a file path. */
export function readMaterial(value: PkiMaterial, field: string): Buffer | string {
  if (typeof value !== 'string') return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value.includes(PEM_BEGIN)) return value;
  try {
    return readFileSync(value);
  } catch (error) {
    throw new CoapArgumentError(`${field}: cannot read the file ${value} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { field, cause: error });
  }
}

function pemText(material: Buffer | string): string {
  return typeof material === 'string' ? material : material.toString('latin1');
}

function pemBlocks(text: string, label: string): string[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return text.match(pattern) ?? [];
}

/** Every certificate of the material, as PEM (DER is converted). */
function certificates(value: PkiMaterial, field: string): string[] {
  const material = readMaterial(value, field);
  try {
    if (looksLikePem(material)) {
      const blocks = pemBlocks(pemText(material), 'CERTIFICATE');
      if (blocks.length === 0) throw new Error('no CERTIFICATE block');
      for (const block of blocks) parseCertificate(block);
      return blocks;
    }
    return [parseCertificate(material as Buffer).toString()];
  } catch (error) {
    throw new CoapArgumentError(`${field} holds no readable PEM or DER certificate`, { field, cause: error });
  }
}

/** The private key as PEM. DER is tried as PKCS#8, SEC1 and PKCS#1; the key itself never reaches a message. */
export function privateKey(value: PkiMaterial, field: string): string {
  const material = readMaterial(value, field);
  if (looksLikePem(material)) {
    const text = pemText(material);
    if (text.includes('ENCRYPTED PRIVATE KEY') || text.includes('Proc-Type: 4,ENCRYPTED')) {
      throw new CoapArgumentError(`${field} is encrypted: give the key unencrypted`, { field });
    }
    try {
      createPrivateKey(text);
    } catch (error) {
      throw new CoapArgumentError(`${field} holds no readable PEM private key (PKCS#8, SEC1 or PKCS#1)`, { field, cause: codeOnly(error) });
    }
    return text;
  }
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      return createPrivateKey({ key: material as Buffer, format: 'der', type }).export({ format: 'pem', type: 'pkcs8' }) as string;
    } catch {
      // next encoding
    }
  }
  throw new CoapArgumentError(`${field} holds no readable DER private key (PKCS#8, SEC1 or PKCS#1)`, { field });
}

/** CRLs as PEM (DER is wrapped). */
function crls(value: PkiMaterial, field: string): string[] {
  const material = readMaterial(value, field);
  if (looksLikePem(material)) {
    const blocks = pemBlocks(pemText(material), 'X509 CRL');
    if (blocks.length === 0) throw new CoapArgumentError(`${field} holds no X509 CRL block`, { field });
    return blocks;
  }
  const base64 = (material as Buffer).toString('base64').replace(/.{64}/g, '$&\n');
  return [`-----BEGIN X509 CRL-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END X509 CRL-----\n`];
}

/** Certificates of every readable file of a directory (OpenSSL's CApath holds hashed links, PEM or DER). */
function directoryCertificates(dir: string, field: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new CoapArgumentError(`${field}: cannot read the directory ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { field, cause: error });
  }
  const found: string[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    try {
      const stats = statSync(path);
      if (!stats.isFile() || stats.size > MAX_FILE_SIZE) continue;
      found.push(...certificates(path, field));
    } catch {
      // not a certificate (a CRL, a README): skipped, as OpenSSL does
    }
  }
  return found;
}

/**
 * Reads the trusted roots, the client certificate and key, and the CRLs. Throws `CoapArgumentError` naming the
 * field for anything unreadable.
 * - Roots: `pkiKey.caFile` alone when `checkCommonCa` is on (the default); with `checkCommonCa: false` also
 *   the context's roots (`rootCas`); with none of them, Node's default trust store.
 */
export function readPkiMaterials(pki: PkiCredentials, rootCas: { readonly caFile?: string; readonly caDir?: string } | undefined, field: string): PkiMaterials {
  const pkiKey = pki.pkiKey;
  const ca: string[] = [];
  if (pkiKey?.caFile !== undefined) ca.push(...certificates(pkiKey.caFile, `${field}.pkiKey.caFile`));
  const commonCaOnly = pki.checkCommonCa !== false && pkiKey?.caFile !== undefined;
  if (!commonCaOnly && rootCas !== undefined) {
    if (rootCas.caFile !== undefined) ca.push(...certificates(rootCas.caFile, 'rootCas.caFile'));
    if (rootCas.caDir !== undefined) ca.push(...directoryCertificates(rootCas.caDir, 'rootCas.caDir'));
  }
  const cert = pkiKey?.publicCert === undefined ? undefined : certificates(pkiKey.publicCert, `${field}.pkiKey.publicCert`).join('\n');
  const key = pkiKey?.privateKey === undefined ? undefined : privateKey(pkiKey.privateKey, `${field}.pkiKey.privateKey`);
  let crl: string[] | undefined;
  if (pki.checkCertRevocation === true) {
    crl = (pki.crlFiles ?? []).flatMap((file, index) => crls(file, `${field}.crlFiles[${index}]`));
    if (crl.length === 0) {
      if (pki.allowNoCrl !== true) {
        throw new CoapArgumentError(`${field}.checkCertRevocation needs ${field}.crlFiles (CRLs are not fetched), or allowNoCrl: true`, { field: `${field}.crlFiles` });
      }
      crl = undefined;
    }
  }
  // Roots given but none readable (an empty caDir) means nothing is trusted, not the default store.
  const rootsGiven = pkiKey?.caFile !== undefined || (rootCas !== undefined && (rootCas.caFile !== undefined || rootCas.caDir !== undefined));
  return { ca: rootsGiven ? ca : undefined, cert, key, crl };
}

let defaultAnchors: X509Certificate[] | undefined;

/** Parses PEM roots once; Node's bundled store when `pems` is undefined. */
export function parseAnchors(pems: readonly string[] | undefined): X509Certificate[] {
  if (pems === undefined) return (defaultAnchors ??= rootCertificates.flatMap((pem) => tryParse(pem)));
  return pems.flatMap((pem) => tryParse(pem));
}

function tryParse(pem: string): X509Certificate[] {
  try {
    return [parseCertificate(pem)];
  } catch {
    return [];
  }
}

/** The OpenSSL verification errors each flag excuses (libcoap's openssl verify callback). */
export function excusedErrors(pki: PkiCredentials, allowSelfSigned: boolean): Set<string> {
  const excused = new Set<string>();
  if (pki.allowExpiredCerts === true) excused.add('CERT_HAS_EXPIRED').add('CERT_NOT_YET_VALID');
  if (allowSelfSigned) excused.add('DEPTH_ZERO_SELF_SIGNED_CERT');
  if (pki.allowNoCrl === true) excused.add('UNABLE_TO_GET_CRL');
  if (pki.allowExpiredCrl === true) excused.add('CRL_HAS_EXPIRED').add('CRL_NOT_YET_VALID');
  if (pki.allowBadMdHash === true) excused.add('CA_MD_TOO_WEAK');
  if (pki.allowShortRsaLength === true) excused.add('CA_KEY_TOO_SMALL').add('EE_KEY_TOO_SMALL');
  return excused;
}

const EXPIRY_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);
const REVOCATION_UNKNOWN_ERRORS = new Set([
  'UNABLE_TO_GET_CRL',
  'CRL_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'UNABLE_TO_GET_CRL_ISSUER',
  'CRL_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DIFFERENT_CRL_SCOPE',
]);
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** The chain of the handshake: leaf first, each certificate's issuer next (as Node completed it from the roots). */
function peerChain(peer: PeerCertificate & { issuerCertificate?: PeerCertificate }): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer; cert?.raw !== undefined; cert = cert.issuerCertificate) {
    const parsed = parseCertificate(cert.raw);
    if (seen.has(parsed.fingerprint256)) break;
    seen.add(parsed.fingerprint256);
    chain.push(parsed);
    if (cert.issuerCertificate === cert) break;
  }
  return chain;
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Self-signed as OpenSSL sees it: self-issued and signed by its own key (key usage aside: end-entity certificates lack keyCertSign). */
function selfSigned(cert: X509Certificate): boolean {
  try {
    return cert.subject === cert.issuer && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

function timeValid(cert: X509Certificate, now: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return !(now < from) && !(now > to);
}

/** This file's own walk: from the leaf through the presented certificates to a trusted root. */
interface ChainWalk {
  readonly path: X509Certificate[];
  readonly trusted: boolean;
  readonly selfSignedLeaf: boolean;
  /** Per certificate of `path`: nothing wrong with it (validity excepted when excused). */
  readonly sound: boolean[];
  readonly expired: boolean;
  readonly problem: string | undefined;
}

function walkChain(presented: readonly X509Certificate[], anchors: readonly X509Certificate[], now: number, allowExpired: boolean): ChainWalk {
  const leaf = presented[0];
  const path = [leaf];
  const isAnchor = (cert: X509Certificate): boolean => anchors.some((anchor) => anchor.fingerprint256 === cert.fingerprint256);
  let trusted = false;
  for (let current = leaf; path.length <= 32; ) {
    if (isAnchor(current)) {
      trusted = true;
      break;
    }
    const anchor = anchors.find((candidate) => issuedBy(current, candidate));
    if (anchor !== undefined) {
      path.push(anchor);
      trusted = true;
      break;
    }
    const next = presented.find((candidate) => !path.includes(candidate) && issuedBy(current, candidate));
    if (next === undefined) break;
    path.push(next);
    current = next;
  }
  const selfSignedLeaf = path.length === 1 && selfSigned(leaf);
  let problem: string | undefined;
  let expired = false;
  const sound = path.map((cert, depth) => {
    if (!timeValid(cert, now)) {
      expired = true;
      if (!allowExpired) return false;
    }
    if (depth > 0 && !cert.ca) {
      problem ??= `the certificate at depth ${depth - 1} is issued by a certificate that is not a CA`;
      return false;
    }
    return true;
  });
  const purposes = leaf.keyUsage;
  if (Array.isArray(purposes) && purposes.length > 0 && !purposes.includes(SERVER_AUTH) && !purposes.includes(ANY_EXTENDED_KEY_USAGE)) {
    problem ??= 'the server certificate is not meant for TLS servers (extended key usage lacks serverAuth)';
    sound[0] = false;
  }
  return { path, trusted, selfSignedLeaf, sound, expired, problem };
}

/** The CN of a certificate subject (`'C=DE\nCN=host'`), or '' when it has none. */
function commonName(cert: X509Certificate): string {
  let cn = '';
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) cn = line.slice(3);
  return cn;
}

/** RFC 6125 §6.4: subjectAltName first; the CN only when the certificate has no subjectAltName at all. */
function identityMismatch(identity: string, peer: PeerCertificate): Error | undefined {
  const error = checkServerIdentity(identity, peer);
  if (error === undefined) return undefined;
  // Node falls back to the CN for DNS names but never for IP addresses; libcoap (OpenSSL) does for both.
  const cn = peer.subject?.CN as string | string[] | undefined;
  if (isIP(identity) !== 0 && (peer.subjectaltname === undefined || peer.subjectaltname === '') && (Array.isArray(cn) ? cn.includes(identity) : cn === identity)) {
    return undefined;
  }
  return error;
}

function verificationCode(socket: TLSSocket): string | undefined {
  const error = socket.authorizationError as unknown;
  if (error === null || error === undefined) return undefined;
  if (typeof error === 'string') return error;
  return String((error as { code?: unknown }).code ?? (error as Error).message);
}

function describeCode(code: string, where: string): CertificateFailure {
  if (EXPIRY_ERRORS.has(code)) {
    return { reason: 'expired', message: `the certificate of ${where} has expired or is not yet valid (${code}); allowExpiredCerts accepts that` };
  }
  if (code === 'CERT_REVOKED') return { reason: 'revoked', message: `the certificate of ${where} is revoked (${code})` };
  if (REVOCATION_UNKNOWN_ERRORS.has(code)) {
    return { reason: 'revocation-unknown', message: `the revocation status of the certificate of ${where} cannot be checked (${code}); allowNoCrl / allowExpiredCrl accept that` };
  }
  if (code === 'HOSTNAME_MISMATCH' || code === 'IP_ADDRESS_MISMATCH') return { reason: 'name-mismatch', message: `the certificate of ${where} does not name it (${code})` };
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return { reason: 'untrusted', message: `the certificate of ${where} is self-signed and not trusted (${code}); allowSelfSigned accepts that` };
  }
  return { reason: 'untrusted', message: `the certificate of ${where} is not trusted (${code}): it does not chain to a trusted CA` };
}

/**
 * Decides whether the server of a finished handshake is who it should be. Returns undefined when it is,
 * else why not. `now` is the scheduler's time (validity of excused chains).
 */
export function verifyServer(socket: TLSSocket, rules: VerificationRules, now: number, where: string): CertificateFailure | undefined {
  const peer = socket.getPeerCertificate(true);
  if (peer === null || peer === undefined || peer.raw === undefined) return { reason: 'untrusted', message: `${where} sent no certificate` };
  const chain = peerChain(peer);
  const code = verificationCode(socket);
  let path: X509Certificate[];
  let sound: boolean[];
  if (!rules.verifyPeerCert) {
    path = chain;
    sound = chain.map(() => code === undefined);
  } else if (code === undefined) {
    path = chain;
    sound = chain.map(() => true);
  } else {
    const walk = walkChain(chain, rules.anchors(), now, rules.allowExpiredCerts);
    const untrusted = !walk.trusted && !(walk.selfSignedLeaf && rules.allowSelfSigned);
    if (!rules.excused.has(code)) {
      // OpenSSL keeps the last error only (an expired certificate from an unknown CA says CERT_HAS_EXPIRED):
      // the walk tells the more fundamental 'untrusted' apart.
      if (untrusted && !EXPIRY_ERRORS.has(code)) return describeCode(code, where);
      if (untrusted) return describeCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE', where);
      return describeCode(code, where);
    }
    if (untrusted) return describeCode(walk.selfSignedLeaf ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', where);
    if (walk.expired && !rules.allowExpiredCerts) return describeCode('CERT_HAS_EXPIRED', where);
    if (walk.problem !== undefined) return { reason: 'untrusted', message: `the certificate of ${where} is not acceptable: ${walk.problem}` };
    path = walk.path;
    sound = walk.sound;
  }
  return checkPathIdentity(path, sound, peer, rules, where);
}

/**
 * The checks after the chain itself, shared by TLS and DTLS: the chain depth, the host name or IP, and last
 * `validateCn` for each certificate of `path` (leaf first), as libcoap calls it.
 */
function checkPathIdentity(
  path: readonly X509Certificate[],
  sound: readonly boolean[],
  peer: Pick<PeerCertificate, 'subject' | 'subjectaltname'>,
  rules: VerificationRules,
  where: string,
): CertificateFailure | undefined {
  if (rules.verifyPeerCert) {
    // libcoap: a certificate deeper than cert_chain_verify_depth + 1 fails (depth 0 is the server's own)
    if (rules.maxDepth !== undefined && path.length - 1 > rules.maxDepth + 1) {
      return {
        reason: 'untrusted',
        message: `the certificate chain of ${where} has ${path.length - 2} intermediate CA(s), more than certChainVerifyDepth ${rules.maxDepth} allows`,
      };
    }
    const mismatch = identityMismatch(rules.identity, peer as PeerCertificate);
    if (mismatch !== undefined) {
      return { reason: 'name-mismatch', message: `the certificate of ${where} is not for ${rules.identity}: ${mismatch.message}`, cause: mismatch };
    }
  }
  const validateCn = rules.validateCn;
  if (validateCn !== undefined) {
    for (let depth = 0; depth < path.length; depth++) {
      const cert = path[depth];
      const cn = commonName(cert);
      let accepted: boolean;
      try {
        accepted = validateCn(cn, new Uint8Array(cert.raw), depth, sound[depth]) === true;
      } catch (error) {
        return { reason: 'cn-rejected', message: `validateCn threw for the certificate at depth ${depth} (CN ${cn}) of ${where}`, cause: error };
      }
      if (!accepted) return { reason: 'cn-rejected', message: `validateCn rejected the certificate at depth ${depth} (CN ${cn}) of ${where}` };
    }
  }
  return undefined;
}

const KEY_USAGE_OID = Buffer.from('0603551d0f', 'hex');
const DIGITAL_SIGNATURE = 0x8000;
const KEY_CERT_SIGN = 0x0400;

/**
 * The keyUsage bits of a certificate (RFC 5280 §4.2.1.3; digitalSignature = 0x8000, keyCertSign = 0x0400), or
 * undefined when it has no keyUsage extension. Node's X509Certificate does not expose them; read from the DER:
 * OID 2.5.29.15, optional critical BOOLEAN, OCTET STRING { BIT STRING }.
 */
function keyUsageBits(cert: X509Certificate): number | undefined {
  const der = cert.raw;
  const at = der.indexOf(KEY_USAGE_OID);
  if (at < 0) return undefined;
  let i = at + KEY_USAGE_OID.length;
  if (der[i] === 0x01 && der[i + 1] === 0x01) i += 3;
  if (der[i] !== 0x04 || der[i + 2] !== 0x03) return undefined;
  const length = der[i + 3];
  return ((length >= 2 ? der[i + 5] : 0) << 8) | (length >= 3 ? der[i + 6] : 0);
}

/** RFC 5280 §4.2.1.3: the server signs its ServerKeyExchange (digitalSignature); each issuer signs certificates (keyCertSign). */
function keyUsageProblem(path: readonly X509Certificate[]): string | undefined {
  const leaf = keyUsageBits(path[0]);
  if (leaf !== undefined && (leaf & DIGITAL_SIGNATURE) === 0) return 'the server certificate\'s key usage does not allow digitalSignature';
  for (let depth = 1; depth < path.length; depth++) {
    const bits = keyUsageBits(path[depth]);
    if (bits !== undefined && (bits & KEY_CERT_SIGN) === 0) return `the CA certificate at depth ${depth} does not allow keyCertSign`;
  }
  return undefined;
}

/** Reads a DER length at `at`: [value length, header bytes], or undefined when it does not fit. */
function derLength(der: Uint8Array, at: number): [number, number] | undefined {
  const first = der[at];
  if (first === undefined) return undefined;
  if (first < 0x80) return [first, 1];
  const count = first & 0x7f;
  if (count === 0 || count > 3 || at + count >= der.length) return undefined;
  let length = 0;
  for (let i = 1; i <= count; i++) length = length * 256 + der[at + i];
  return [length, 1 + count];
}

// md5WithRSAEncryption, sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1 (DER of the OID with its tag)
const WEAK_SIGNATURE_OIDS = ['06092a864886f70d010104', '06092a864886f70d010105', '06072a8648ce3d0401', '06072a8648ce380403'].map((hex) => Buffer.from(hex, 'hex'));

/**
 * True when the certificate is signed with MD5 or SHA-1 (RFC 5280 §4.1.1.2 signatureAlgorithm, after the
 * tbsCertificate): `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, ... }, ... }`.
 */
function weakSignature(cert: X509Certificate): boolean {
  const der = cert.raw;
  const outer = der[0] === 0x30 ? derLength(der, 1) : undefined;
  if (outer === undefined) return false;
  const tbsAt = 1 + outer[1];
  const tbs = der[tbsAt] === 0x30 ? derLength(der, tbsAt + 1) : undefined;
  if (tbs === undefined) return false;
  const algorithmAt = tbsAt + 1 + tbs[1] + tbs[0];
  const algorithm = der[algorithmAt] === 0x30 ? derLength(der, algorithmAt + 1) : undefined;
  if (algorithm === undefined) return false;
  const oid = der.subarray(algorithmAt + 1 + algorithm[1]);
  return WEAK_SIGNATURE_OIDS.some((weak) => oid.subarray(0, weak.length).equals(weak));
}

/**
 * RFC 5280 §6.3 for every certificate of the path that has its issuer in the path (OpenSSL's CRL_CHECK_ALL, as
 * libcoap sets it): revoked fails; no CRL or an expired one fails unless `allowNoCrl` / `allowExpiredCrl`.
 */
function revocationProblem(path: readonly X509Certificate[], revocation: NonNullable<VerificationRules['revocation']>, now: number, where: string): CertificateFailure | undefined {
  const crls = revocation.crls();
  for (let depth = 0; depth + 1 < path.length; depth++) {
    const status = revocationStatus(path[depth], path[depth + 1], crls, now);
    if (status === 'revoked') return describeCode('CERT_REVOKED', where);
    if (status === 'no-crl' && !revocation.allowNoCrl) return describeCode('UNABLE_TO_GET_CRL', where);
    if (status === 'crl-expired' && !revocation.allowExpiredCrl) return describeCode('CRL_HAS_EXPIRED', where);
  }
  return undefined;
}

/** The subject CN and subjectAltName of a certificate, in the shape `checkServerIdentity` reads. */
function identityFields(cert: X509Certificate): Pick<PeerCertificate, 'subject' | 'subjectaltname'> {
  const cn = commonName(cert);
  return { subject: (cn === '' ? {} : { CN: cn }) as PeerCertificate['subject'], subjectaltname: cert.subjectAltName ?? '' };
}

/**
 * Decides whether the certificates a server presented (leaf first, as received, with no verdict of a TLS
 * library) identify it: this file's own walk to a trusted root (signatures, CA flags, validity unless
 * `allowExpiredCerts`, the serverAuth purpose, self-signed only with `allowSelfSigned`), then the same depth,
 * name and `validateCn` checks as {@link verifyServer}. Used by the DTLS client, which has no OpenSSL underneath.
 * Revocation is checked against `pki.crlFiles` when `checkCertRevocation` is on (`crl.ts`).
 * @param now - the scheduler's time, for validity dates
 */
export function verifyCertificateChain(presented: readonly X509Certificate[], rules: VerificationRules, now: number, where: string): CertificateFailure | undefined {
  if (presented.length === 0) return { reason: 'untrusted', message: `${where} sent no certificate` };
  const walk = walkChain(presented, rules.anchors(), now, rules.allowExpiredCerts);
  let path: X509Certificate[] = walk.path;
  let sound = walk.sound.map((ok, depth) => ok && (walk.trusted || (depth === 0 && walk.selfSignedLeaf && rules.allowSelfSigned)));
  if (!rules.verifyPeerCert) {
    path = [...presented];
    sound = path.map((_, depth) => sound[depth] ?? false);
  } else {
    const untrusted = !walk.trusted && !(walk.selfSignedLeaf && rules.allowSelfSigned);
    if (untrusted) return describeCode(walk.selfSignedLeaf ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', where);
    if (walk.expired && !rules.allowExpiredCerts) return describeCode('CERT_HAS_EXPIRED', where);
    const problem = walk.problem ?? keyUsageProblem(walk.path);
    if (problem !== undefined) return { reason: 'untrusted', message: `the certificate of ${where} is not acceptable: ${problem}` };
    // a trust anchor's own signature does not matter; every certificate it vouches for must not use MD5 or SHA-1
    const weak = rules.allowWeakSignatures === true ? -1 : walk.path.findIndex((cert, depth) => !(walk.trusted && depth === walk.path.length - 1) && weakSignature(cert));
    if (weak >= 0) {
      return { reason: 'untrusted', message: `the certificate at depth ${weak} of ${where} is signed with MD5 or SHA-1; allowBadMdHash accepts that` };
    }
    const revoked = rules.revocation === undefined ? undefined : revocationProblem(walk.path, rules.revocation, now, where);
    if (revoked !== undefined) return revoked;
    const shortRsa = rules.minRsaBits === undefined ? undefined : path.findIndex((cert) => (cert.publicKey.asymmetricKeyDetails?.modulusLength ?? Infinity) < rules.minRsaBits!);
    if (shortRsa !== undefined && shortRsa >= 0) {
      return { reason: 'untrusted', message: `the certificate at depth ${shortRsa} of ${where} has an RSA key shorter than ${rules.minRsaBits} bits; allowShortRsaLength accepts that` };
    }
  }
  return checkPathIdentity(path, sound, identityFields(presented[0]), rules, where);
}

/**
 * The verification rules of certificate credentials, as TLS and DTLS both apply them (libcoap
 * `coap_dtls_pki_t`): `identity` is `pki.clientSni` or the host.
 */
export function verificationRules(pki: PkiCredentials, materials: PkiMaterials, host: string): VerificationRules {
  const allowSelfSigned = pki.allowSelfSigned === true && !(pki.checkCommonCa !== false && pki.pkiKey?.caFile !== undefined);
  let anchors: X509Certificate[] | undefined;
  let crls: ParsedCrl[] | undefined;
  return {
    verifyPeerCert: pki.verifyPeerCert !== false,
    allowSelfSigned,
    allowExpiredCerts: pki.allowExpiredCerts === true,
    excused: excusedErrors(pki, allowSelfSigned),
    maxDepth: pki.certChainValidation === false ? undefined : (pki.certChainVerifyDepth ?? 10),
    identity: pki.clientSni ?? host,
    validateCn: pki.validateCn,
    anchors: () => (anchors ??= parseAnchors(materials.ca)),
    minRsaBits: pki.allowShortRsaLength === true ? undefined : 2048,
    allowWeakSignatures: pki.allowBadMdHash === true,
    revocation:
      pki.checkCertRevocation === true
        ? { crls: () => (crls ??= parseCrlPems(materials.crl ?? [])), allowNoCrl: pki.allowNoCrl === true, allowExpiredCrl: pki.allowExpiredCrl === true }
        : undefined,
  };
}

/** An error reduced to its code (an OpenSSL message may quote input). */
function codeOnly(error: unknown): Error {
  const code = (error as { code?: unknown })?.code;
  return new Error(typeof code === 'string' ? code : 'unreadable key');
}
