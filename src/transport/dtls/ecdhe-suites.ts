/**
 * The certificate (ECDHE) suites of rxcoap's own DTLS 1.2 client, groups and signature schemes it offers.
 * Every suite is AEAD with the SHA-256 PRF; record overhead = 13 header + 8 explicit nonce + tag.
 */
import type { AeadSpec } from './record-crypto';

/** Names of the certificate suites the client can offer. */
export type DtlsPkiCipherSuite =
  | 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'
  | 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM'
  | 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'
  | 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256';

/** One suite: IANA code point, how the server signs, how records are sealed. */
export interface EcdheSuiteInfo {
  readonly name: DtlsPkiCipherSuite;
  readonly id: number;
  /** The server's certificate key type (RFC 8422 §2: ECDHE_ECDSA, RFC 5246: ECDHE_RSA). */
  readonly signature: 'ecdsa' | 'rsa';
  readonly aead: AeadSpec;
  readonly overhead: number;
}

const CCM_8: AeadSpec = { cipher: 'aes-128-ccm', keyLength: 16, tagLength: 8 };
const CCM: AeadSpec = { cipher: 'aes-128-ccm', keyLength: 16, tagLength: 16 };
const GCM: AeadSpec = { cipher: 'aes-128-gcm', keyLength: 16, tagLength: 16 };

const table: readonly EcdheSuiteInfo[] = [
  // RFC 7252 §9.1.3.2: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 is CoAP's mandatory certificate suite (RFC 7251)
  { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', id: 0xc0ae, signature: 'ecdsa', aead: CCM_8, overhead: 13 + 8 + 8 },
  { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', id: 0xc0ac, signature: 'ecdsa', aead: CCM, overhead: 13 + 8 + 16 },
  { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', id: 0xc02b, signature: 'ecdsa', aead: GCM, overhead: 13 + 8 + 16 },
  { name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', id: 0xc02f, signature: 'rsa', aead: GCM, overhead: 13 + 8 + 16 },
];

/** Offered by default, most preferred first: RFC 7252's CCM_8, then CCM and GCM (OpenSSL 3 servers at their default security level refuse CCM_8). */
export const DEFAULT_PKI_CIPHER_SUITES: readonly DtlsPkiCipherSuite[] = table.map((suite) => suite.name);

const byName = new Map<string, EcdheSuiteInfo>(table.map((suite) => [suite.name, suite]));
const byId = new Map<number, EcdheSuiteInfo>(table.map((suite) => [suite.id, suite]));

/** The suite of this IANA name, or undefined. */
export function ecdheSuiteByName(name: string): EcdheSuiteInfo | undefined {
  return byName.get(name);
}

/** The suite of this code point, or undefined. */
export function ecdheSuiteById(id: number): EcdheSuiteInfo | undefined {
  return byId.get(id);
}

/** RFC 8422 §5.1.1 / RFC 7748: the named groups offered, most preferred first. */
export const NamedGroup = { secp256r1: 23, x25519: 29 } as const;
export const OFFERED_GROUPS: readonly number[] = [NamedGroup.x25519, NamedGroup.secp256r1];

/** RFC 5246 §7.4.1.4.1 / RFC 8446 §4.2.3 signature schemes: hash and padding for `crypto.verify`. */
export interface SignatureScheme {
  readonly id: number;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly key: 'ec' | 'rsa';
  /** RSA padding: PKCS#1 v1.5 or PSS with salt = hash length (rsa_pss_rsae_*). */
  readonly pss?: boolean;
}

/** The schemes offered in signature_algorithms, most preferred first. */
export const SIGNATURE_SCHEMES: readonly SignatureScheme[] = [
  { id: 0x0403, hash: 'sha256', key: 'ec' },
  { id: 0x0503, hash: 'sha384', key: 'ec' },
  { id: 0x0603, hash: 'sha512', key: 'ec' },
  { id: 0x0804, hash: 'sha256', key: 'rsa', pss: true },
  { id: 0x0805, hash: 'sha384', key: 'rsa', pss: true },
  { id: 0x0806, hash: 'sha512', key: 'rsa', pss: true },
  { id: 0x0401, hash: 'sha256', key: 'rsa' },
  { id: 0x0501, hash: 'sha384', key: 'rsa' },
  { id: 0x0601, hash: 'sha512', key: 'rsa' },
];

const schemeById = new Map<number, SignatureScheme>(SIGNATURE_SCHEMES.map((scheme) => [scheme.id, scheme]));

/** The scheme of this code point, or undefined when it is not offered. */
export function signatureSchemeById(id: number): SignatureScheme | undefined {
  return schemeById.get(id);
}
