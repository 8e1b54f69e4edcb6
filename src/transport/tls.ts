/**
 * CoAP over TLS (RFC 8323 §3 framing, §9 security), Node only: one `node:tls` connection per session, with a
 * pre-shared key (TLS 1.2 PSK suites, RFC 4279) or certificates (libcoap `coap_dtls_pki_t`), ALPN `coap`
 * (RFC 8323 §8.1), TCP_NODELAY. The stream itself is handled as on TCP (`tcp.ts`, `StreamConnection`):
 * chunks on `frames$`, one write per tick, connection loss failing the factory at once.
 *
 * Every timer (the handshake timeout) runs on the injected scheduler.
 */
import { isIP } from 'node:net';
import { connect, createSecureContext, DEFAULT_CIPHERS, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { Observable, asyncScheduler, of, type SchedulerLike } from 'rxjs';
import { CoapArgumentError, CoapTlsError, type CoapError, type PeerAddress } from '../errors';
import { formatPeer } from '../peer-address';
import { checkPki, type PkiCredentials } from '../pki-credentials';
import { resolvePsk, type PskCredentials, type ResolvedPsk } from '../psk-credentials';
import { checkRecord, invalidArgument } from '../validate';
import {
  checkStreamOptions,
  describeSocketError,
  positiveDuration,
  stripZone,
  syscallCodeOf,
  StreamConnection,
  type SocketErrorDescriber,
  type SocketHolder,
} from './tcp';
import { readPkiMaterials, verificationRules, verifyServer, type CertificateFailure, type VerificationRules } from './tls-verify';
import type { Transport, TransportEvent, TransportFactory } from './transport';

/**
 * PSK suites offered by default, most preferred first: those libcoap's openssl TLS server takes (not CCM_8,
 * not CBC). TLS 1.3 is not offered with a PSK (Node's `pskCallback` is TLS 1.2's).
 */
export const DEFAULT_TLS_PSK_CIPHER_SUITES: readonly string[] = [
  'PSK-AES128-GCM-SHA256',
  'PSK-AES256-GCM-SHA384',
  'PSK-AES128-CCM',
  'ECDHE-PSK-CHACHA20-POLY1305',
  'PSK-CHACHA20-POLY1305',
];

/** RFC 8323 §8.1: the ALPN protocol ID of CoAP over TLS. */
export const COAP_ALPN = 'coap';

/** Trusted roots of a context (libcoap `coap_context_set_pki_root_cas`): a PEM file and/or an OpenSSL CApath. */
export interface TlsRootCas {
  readonly caFile?: string;
  readonly caDir?: string;
}

/** Options of {@link tlsTransport}. */
export interface TlsTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets). A host name is sent as SNI and checked in the certificate. */
  readonly host: string;
  /** Server port (5684 for `coaps+tcp`). */
  readonly port: number;
  /** Address family to resolve names to; by default both. */
  readonly family?: 4 | 6;
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
  /**
   * A pre-shared key (identity at most 128 bytes of UTF-8 without NUL, key 1..64 bytes). `clientSni` sets the
   * SNI; `validateIdentityHint` gets the server's identity hint and returns the identity and key to use, or
   * null to abort (`'identity-hint-rejected'`). Give `psk` or `pki`, not both.
   */
  readonly psk?: PskCredentials | ResolvedPsk;
  /**
   * Certificates and verification rules. Absent (and no `psk`): the server is verified against `rootCas`, else
   * Node's default trust store, with every check on.
   */
  readonly pki?: PkiCredentials;
  /** Trusted roots besides `pki.pkiKey.caFile` (used alone when `checkCommonCa` is on, the default). */
  readonly rootCas?: TlsRootCas;
  /** Scheduler of the handshake timeout; also the clock for certificate validity. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /**
   * How long connecting, the handshake and the certificate checks may take together, in milliseconds, before the
   * factory errors with `CoapTlsError` reason `'handshake-timeout'`. @defaultValue 10000
   */
  readonly handshakeTimeout?: number;
  /** OpenSSL names of the PSK suites to offer. @defaultValue {@link DEFAULT_TLS_PSK_CIPHER_SUITES} */
  readonly pskCipherSuites?: readonly string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Node hands OpenSSL the identity as a C string of UTF-8: other bytes cannot be sent. */
