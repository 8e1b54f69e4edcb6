/**
 * The context's check of pre-shared keys (`resolvePsk`, psk-credentials.ts) is installed by the registration of a
 * transport that takes them (`registerTransport` with `credentials` `'psk'` or `'psk-or-pki'`: rxcoap/node's DTLS,
 * TLS and wss), as the certificate check is (pki-check.ts). Without such a transport nothing can use a PSK: a
 * browser's WebSocket does TLS itself, and the session's creation refuses a PSK for it with a CoapArgumentError
 * (`field` `'psk'`) of its own. So a browser bundle does not carry checks for an option it refuses anyway.
 */
import { CoapArgumentError } from '../errors';
import { resolvePsk, type ResolvedPsk } from '../psk-credentials';

let resolve: typeof resolvePsk | undefined;

/** @internal Called by `registerTransport` for transports that take pre-shared keys. */
export function installPskCheck(): void {
  resolve = resolvePsk;
}

/**
 * The PSK checked and as bytes (`resolvePsk`) once a transport that takes one is registered; before that only
 * its presence is checked, and the session's creation refuses it (no transport could use it).
 */
export function resolvePskWhenUsable(psk: unknown, field = 'psk'): ResolvedPsk {
  if (resolve !== undefined) return resolve(psk, field);
  if (typeof psk !== 'object' || psk === null) {
    throw new CoapArgumentError('a PSK session needs PSK credentials: pass psk: { identity, key } to the session or the context', { field });
  }
  return psk as ResolvedPsk;
}
