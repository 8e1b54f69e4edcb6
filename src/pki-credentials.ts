/**
 * Certificate (PKI) credentials of TLS and DTLS sessions: libcoap's `coap_dtls_pki_t` in camelCase. The core
 * only checks their shape (it is browser-safe: files are read by the Node transports that use them).
 */
import { CoapArgumentError } from './errors';
import { checkKnownKeys, checkOptionalBoolean, checkOptionalFunction, checkOptionalInteger, invalidArgument, isRecord } from './validate';

/** Key material: a file path, or the bytes/text themselves (PEM or DER; SEC1 or PKCS#8 private keys). */
export type PkiMaterial = string | Uint8Array;

/** libcoap `coap_dtls_key_t` for the client's own certificate and trusted CA. */
export interface PkiKey {
  /** How the material is given (libcoap `COAP_PKI_KEY_PEM`, `_PEM_BUF`, `_ASN1`): inferred when absent. */
  readonly keyType?: 'pem' | 'pem-buffer' | 'asn1';
  /** CA certificate(s) to trust for this session (in addition to the context's roots). */
  readonly caFile?: PkiMaterial;
  /** The client certificate (mutual authentication). */
  readonly publicCert?: PkiMaterial;
  /** The client private key. */
  readonly privateKey?: PkiMaterial;
}

/** Certificate credentials and verification rules of a session (libcoap `coap_dtls_pki_t`). */
export interface PkiCredentials {
  /** Verify the server's certificate. `false` is the only way to skip every check (a warning event says so). @defaultValue true */
  readonly verifyPeerCert?: boolean;
  /** The server certificate must chain to `pkiKey.caFile` (not just to any trusted root). @defaultValue true */
  readonly checkCommonCa?: boolean;
  /** Accept a self-signed server certificate. @defaultValue false */
  readonly allowSelfSigned?: boolean;
  /** Accept an expired (or not yet valid) server certificate. @defaultValue false */
  readonly allowExpiredCerts?: boolean;
  /** Validate the certificate chain. @defaultValue true */
  readonly certChainValidation?: boolean;
  /** Longest chain accepted. @defaultValue 10 */
  readonly certChainVerifyDepth?: number;
  /** Check revocation against `crlFiles`. @defaultValue false */
  readonly checkCertRevocation?: boolean;
  /** CRLs (files or bytes) for `checkCertRevocation`. */
  readonly crlFiles?: readonly PkiMaterial[];
  /** Accept a certificate when no CRL covers it. @defaultValue false */
  readonly allowNoCrl?: boolean;
  /** Accept an expired CRL. @defaultValue false */
  readonly allowExpiredCrl?: boolean;
  /** Accept weak signature hashes (MD5, SHA-1). @defaultValue false */
  readonly allowBadMdHash?: boolean;
  /** Accept RSA keys shorter than 2048 bits. @defaultValue false */
  readonly allowShortRsaLength?: boolean;
  /** Last word on each certificate of the chain (libcoap `validate_cn_call_back`): false rejects it. */
  readonly validateCn?: (cn: string, derCert: Uint8Array, depth: number, validated: boolean) => boolean;
  /** Server Name Indication to send (libcoap `client_sni`); by default the server's host name. */
  readonly clientSni?: string;
  /** Own certificate, key and trusted CA. */
  readonly pkiKey?: PkiKey;
  /**
   * Raw public keys instead of certificates (RFC 7250; libcoap `is_rpk_not_cert`), DTLS only: the server's key is
   * accepted when it is one of `rpkTrustedKeys` or when `validateCn` (called with CN `'RPK'` and the key's DER
   * SubjectPublicKeyInfo) says so; `pkiKey.privateKey` alone is the client's own key. @defaultValue false
   */
  readonly isRpkNotCert?: boolean;
  /** Server public keys trusted with `isRpkNotCert` (PEM `PUBLIC KEY`, DER SubjectPublicKeyInfo, or a file of either). */
  readonly rpkTrustedKeys?: readonly PkiMaterial[];
}

const PKI_FIELDS: ReadonlySet<string> = new Set([
  'verifyPeerCert',
  'checkCommonCa',
  'allowSelfSigned',
  'allowExpiredCerts',
  'certChainValidation',
  'certChainVerifyDepth',
  'checkCertRevocation',
  'crlFiles',
  'allowNoCrl',
  'allowExpiredCrl',
  'allowBadMdHash',
  'allowShortRsaLength',
  'validateCn',
  'clientSni',
  'pkiKey',
  'isRpkNotCert',
  'rpkTrustedKeys',
]);
const PKI_KEY_FIELDS: ReadonlySet<string> = new Set(['keyType', 'caFile', 'publicCert', 'privateKey']);
const PKI_BOOLEAN_FIELDS = [
  'verifyPeerCert',
  'checkCommonCa',
  'allowSelfSigned',
  'allowExpiredCerts',
  'certChainValidation',
  'checkCertRevocation',
  'allowNoCrl',
  'allowExpiredCrl',
  'allowBadMdHash',
  'allowShortRsaLength',
  'isRpkNotCert',
] as const;
const KEY_TYPES: ReadonlySet<unknown> = new Set(['pem', 'pem-buffer', 'asn1']);