function identityText(identity: Uint8Array): string | undefined {
  if (identity.includes(0)) return undefined;
  try {
    return utf8.decode(identity);
  } catch {
    return undefined;
  }
}

/** What one factory prepares once: the TLS context and how its connections are checked. */
interface Setup {
  readonly secureContext: SecureContext;
  readonly rules: VerificationRules | undefined;
}

/**
 * A factory of CoAP-over-TLS transports (`framing: 'stream'`, `reliable: true`, `maxFrameOverhead: 0`).
 * Subscribing connects, runs the handshake and checks the server; the Observable emits the transport when all
 * that succeeded. Certificate files are read on the first subscription (errors: `CoapArgumentError` naming the
 * field) and kept for later ones.
 *
 * Errors of the Observable:
 * - `CoapTlsError` with `reason`:
 *   `'untrusted'` (no chain to a trusted root, self-signed, chain longer than `certChainVerifyDepth`, not a
 *   server certificate), `'expired'` (or not yet valid), `'revoked'`, `'revocation-unknown'` (CRL missing or
 *   expired), `'name-mismatch'` (host name / IP not in the certificate), `'cn-rejected'` (`validateCn` said no),
 *   `'client-cert-required'` (the server demands a certificate we do not have), `'client-cert-rejected'` (it
 *   refused ours), `'bad-psk'` (identity or key wrong), `'identity-hint-rejected'`, `'handshake-timeout'`,
 *   `'alert'` (another fatal TLS alert), `'closed-by-peer'` (the server closed during the handshake),
 *   `'handshake-failed'` (anything else in the handshake). With TLS 1.3 a server checks the client's
 *   certificate after the client considers the handshake done, so `'client-cert-required'` (alert 116) and a
 *   refusal of our certificate may come right after the transport was emitted.
 * - `CoapTransportError` with `reason` (see `StreamFailureReason`): connecting failed, or the connection was
 *   lost after the handshake (FIN, RST).
 * No message holds key material.
 *
 * Events: `{ type: 'warning' }` when `verifyPeerCert: false` switched the checks off.
 *
 * Throws `CoapArgumentError` at once for bad options (both `psk` and `pki`, a non-UTF-8 identity, unknown or
 * non-PSK suites, ...).
 */
export function tlsTransport(options: TlsTransportOptions): TransportFactory {
  const { host, port, family, localAddress, localPort } = checkStreamOptions(options, 'tlsTransport');
  const scheduler = options.scheduler ?? asyncScheduler;
  const handshakeTimeout = positiveDuration(options.handshakeTimeout, 10000, 'handshakeTimeout');
  const client = prepareTlsClient(options, host, port, 'TLS');

  return () =>
    new Observable<Transport>((subscriber) => {
      const handshake: TlsHandshakeState = { tcpConnected: false, hintRejected: undefined };
      let tlsOptions: ConnectionOptions;
      try {
        tlsOptions = client.connectOptions(handshake, [COAP_ALPN]);
      } catch (error) {
        subscriber.error(error);
        return undefined;
      }
      const connection = new StreamConnection(subscriber, { host, port }, client.describe(handshake));
      // tls.connect passes the socket.connect() options (family, noDelay) on to node:net.
      const connectOptions: ConnectionOptions & { family?: 4 | 6; noDelay?: boolean; localAddress?: string; localPort?: number } = {
        ...tlsOptions,
        host,
        port,
        family,
        localAddress,
        localPort,
        noDelay: true,
      };
      let socket: TLSSocket;
      try {
        socket = connect(connectOptions);
      } catch (error) {
        subscriber.error(new CoapTlsError('handshake-failed', `cannot start a TLS connection to ${formatPeer({ host, port })}`, { peer: { host, port }, cause: error }));
        return undefined;
      }
      connection.attach(socket);
      socket.once('connect', () => {
        handshake.tcpConnected = true;
      });
      connection.deadline(scheduler, handshakeTimeout, () => {
        const where = formatPeer(connection.remote);
        return new CoapTlsError(
          'handshake-timeout',
          handshake.tcpConnected
            ? `the TLS handshake with ${where} did not finish within ${handshakeTimeout} ms`
            : `no TCP connection to ${where} within ${handshakeTimeout} ms (the TLS handshake did not start)`,
          { peer: connection.remote },
        );
      });
      socket.once('secureConnect', () => {
        if (connection.done) return;
        const failure = client.check(socket, scheduler.now(), formatPeer({ host: socket.remoteAddress ?? host, port }));
        if (failure !== undefined) {
          connection.fail(new CoapTlsError(failure.reason, failure.message, { peer: connection.remote, cause: failure.cause }));
          return;
        }
        connection.open(client.warning);
      });
      return () => connection.close();
    });
}

