/**
 * Certificate revocation lists (RFC 5280 §5) for the transports that verify certificates themselves (DTLS):
 * Node's X509Certificate cannot check a CRL, so this file reads the DER, verifies the CRL's signature under its
 * issuer's key with `crypto.verify`, and answers "revoked", "no CRL", "CRL expired" or "good" for a certificate.
 *
 *    CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
 *    TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name,
 *                               thisUpdate Time, nextUpdate Time OPTIONAL,
 *                               revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, ... } OPTIONAL,
 *                               crlExtensions [0] OPTIONAL }
 *
 * Never throws on malformed input: a CRL that does not parse is skipped (and so does not vouch for anything).
 */
import { verify, type KeyObject, type X509Certificate } from 'node:crypto';

/** One element of DER: its tag and where its content lies. */
interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function readTlv(der: Uint8Array, at: number, limit = der.length): Tlv | undefined {
  if (at + 2 > limit) return undefined;
  const tag = der[at];
  let length = der[at + 1];
  let header = 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || at + 2 + count > limit) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[at + 2 + i];
    header += count;
  }
  const end = at + header + length;
  if (end > limit) return undefined;
  return { tag, start: at, contentStart: at + header, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const found: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    if (child === undefined) return [];
    found.push(child);
    at = child.end;
  }
  return found;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (years 1950..2049) or GeneralizedTime YYYYMMDDHHMMSSZ, in ms. */
function readTime(der: Uint8Array, tlv: Tlv): number | undefined {
  const text = Buffer.from(der.subarray(tlv.contentStart, tlv.end)).toString('latin1');
  const match = (tlv.tag === UTC_TIME ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/ : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/).exec(text);
  if (match === null) return undefined;
  let year = Number(match[1]);
  if (tlv.tag === UTC_TIME) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
}

// AlgorithmIdentifier OIDs (content bytes) -> hash for crypto.verify
const SIGNATURE_HASHES = new Map<string, string>([
  ['2a8648ce3d040302', 'sha256'],
  ['2a8648ce3d040303', 'sha384'],
  ['2a8648ce3d040304', 'sha512'],
  ['2a8648ce3d0401', 'sha1'],
  ['2a864886f70d01010b', 'sha256'],
  ['2a864886f70d01010c', 'sha384'],
  ['2a864886f70d01010d', 'sha512'],
  ['2a864886f70d010105', 'sha1'],
]);

/** A CRL, parsed once. */
export interface ParsedCrl {
  /** The DER of the signed part and its signature, to check against a candidate issuer. */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
  readonly hash: string | undefined;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** Revoked serial numbers, upper-case hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
}

function serialHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase().replace(/^0+(?=.)/, '');
}

/** Parses one DER CRL; undefined when it is not one. */
export function parseCrl(der: Uint8Array): ParsedCrl | undefined {
  const outer = readTlv(der, 0);
  if (outer?.tag !== SEQUENCE) return undefined;
  const [tbs, algorithm, signatureValue] = children(der, outer);
  if (tbs?.tag !== SEQUENCE || algorithm?.tag !== SEQUENCE || signatureValue?.tag !== 0x03) return undefined;
  const oid = children(der, algorithm)[0];
  const hash = oid === undefined ? undefined : SIGNATURE_HASHES.get(Buffer.from(der.subarray(oid.contentStart, oid.end)).toString('hex'));
  const fields = children(der, tbs);
  let index = fields[0]?.tag === INTEGER ? 1 : 0; // version (v2 CRLs only)
  index += 2; // signature, issuer
  const thisUpdateField = fields[index];
  if (thisUpdateField === undefined || (thisUpdateField.tag !== UTC_TIME && thisUpdateField.tag !== GENERALIZED_TIME)) return undefined;
  const thisUpdate = readTime(der, thisUpdateField);
  if (thisUpdate === undefined) return undefined;
  index++;
  let nextUpdate: number | undefined;
  const next = fields[index];
  if (next !== undefined && (next.tag === UTC_TIME || next.tag === GENERALIZED_TIME)) {
    nextUpdate = readTime(der, next);
    index++;
  }
  const revoked = new Set<string>();
  const list = fields[index];
  if (list?.tag === SEQUENCE) {
    for (const entry of children(der, list)) {
      const serial = entry.tag === SEQUENCE ? children(der, entry)[0] : undefined;
      if (serial?.tag === INTEGER) revoked.add(serialHex(der.subarray(serial.contentStart, serial.end)));
    }
  }
  return {
    signed: der.subarray(tbs.start, tbs.end),
    // BIT STRING content: one byte of unused bits, then the signature
    signature: der.subarray(signatureValue.contentStart + 1, signatureValue.end),
    hash,
    thisUpdate,
    nextUpdate,
    revoked,
  };
}

/** Parses PEM CRLs (`-----BEGIN X509 CRL-----`), skipping what does not parse. */
export function parseCrlPems(pems: readonly string[]): ParsedCrl[] {
  const parsed: ParsedCrl[] = [];
  for (const pem of pems) {
    const body = pem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, '');
    const crl = parseCrl(Buffer.from(body, 'base64'));
    if (crl !== undefined) parsed.push(crl);
  }
  return parsed;
}

function signedBy(crl: ParsedCrl, issuerKey: KeyObject): boolean {
  if (crl.hash === undefined) return false;
  try {
    return verify(crl.hash, crl.signed, issuerKey, crl.signature);
  } catch {
    return false;
  }
}

/** What the CRLs say of one certificate. */
export type RevocationStatus = 'good' | 'revoked' | 'no-crl' | 'crl-expired';

/**
 * The revocation status of `cert` issued by `issuer`: from the CRLs signed by the issuer's key (RFC 5280 §6.3).
 * `now` is the clock for the CRL's nextUpdate.
 */
export function revocationStatus(cert: X509Certificate, issuer: X509Certificate, crls: readonly ParsedCrl[], now: number): RevocationStatus {
  const own = crls.filter((crl) => signedBy(crl, issuer.publicKey));
  if (own.length === 0) return 'no-crl';
  const serial = cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, '');
  if (own.some((crl) => crl.revoked.has(serial))) return 'revoked';
  const current = own.some((crl) => crl.thisUpdate <= now && (crl.nextUpdate === undefined || now <= crl.nextUpdate));
  return current ? 'good' : 'crl-expired';
}
