/**
 * Pre-shared key credentials (libcoap `coap_dtls_cpsk_t`), shared by the session options and the DTLS and TLS
 * transports: one set of types and one check of identity and key, below every layer like errors.ts (pure,
 * browser-safe). Error texts name the field and lengths, never the bytes.
 */
import { CoapArgumentError } from './errors';

/** Bytes or text (UTF-8). */
export type BytesOrText = Uint8Array | string;

/** An identity and its key (also what `validateIdentityHint` chooses for a hint). */
export interface PskIdentityKey {
  /** PSK identity, at most 128 bytes. */
  readonly identity: BytesOrText;
  /** The key, 1..64 bytes. Never logged. */
  readonly key: BytesOrText;
}

/** Pre-shared key credentials (libcoap `coap_dtls_cpsk_t`). */
export interface PskCredentials extends PskIdentityKey {
  /** Server Name Indication to send (libcoap `client_sni`; TLS only: the DTLS engine cannot send it). */
  readonly clientSni?: string;
  /**
   * Chooses identity and key for the server's identity hint, or null to abort (libcoap `validate_ih_call_back`).
   */
  readonly validateIdentityHint?: (hint: string) => PskIdentityKey | null;
}

/** PSK credentials as bytes, checked. */
export interface ResolvedPsk {
  readonly identity: Uint8Array;
  readonly key: Uint8Array;
  readonly clientSni?: string;
  readonly validateIdentityHint?: (hint: string) => { identity: Uint8Array; key: Uint8Array } | null;
}

/** libcoap's limits (RFC 4279 allows more; libcoap and its TLS libraries do not). */
export const MAX_PSK_IDENTITY_LENGTH = 128;
export const MAX_PSK_KEY_LENGTH = 64;

const encoder = new TextEncoder();

function toBytes(value: BytesOrText): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** Only the type of a credential goes into a message, never its text. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Checks an identity and key as libcoap does (identity <= 128 bytes, key 1..64 bytes) and returns them as bytes.
 * Throws `CoapArgumentError` naming `field` (`psk`, `validateIdentityHint`, ...).
 */
export function checkPskIdentityKey(value: unknown, field: string): { identity: Uint8Array; key: Uint8Array } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CoapArgumentError(`${field} must be an object { identity, key }, got ${typeOf(value)}`, { field });
  }
  const { identity, key } = value as { identity?: unknown; key?: unknown };
  if (typeof identity !== 'string' && !(identity instanceof Uint8Array)) {
    throw new CoapArgumentError(`${field}.identity must be a string or a Uint8Array, got ${typeOf(identity)}`, { field: `${field}.identity` });
  }
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new CoapArgumentError(`${field}.key must be a string or a Uint8Array, got ${typeOf(key)}`, { field: `${field}.key` });
  }
  const identityBytes = toBytes(identity);
  const keyBytes = toBytes(key);
  if (identityBytes.length > MAX_PSK_IDENTITY_LENGTH) {
    throw new CoapArgumentError(`${field}: the PSK identity is ${identityBytes.length} bytes, at most ${MAX_PSK_IDENTITY_LENGTH} are allowed`, { field: `${field}.identity` });
  }
  if (keyBytes.length === 0) throw new CoapArgumentError(`${field}: the PSK key is empty`, { field: `${field}.key` });
  if (keyBytes.length > MAX_PSK_KEY_LENGTH) {
    throw new CoapArgumentError(`${field}: the PSK key is ${keyBytes.length} bytes, at most ${MAX_PSK_KEY_LENGTH} are allowed`, { field: `${field}.key` });
  }
  return { identity: identityBytes, key: keyBytes };
}

/**
 * Checks PSK credentials (identity, key, clientSni, validateIdentityHint) and returns them as bytes; the hint
 * callback's choices are checked the same way when it runs.
 * @param psk - the credentials as given
 * @param field - the argument name for errors
 */
export function resolvePsk(psk: unknown, field = 'psk'): ResolvedPsk {
  if (psk === undefined) {
    throw new CoapArgumentError('a PSK session needs PSK credentials: pass psk: { identity, key } to the session or the context', { field });
  }
  const { identity, key } = checkPskIdentityKey(psk, field);
  const credentials = psk as PskCredentials;
  if (credentials.clientSni !== undefined && (typeof credentials.clientSni !== 'string' || credentials.clientSni === '')) {
    throw new CoapArgumentError(`${field}.clientSni must be a non-empty string`, { field: `${field}.clientSni` });
  }
  const validate = credentials.validateIdentityHint;
  if (validate !== undefined && typeof validate !== 'function') {
    throw new CoapArgumentError(`${field}.validateIdentityHint must be a function, got ${typeOf(validate)}`, { field: `${field}.validateIdentityHint` });
  }
  return {
    identity,
    key,
    clientSni: credentials.clientSni,
    validateIdentityHint:
      validate === undefined
        ? undefined
        : (hint) => {
            const chosen = validate(hint);
            return chosen === null || chosen === undefined ? null : checkPskIdentityKey(chosen, `${field}.validateIdentityHint`);
          },
  };
}