/** @internal The TLS credentials of a client (tls, and wss in `websocket-node.ts`). */
export type TlsClientOptions = Pick<TlsTransportOptions, 'psk' | 'pki' | 'rootCas' | 'pskCipherSuites'>;

/** @internal What a TLS client needs per connection, prepared once per factory (shared by tls and wss). */
export interface TlsClient {
  readonly mode: 'psk' | 'pki';
  /** The warning event when `verifyPeerCert: false` switched the checks off. */
  readonly warning: Observable<TransportEvent> | undefined;
  /**
   * The `tls.connect` options of one connection (SNI, ALPN, the context, the PSK callback; Node's own checks off,
   * {@link TlsClient.check} does them). Reads the certificate files on first use: throws `CoapArgumentError`.
   */
  connectOptions(handshake: TlsHandshakeState, alpn: readonly string[] | undefined): ConnectionOptions;
  /** After 'secureConnect': undefined when the server is who it should be, else why not. */
  check(socket: TLSSocket, now: number, where: string): CertificateFailure | undefined;
  /** Maps the socket errors of one connection to typed ones. */
  describe(handshake: TlsHandshakeState): SocketErrorDescriber;
}

/**
 * @internal Checks TLS credentials (throws `CoapArgumentError`) and prepares what each connection takes.
 * `what` names the protocol in messages (`'TLS'`, `'WSS'`).
 */