/** Deepest chain `certChainVerifyDepth` may ask for (OpenSSL's default limit is 100). */
export const MAX_CERT_CHAIN_VERIFY_DEPTH = 100;

/** What a value is, without quoting it (a string here may be PEM text). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function checkObject(value: unknown, field: string, what: string): asserts value is Readonly<Record<string, unknown>> {
  if (!isRecord(value)) throw new CoapArgumentError(`${field} must be ${what}, got ${kindOf(value)}`, { field });
}

/**
 * Key material is described by its type and size only: a PEM key given as text must never reach an error
 * message (describeValue would quote its first characters).
 */
function checkMaterial(value: unknown, field: string): void {
  if ((typeof value === 'string' || value instanceof Uint8Array) && value.length > 0) return;
  throw new CoapArgumentError(`${field} must be a file path, PEM text or bytes, got ${kindOf(value)}`, { field });
}

/**
 * Checks the shape of certificate credentials (libcoap `coap_dtls_pki_t`): known option names, booleans,
 * `certChainVerifyDepth` an integer in 0..100, `validateCn` a function, `clientSni` a non-empty string,
 * key material a file path, PEM text or bytes, and a private key only together with its certificate. Files
 * are not read here (the core is browser-safe): the Node transports read them and report what they cannot use.
 * Throws {@link CoapArgumentError} whose `field` names the option (`'pki.pkiKey.privateKey'`); messages never
 * quote key material.
 * @param value - the credentials as given
 * @param field - the argument name for errors
 */
export function checkPki(value: unknown, field = 'pki'): asserts value is PkiCredentials {
  checkObject(value, field, 'an object of certificate options ({ pkiKey: { caFile, publicCert, privateKey }, ... })');
  checkKnownKeys(value, field, PKI_FIELDS);
  for (const name of PKI_BOOLEAN_FIELDS) checkOptionalBoolean(value[name], `${field}.${name}`);
  checkOptionalInteger(value.certChainVerifyDepth, `${field}.certChainVerifyDepth`, 0, MAX_CERT_CHAIN_VERIFY_DEPTH);
  checkOptionalFunction(value.validateCn, `${field}.validateCn`);
  if (value.clientSni !== undefined && (typeof value.clientSni !== 'string' || value.clientSni === '')) {
    throw invalidArgument(`${field}.clientSni`, 'must be a non-empty string', value.clientSni);
  }
  const crlFiles = value.crlFiles;
  if (crlFiles !== undefined) {
    if (!Array.isArray(crlFiles)) {
      throw new CoapArgumentError(`${field}.crlFiles must be an array of file paths, PEM texts or bytes, got ${kindOf(crlFiles)}`, { field: `${field}.crlFiles` });
    }
    crlFiles.forEach((crl: unknown, index: number) => checkMaterial(crl, `${field}.crlFiles[${index}]`));
  }
  const trustedKeys = value.rpkTrustedKeys;
  if (trustedKeys !== undefined) {
    if (!Array.isArray(trustedKeys)) {
      throw new CoapArgumentError(`${field}.rpkTrustedKeys must be an array of file paths, PEM texts or bytes, got ${kindOf(trustedKeys)}`, { field: `${field}.rpkTrustedKeys` });
    }
    trustedKeys.forEach((key: unknown, index: number) => checkMaterial(key, `${field}.rpkTrustedKeys[${index}]`));
  }
  const pkiKey = value.pkiKey;
  if (pkiKey === undefined) return;
  const keyField = `${field}.pkiKey`;
  checkObject(pkiKey, keyField, 'an object { keyType?, caFile?, publicCert?, privateKey? }');
  checkKnownKeys(pkiKey, keyField, PKI_KEY_FIELDS);
  if (pkiKey.keyType !== undefined && !KEY_TYPES.has(pkiKey.keyType)) {
    throw invalidArgument(`${keyField}.keyType`, "must be 'pem', 'pem-buffer' or 'asn1'", pkiKey.keyType);
  }
  for (const name of ['caFile', 'publicCert', 'privateKey'] as const) {
    if (pkiKey[name] !== undefined) checkMaterial(pkiKey[name], `${keyField}.${name}`);
  }
  // with raw public keys the private key alone will do (its public half is derived)
  if ((pkiKey.publicCert === undefined) !== (pkiKey.privateKey === undefined) && !(value.isRpkNotCert === true && pkiKey.privateKey !== undefined)) {
    const missing = pkiKey.publicCert === undefined ? 'publicCert' : 'privateKey';
    throw new CoapArgumentError(`${keyField}.${missing} is missing: a client certificate needs both publicCert and privateKey`, { field: `${keyField}.${missing}` });
  }
}
