/**
 * The context's check of certificate options (`checkPki`, pki-credentials.ts: about 1 KB gzipped) is installed by
 * the registration of a transport that takes certificates (`registerTransport` with `credentials` `'pki'` or
 * `'psk-or-pki'`: rxcoap/node's DTLS, TLS and wss), not imported by the core. Without such a transport nothing can
 * use certificates: a browser's WebSocket does TLS itself, and the session's creation refuses certificates for it
 * with a CoapArgumentError (`field` `'pki'`) of its own; a custom transport (`transport` option) is handed none. So
 * a browser bundle does not carry checks for options it refuses anyway. (The Node transports check again.)
 */
import { checkPki, type PkiCredentials } from '../pki-credentials';

let check: typeof checkPki | undefined;

/** @internal Called by `registerTransport` for transports that take certificates. */
export function installPkiCheck(): void {
  check = checkPki;
}

/**
 * Checks certificate options as `checkPki` does (throws CoapArgumentError naming the field) once a transport that
 * takes them is registered; before that they pass on to the session's creation, which refuses them.
 */
export function checkPkiWhenUsable(value: unknown, field: string): asserts value is PkiCredentials {
  check?.(value, field);
}