export function prepareTlsClient(options: TlsClientOptions, host: string, port: number, what: string): TlsClient {
  const rootCas = checkRootCas(options.rootCas);
  const hostIsIp = isIP(stripZone(host)) !== 0;
  if (options.psk !== undefined && options.pki !== undefined) {
    throw new CoapArgumentError(`a ${what} session takes psk or pki credentials, not both`, { field: 'pki' });
  }
  const psk = options.psk === undefined ? undefined : checkPsk(options.psk);
  const pki = options.pki ?? {};
  if (psk === undefined) checkPki(pki, 'pki');
  if (pki.isRpkNotCert === true) {
    throw new CoapArgumentError(`pki.isRpkNotCert: raw public keys (RFC 7250) work over DTLS (coaps://) only; Node's TLS has none`, { field: 'pki.isRpkNotCert' });
  }
  const pskSuites = psk === undefined ? [] : checkPskSuites(options.pskCipherSuites);
  const servername = (psk !== undefined ? psk.credentials.clientSni : pki.clientSni) ?? (hostIsIp ? undefined : host);
  const verifyPeerCert = pki.verifyPeerCert !== false;
  const warning =
    psk === undefined && !verifyPeerCert
      ? of<TransportEvent>({
          type: 'warning',
          message: `certificate checks are off (verifyPeerCert: false): the identity of the ${what} server ${formatPeer({ host, port })} is not verified`,
        })
      : undefined;

  let setup: Setup | undefined;
  /** Reads the material and builds the TLS context, once (a failure is retried by the next subscription). */
  const prepare = (): Setup => {
    if (setup !== undefined) return setup;
    if (psk !== undefined) {
      setup = {
        secureContext: createSecureContext({ ciphers: pskSuites.join(':'), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }),
        rules: undefined,
      };
      return setup;
    }
    const materials = readPkiMaterials(pki, rootCas, 'pki');
    const lowerSecurity = pki.allowBadMdHash === true || pki.allowShortRsaLength === true;
    let secureContext: SecureContext;
    try {
      secureContext = createSecureContext({
        ca: materials.ca,
        cert: materials.cert,
        key: materials.key,
        crl: materials.crl,
        minVersion: 'TLSv1.2',
        // OpenSSL's security level 0 accepts MD5/SHA-1 signatures and short RSA keys (libcoap does the same)
        ciphers: lowerSecurity ? `${DEFAULT_CIPHERS}:@SECLEVEL=0` : undefined,
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new CoapArgumentError(`pki.pkiKey cannot be used by TLS (${typeof code === 'string' ? code : 'invalid'}): do publicCert and privateKey belong together?`, {
        field: 'pki.pkiKey',
      });
    }
    setup = { secureContext, rules: verificationRules(pki, materials, host) };
    return setup;
  };
  const hasClientCert = psk === undefined && pki.pkiKey?.publicCert !== undefined;
  const mode = psk === undefined ? 'pki' : 'psk';

  return {
    mode,
    warning,
    connectOptions(handshake, alpn) {
      const prepared = prepare();
      const connectOptions: ConnectionOptions = {
        servername,
        secureContext: prepared.secureContext,
        // The checks run in check() once the handshake is done; until then nothing is emitted or read.
        rejectUnauthorized: false,
        // Node's name check would fail a certificate-less PSK handshake; check() checks names itself.
        checkServerIdentity: () => undefined,
      };
      if (alpn !== undefined) connectOptions.ALPNProtocols = [...alpn];
      if (psk !== undefined) connectOptions.pskCallback = pskCallback(psk, handshake);
      return connectOptions;
    },
    check(socket, now, where) {
      return psk !== undefined ? checkPskSession(socket, where) : verifyServer(socket, prepare().rules!, now, where);
    },
    describe(handshake) {
      return describeTlsError(mode, hasClientCert, handshake);
    },
  };
}

/** @internal What one TLS handshake learnt along the way. */
export interface TlsHandshakeState {
  tcpConnected: boolean;
  /** Why `validateIdentityHint` refused (set by the PSK callback). */
  hintRejected: string | undefined;
}

interface CheckedPsk {
  readonly credentials: ResolvedPsk;
  readonly identity: string;
}

function checkPsk(value: PskCredentials | ResolvedPsk): CheckedPsk {
  const credentials = resolvePsk(value, 'psk');
  const identity = identityText(credentials.identity);
  if (identity === undefined) {
    throw new CoapArgumentError('psk.identity must be UTF-8 without NUL bytes over TLS (Node passes it to OpenSSL as text)', { field: 'psk.identity' });
  }
  return { credentials, identity };
}

function checkPskSuites(suites: readonly string[] | undefined): readonly string[] {
  if (suites === undefined) return DEFAULT_TLS_PSK_CIPHER_SUITES;
  if (!Array.isArray(suites) || suites.length === 0) throw invalidArgument('pskCipherSuites', 'must list at least one suite', suites);
  suites.forEach((suite: unknown, index) => {
    // A suite without PSK would authenticate the server by a certificate nobody checks here.
    if (typeof suite !== 'string' || !/^[A-Z0-9-]*PSK[A-Z0-9-]*$/.test(suite)) {
      throw invalidArgument(`pskCipherSuites[${index}]`, 'must be the OpenSSL name of a PSK suite (e.g. PSK-AES128-GCM-SHA256)', suite);
    }
  });
  return suites;
}

function checkRootCas(value: unknown): TlsRootCas | undefined {
  if (value === undefined) return undefined;
  checkRecord(value, 'rootCas', 'an object { caFile?, caDir? }');
  for (const name of ['caFile', 'caDir'] as const) {
    const path = value[name];
    if (path !== undefined && (typeof path !== 'string' || path === '')) throw invalidArgument(`rootCas.${name}`, 'must be a non-empty path', path);
  }
  return value as TlsRootCas;
}

/** Node's PSK callback: the identity hint goes to `validateIdentityHint`, which picks the identity and key. */
function pskCallback(psk: CheckedPsk, handshake: TlsHandshakeState): (hint: string | null) => { psk: Buffer; identity: string } | null {
  return (hint) => {
    const validate = psk.credentials.validateIdentityHint;
    // As with DTLS: no callback for a server that sends no hint (or an empty one).
    if (validate === undefined || hint === null || hint === '') return { psk: Buffer.from(psk.credentials.key), identity: psk.identity };
    let chosen: { identity: Uint8Array; key: Uint8Array } | null;
    try {
      chosen = validate(hint);
    } catch {
      handshake.hintRejected = 'validateIdentityHint threw';
      return null;
    }
    if (chosen === null || chosen === undefined) {
      handshake.hintRejected = 'validateIdentityHint returned null';
      return null;
    }
    const identity = chosen.identity instanceof Uint8Array ? identityText(chosen.identity) : undefined;
    const key = chosen.key;
    if (identity === undefined || chosen.identity.length > 128 || !(key instanceof Uint8Array) || key.length === 0 || key.length > 64) {
      handshake.hintRejected = 'validateIdentityHint returned an identity (UTF-8, at most 128 bytes) or key (1..64 bytes) that cannot be used';
      return null;
    }
    return { psk: Buffer.from(key), identity };
  };
}

/** After a PSK handshake: the suite must be a PSK one (nothing else authenticated the server). */
function checkPskSession(socket: TLSSocket, where: string): { reason: 'untrusted'; message: string; cause?: unknown } | undefined {
  const suite = socket.getCipher()?.name ?? '';
  if (suite.includes('PSK')) return undefined;
  return { reason: 'untrusted', message: `${where} negotiated ${suite || 'an unknown suite'}, which does not use the pre-shared key` };
}

const BAD_PSK = /BAD_RECORD_MAC|DECRYPT_ERROR|DECRYPTION_FAILED|UNKNOWN_PSK_IDENTITY|PSK_IDENTITY_NOT_FOUND/;
const CLIENT_CERT_REFUSED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;

/** `ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE` -> `handshake_failure`. */
function alertName(code: string): string | undefined {
  const match = /_ALERT_([A-Z0-9_]+)$/.exec(code);
  return match === null ? undefined : match[1].toLowerCase();
}

/** Maps a TLS socket's errors to typed ones: alerts and handshake failures to `CoapTlsError`, the rest as on TCP. */
function describeTlsError(mode: 'psk' | 'pki', hasClientCert: boolean, handshake: TlsHandshakeState): SocketErrorDescriber {
  return (error, connection, opened): CoapError => {
    const code = syscallCodeOf(error) ?? '';
    const peer: PeerAddress = connection.remote;
    const where = formatPeer(peer);
    const tls = (reason: string, message: string): CoapError => new CoapTlsError(reason, message, { peer, cause: error });
    if (code.startsWith('ERR_SSL_')) {
      const alert = alertName(code);
      if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
        return tls('client-cert-required', `${where} requires a client certificate (TLS alert certificate_required): give pki.pkiKey.publicCert and privateKey`);
      }
      if (mode === 'psk') {
        if (handshake.hintRejected !== undefined) {
          return tls('identity-hint-rejected', `the TLS handshake with ${where} was aborted: ${handshake.hintRejected} for its identity hint`);
        }
        if (BAD_PSK.test(code)) {
          return tls('bad-psk', `the TLS-PSK handshake with ${where} failed (${alert ?? code}): the PSK identity or key is probably wrong`);
        }
      } else if (!hasClientCert && !opened && alert === 'handshake_failure' && peerCertificateSeen(connection)) {
        // TLS 1.2: a server that demands a certificate answers our empty one with handshake_failure
        return tls('client-cert-required', `${where} rejected the handshake after sending its certificate (handshake_failure): it probably requires a client certificate`);
      } else if (hasClientCert && CLIENT_CERT_REFUSED.test(code)) {
        return tls('client-cert-rejected', `${where} refused our client certificate (TLS alert ${alert})`);
      }
      if (alert !== undefined) {
        const hint = alert === 'handshake_failure' ? ' (often: no cipher suite in common)' : alert === 'no_application_protocol' ? ' (it does not speak ALPN coap)' : '';
        return tls('alert', `${where} sent a fatal TLS alert: ${alert}${hint}`);
      }
      return tls('handshake-failed', `the TLS ${opened ? 'connection' : 'handshake'} with ${where} failed (${code})`);
    }
    if (!opened && handshake.tcpConnected && (code === 'ECONNRESET' || code === 'EPIPE')) {
      const hint = mode === 'psk' ? ': a wrong PSK identity or key, or no PSK support' : hasClientCert ? ': it may have refused our client certificate' : '';
      return tls('closed-by-peer', `${where} closed the connection during the TLS handshake${hint}`);
    }
    return describeSocketError(error, connection, opened);
  };
}

function peerCertificateSeen(connection: SocketHolder): boolean {
  try {
    const cert = (connection.socket as TLSSocket | undefined)?.getPeerCertificate();
    return cert !== undefined && cert !== null && cert.raw !== undefined;
  } catch {
    return false;
  }
}
