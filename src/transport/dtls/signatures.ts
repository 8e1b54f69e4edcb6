/**
 * TLS 1.2 digital signatures on `node:crypto` (RFC 5246 §4.7, RFC 8422 §5.10 ECDSA in DER, RFC 8446 §4.2.3
 * rsa_pss_rsae_* and rsa_pkcs1_*): verifying the server's ServerKeyExchange and signing the client's
 * CertificateVerify. Never throws: a key or signature that does not fit is a failed verification.
 */
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { SIGNATURE_SCHEMES, type SignatureScheme } from './ecdhe-suites';

function keyOptions(scheme: SignatureScheme, key: KeyObject): KeyObject | { key: KeyObject; padding: number; saltLength: number } {
  if (scheme.key === 'ec') return key;
  // RFC 8446 §4.2.3: PSS with the salt as long as the hash
  return { key, padding: scheme.pss === true ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
}

/** True when `signature` over `data` verifies under `key` with `scheme`, and the key is of the scheme's type. */
export function verifySignature(scheme: SignatureScheme, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== scheme.key) return false;
  try {
    return verify(scheme.hash, data, keyOptions(scheme, key), signature);
  } catch {
    return false;
  }
}

/**
 * The scheme to sign with: the first of ours that the peer accepts and the key can make (an EC key's curve
 * fixes its hash in TLS 1.3 terms; P-256 signs with SHA-256, P-384 with SHA-384).
 */
export function signingScheme(key: KeyObject, accepted: readonly number[]): SignatureScheme | undefined {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return SIGNATURE_SCHEMES.find((scheme) => {
    if (!accepted.includes(scheme.id) || scheme.key !== key.asymmetricKeyType) return false;
    if (scheme.key === 'ec' && curve === 'prime256v1') return scheme.hash === 'sha256';
    if (scheme.key === 'ec' && curve === 'secp384r1') return scheme.hash === 'sha384';
    return true;
  });
}

/** Signs `data` with `scheme`; undefined when the key cannot. */
export function signWith(scheme: SignatureScheme, key: KeyObject, data: Uint8Array): Buffer | undefined {
  try {
    return sign(scheme.hash, data, keyOptions(scheme, key));
  } catch {
    return undefined;
  }
}
