/**
 * CoAP over DTLS 1.2 with certificates (RFC 7252 §9.1.3.3, libcoap `coap_new_client_session_pki`) and anonymous
 * DTLS (libcoap `coap_new_client_session` over COAP_PROTO_DTLS with no credentials), on rxcoap's own DTLS client
 * (`client-connection.ts`, `node:crypto` only). Node only: exported from `rxcoap/node`.
 *
 * One connected `node:dgram` socket per session (the kernel drops datagrams from anyone but the server). The
 * server's certificate chain is verified by `tls-verify.ts`, the same rules as CoAP over TLS (`pki` options,
 * libcoap `coap_dtls_pki_t` in camelCase, and `ctx.setPkiRootCas`).
 */
import { createPrivateKey, createPublicKey, type X509Certificate, type KeyObject } from 'node:crypto';
import { parseCertificate } from '../certificate-cache';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { Observable, ReplaySubject, Subject, asyncScheduler, type SchedulerLike } from 'rxjs';
import { CoapArgumentError, CoapDtlsError, CoapTransportError, type PeerAddress } from '../../errors';
import { formatPeer } from '../../peer-address';
import { checkPki, type PkiCredentials, type PkiMaterial } from '../../pki-credentials';
import { checkStreamOptions, positiveDuration, stripZone } from '../tcp';
import { privateKey as readPrivateKey, readMaterial, readPkiMaterials, verificationRules, verifyCertificateChain, type CertificateFailureReason, type PkiMaterials, type VerificationRules } from '../tls-verify';
import type { Transport, TransportEvent, TransportFactory } from '../transport';
import { AlertDescription, DtlsClientConnection, type ClientIdentity, type IdentityVerdict, type PresentedIdentity } from './client-connection';
import { DEFAULT_PKI_CIPHER_SUITES, ecdheSuiteByName, NamedGroup, OFFERED_GROUPS, type DtlsPkiCipherSuite } from './ecdhe-suites';

/** Options of {@link dtlsPkiTransport}. */
export interface DtlsPkiTransportOptions {
  /** Server host name or IP literal (IPv6 without brackets). A host name is sent as SNI and checked in the certificate. */
  readonly host: string;
  /** Server UDP port (5684 for `coaps`; libcoap serves DTLS on its `-p` port + 1). */
  readonly port: number;
  readonly family?: 4 | 6;
  readonly localAddress?: string;
  /** Local port to bind; 0 or absent = any. */
  readonly localPort?: number;
  /**
   * Certificates and verification rules (libcoap `coap_dtls_pki_t`). Absent: anonymous DTLS, the server is
   * verified against `rootCas` when given, else not at all (an `'unauthenticated'` warning event says so).
   */
  readonly pki?: PkiCredentials;
  /** Trusted roots of the context (`ctx.setPkiRootCas`). */
  readonly rootCas?: { readonly caFile?: string; readonly caDir?: string };
  /** Scheduler of every timer (retransmission, deadline); also the clock for certificate validity. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** First flight retransmission timeout, in milliseconds (RFC 6347 §4.2.4.1). @defaultValue 1000 */
  readonly retransmitTimeout?: number;
  /** Total handshake time, in milliseconds, before `CoapDtlsError` `'handshake-timeout'`. @defaultValue 30000 */
  readonly handshakeDeadline?: number;
  /** Suites to offer, most preferred first. @defaultValue {@link DEFAULT_PKI_CIPHER_SUITES} */
  readonly cipherSuites?: readonly DtlsPkiCipherSuite[];
  /** Key exchange groups to offer, most preferred first (RFC 8422 §5.1.1). @defaultValue ['x25519', 'secp256r1'] */
  readonly groups?: readonly DtlsGroup[];
  /** Largest datagram to send, in bytes; handshake messages are fragmented to fit (RFC 6347 §4.2.3). @defaultValue 1152 */
  readonly maxDatagram?: number;
}

/** The ECDHE groups the client implements. */
export type DtlsGroup = 'x25519' | 'secp256r1';

/** What one factory reads once: the verification rules and the client's own certificate. */
interface Setup {
  readonly rules: VerificationRules;
  readonly identity: ClientIdentity | undefined;
  /** Raw public keys (RFC 7250): the trusted server keys as DER SubjectPublicKeyInfo. */
  readonly rpkTrusted?: readonly Buffer[];
}

/** A public key given as PEM, DER SubjectPublicKeyInfo, or a file of either, as DER SubjectPublicKeyInfo. */
function spkiOf(value: PkiMaterial, field: string): Buffer {
  const material = readMaterial(value, field);
  try {
    const key = typeof material === 'string' || material.includes('-----BEGIN ', 0, 'latin1') ? createPublicKey(material.toString()) : createPublicKey({ key: material, format: 'der', type: 'spki' });
    return key.export({ format: 'der', type: 'spki' });
  } catch {
    throw new CoapArgumentError(`${field} holds no readable public key (PEM PUBLIC KEY or DER SubjectPublicKeyInfo)`, { field });
  }
}

/** Raw public keys: the client's own key pair (its public half derived from the private key) and the trusted keys. */
function rawPublicKeySetup(pki: PkiCredentials, rules: VerificationRules): Setup {
  const rpkTrusted = (pki.rpkTrustedKeys ?? []).map((key, index) => spkiOf(key, `pki.rpkTrustedKeys[${index}]`));
  const given = pki.pkiKey?.privateKey;
  let identity: ClientIdentity | undefined;
  if (given !== undefined) {
    const key = createPrivateKey(readPrivateKey(given, 'pki.pkiKey.privateKey'));
    identity = { certificates: [createPublicKey(key).export({ format: 'der', type: 'spki' })], privateKey: key, rawPublicKey: true };
  }
  return { rules, identity, rpkTrusted };
}

const ALERT_OF: Readonly<Record<CertificateFailureReason, number>> = {
  untrusted: AlertDescription.unknown_ca,
  expired: AlertDescription.certificate_expired,
  revoked: AlertDescription.certificate_revoked,
  'revocation-unknown': AlertDescription.certificate_unknown,
  'name-mismatch': AlertDescription.bad_certificate,
  'cn-rejected': AlertDescription.bad_certificate,
};

function clientIdentity(materials: PkiMaterials): ClientIdentity | undefined {
  if (materials.cert === undefined || materials.key === undefined) return undefined;
  const blocks = materials.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const certificates = blocks.map((pem) => new Uint8Array(parseCertificate(pem).raw));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(materials.key);
  } catch {
    throw new CoapArgumentError('pki.pkiKey.privateKey cannot be used', { field: 'pki.pkiKey.privateKey' });
  }
  if (blocks.length === 0) throw new CoapArgumentError('pki.pkiKey.publicCert holds no certificate', { field: 'pki.pkiKey.publicCert' });
  const leaf = parseCertificate(blocks[0]!);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CoapArgumentError('pki.pkiKey.privateKey does not belong to pki.pkiKey.publicCert', { field: 'pki.pkiKey.privateKey' });
  }
  return { certificates, privateKey };
}

/**
 * A factory of DTLS 1.2 transports with certificates, or anonymous. Subscribing runs the handshake and emits
 * the {@link Transport} when it is done and the server verified; unsubscribing sends close_notify.
 *
 * Errors of the Observable, each a `CoapDtlsError` with `reason` (messages never hold key material):
 * `'untrusted'`, `'expired'`, `'revoked'`, `'revocation-unknown'`, `'name-mismatch'`, `'cn-rejected'` (the certificate checks, as over TLS),
 * `'bad-signature'` (the ServerKeyExchange signature does not verify), `'bad-finished'` (the server's Finished
 * does not verify), `'client-cert-required'` (the server asked for a certificate we do not have, and refused),
 * `'client-cert-rejected'`, `'alert'` (another fatal alert), `'handshake-timeout'`, `'handshake-failed'`
 * (a malformed or unexpected message, nothing in common), `'closed-by-peer'` (close_notify).
 * `CoapTransportError` when the socket cannot be opened or a send fails; `CoapArgumentError` (thrown at
 * once, or on the first subscription for files) for bad options or unreadable key material.
 *
 * Events: `'dtls-retry'` per retransmitted flight, `'dtls-connected'`, `'connected'`, `'closed'`, and a
 * `'warning'` with `reason` `'verification-off'` (`verifyPeerCert: false`) or `'unauthenticated'` (anonymous
 * without trusted roots).
 *
 * Revocation (`checkCertRevocation`) is checked against `pki.crlFiles` (CRLs are not fetched). Not implemented:
 * session resumption, renegotiation (refused, RFC 5746), Connection ID.
 */
export function dtlsPkiTransport(options: DtlsPkiTransportOptions): TransportFactory {
  const { host, port, family, localAddress, localPort } = checkStreamOptions(options, 'dtlsPkiTransport');
  const scheduler = options.scheduler ?? asyncScheduler;
  const handshakeDeadline = positiveDuration(options.handshakeDeadline, 30000, 'handshakeDeadline');
  const retransmitTimeout = positiveDuration(options.retransmitTimeout, 1000, 'retransmitTimeout');
  const maxDatagram = options.maxDatagram ?? 1152;
  if (!Number.isInteger(maxDatagram) || maxDatagram < 256 || maxDatagram > 65507) {
    throw new CoapArgumentError('maxDatagram must be an integer in 256..65507', { field: 'maxDatagram' });
  }
  const anonymous = options.pki === undefined;
  const pki: PkiCredentials = options.pki ?? {};
  checkPki(pki, 'pki');
  const rootCas = options.rootCas;
  const rawPublicKeys = pki.isRpkNotCert === true;
  const unauthenticated = anonymous && (rootCas === undefined || (rootCas.caFile === undefined && rootCas.caDir === undefined));
  const effective: PkiCredentials = unauthenticated ? { verifyPeerCert: false } : pki;
  const suiteNames = options.cipherSuites ?? DEFAULT_PKI_CIPHER_SUITES;
  if (!Array.isArray(suiteNames) || suiteNames.length === 0) throw new CoapArgumentError('cipherSuites must list at least one suite', { field: 'cipherSuites' });
  const suites = suiteNames.map((name) => {
    const suite = ecdheSuiteByName(name);
    if (suite === undefined) throw new CoapArgumentError(`cipher suite ${String(name)} is not supported by the DTLS client`, { field: 'cipherSuites' });
    return suite;
  });
  const groupNames = options.groups;
  if (groupNames !== undefined && (!Array.isArray(groupNames) || groupNames.length === 0 || groupNames.some((name) => !Object.hasOwn(NamedGroup, name)))) {
    throw new CoapArgumentError("groups must list 'x25519' and/or 'secp256r1'", { field: 'groups' });
  }
  const groups = groupNames === undefined ? OFFERED_GROUPS : groupNames.map((name: DtlsGroup) => NamedGroup[name]);
  // RFC 6066 §3: SNI carries a host name, never an IP literal (the certificate is still checked against the IP)
  const sniCandidate = pki.clientSni ?? host;
  const serverName = isIP(stripZone(sniCandidate)) === 0 ? sniCandidate.replace(/\.$/, '') : undefined;
  const remote: PeerAddress = { host, port };
  const where = `the DTLS server ${formatPeer(remote)}`;
  const warning: TransportEvent | undefined = unauthenticated
    ? { type: 'warning', reason: 'unauthenticated', message: `anonymous DTLS: the session with ${formatPeer(remote)} is encrypted but the server is not authenticated (no credentials and no ctx.setPkiRootCas roots)` }
    : effective.verifyPeerCert === false
      ? { type: 'warning', reason: 'verification-off', message: `certificate checks are off (verifyPeerCert: false): the identity of the DTLS server ${formatPeer(remote)} is not verified` }
      : undefined;

  let setup: Setup | undefined;
  const prepare = (): Setup => {
    if (setup !== undefined) return setup;
    if (rawPublicKeys) {
      setup = rawPublicKeySetup(pki, verificationRules(pki, { ca: [], cert: undefined, key: undefined, crl: undefined }, host));
      return setup;
    }
    const materials = readPkiMaterials(effective, unauthenticated ? undefined : rootCas, 'pki');
    setup = { rules: verificationRules(effective, materials, host), identity: clientIdentity(materials) };
    return setup;
  };

  const verifyRawPublicKey = (prepared: Setup, spki: Uint8Array): IdentityVerdict => {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      return { ok: false, error: new CoapDtlsError('untrusted', `${where} sent a raw public key that does not parse`, { peer: remote }), alert: AlertDescription.bad_certificate };
    }
    const trusted = (prepared.rpkTrusted ?? []).some((key) => key.equals(spki));
    const { verifyPeerCert, validateCn } = prepared.rules;
    if (validateCn !== undefined) {
      // libcoap calls validate_cn_call_back with CN "RPK" and the key's SubjectPublicKeyInfo
      let accepted: boolean;
      try {
        accepted = validateCn('RPK', new Uint8Array(spki), 0, trusted) === true;
      } catch (error) {
        return { ok: false, error: new CoapDtlsError('cn-rejected', `validateCn threw for the raw public key of ${where}`, { peer: remote, cause: error }), alert: AlertDescription.bad_certificate };
      }
      if (!accepted) return { ok: false, error: new CoapDtlsError('cn-rejected', `validateCn rejected the raw public key of ${where}`, { peer: remote }), alert: AlertDescription.bad_certificate };
    } else if (verifyPeerCert && !trusted) {
      return { ok: false, error: new CoapDtlsError('untrusted', `the raw public key of ${where} is not among pki.rpkTrustedKeys (and no validateCn accepts it)`, { peer: remote }), alert: AlertDescription.bad_certificate };
    }
    return { ok: true, publicKey };
  };

  const verifyServer = (rules: VerificationRules, presented: PresentedIdentity): IdentityVerdict => {
    if (presented.kind !== 'x509') {
      return { ok: false, error: new CoapDtlsError('untrusted', `${where} sent a raw public key, which was not asked for`, { peer: remote }), alert: AlertDescription.unsupported_certificate };
    }
    let chain: X509Certificate[];
    try {
      chain = presented.certificates.map((der) => parseCertificate(der));
    } catch {
      return { ok: false, error: new CoapDtlsError('untrusted', `${where} sent a certificate that does not parse`, { peer: remote }), alert: AlertDescription.bad_certificate };
    }
    const failure = verifyCertificateChain(chain, rules, scheduler.now(), where);
    if (failure !== undefined) {
      return { ok: false, error: new CoapDtlsError(failure.reason, failure.message, { peer: remote, cause: failure.cause }), alert: ALERT_OF[failure.reason] };
    }
    return { ok: true, publicKey: chain[0].publicKey };
  };

  return () =>
    new Observable<Transport>((subscriber) => {
      let prepared: Setup;
      try {
        prepared = prepare();
      } catch (error) {
        subscriber.error(error);
        return undefined;
      }
      const events$ = new ReplaySubject<TransportEvent>();
      const frames$ = new Subject<Uint8Array>();
      let socket: Socket | undefined;
      let connection: DtlsClientConnection | undefined;
      let done = false;
      if (warning !== undefined) events$.next(warning);

      const finish = (reason: string): void => {
        done = true;
        events$.next({ type: 'closed', reason });
        events$.complete();
        frames$.complete();
        const current = socket;
        socket = undefined;
        try {
          current?.close();
        } catch {
          // already closed
        }
      };
      const fail = (error: Error): void => {
        if (done) return;
        connection?.close();
        finish(error.message);
        subscriber.error(error);
      };
      const send = (datagram: Uint8Array): void => {
        const current = socket;
        if (current === undefined) return;
        try {
          current.send(datagram, (error) => {
            if (error) fail(new CoapTransportError(`DTLS send to ${formatPeer(remote)} failed`, { syscallCode: (error as NodeJS.ErrnoException).code, peer: remote, cause: error }));
          });
        } catch (error) {
          fail(new CoapTransportError(`DTLS send to ${formatPeer(remote)} failed`, { peer: remote, cause: error }));
        }
      };

      const start = (current: Socket): void => {
        const address = current.address();
        const local: PeerAddress = { host: address.address, port: address.port };
        const dtls = new DtlsClientConnection({
          peer: remote,
          serverName,
          suites,
          groups,
          clientIdentity: prepared.identity,
          rawPublicKeys: rawPublicKeys ? 'only' : undefined,
          verifyServer: (presented) => (rawPublicKeys && presented.kind === 'raw-public-key' ? verifyRawPublicKey(prepared, presented.spki) : verifyServer(prepared.rules, presented)),
          scheduler,
          retransmitTimeout,
          handshakeDeadline,
          maxDatagram,
          send,
          onEvent: (event) => events$.next(event),
          onData: (data) => frames$.next(data),
          onFailed: (error) => fail(error),
          onOpen: (suite) => {
            events$.next({ type: 'dtls-connected', cipherSuite: suite.name, attempts: 1 });
            events$.next({ type: 'connected', local, remote });
            subscriber.next({
              frames$: frames$.asObservable(),
              events$: events$.asObservable(),
              maxFrameOverhead: suite.overhead,
              reliable: false,
              local,
              remote,
              send(frame: Uint8Array): void {
                if (!done) dtls.sendApplicationData(frame);
              },
            });
          },
        });
        connection = dtls;
        current.on('message', (datagram: Buffer) => {
          if (!done) dtls.receive(datagram);
        });
        dtls.start();
      };

      const open = (address: string, ipFamily: 4 | 6): void => {
        const current = createSocket({ type: ipFamily === 6 ? 'udp6' : 'udp4' });
        socket = current;
        current.on('error', (error: NodeJS.ErrnoException) => {
          if (socket !== current) return;
          // ICMP port unreachable turns into ECONNREFUSED on a connected socket (as on the UDP transport)
          const message =
            error.code === 'ECONNREFUSED'
              ? `${where} refused the datagram (ICMP port unreachable): ${connection?.suite === undefined ? 'no DTLS server on that port (libcoap serves DTLS on its -p port + 1)' : 'the server is gone'}`
              : `DTLS socket to ${formatPeer(remote)} failed: ${error.code ?? 'error'}`;
          fail(new CoapTransportError(message, { syscallCode: error.code, peer: remote, cause: error }));
        });
        current.bind({ address: localAddress, port: localPort }, () => {
          if (socket !== current) return;
          current.connect(port, address, () => {
            if (socket === current) start(current);
          });
        });
      };

      const ipFamily = isIP(stripZone(host));
      if (ipFamily === 4 || ipFamily === 6) open(host, ipFamily);
      else {
        lookup(host, { family: family ?? 0 }, (error, address, resolvedFamily) => {
          if (done) return;
          if (error !== null) {
            fail(new CoapTransportError(`cannot resolve ${host}: ${error.code ?? 'error'}`, { syscallCode: error.code, peer: remote, cause: error }));
            return;
          }
          open(address, resolvedFamily === 6 ? 6 : 4);
        });
      }

      return () => {
        if (done) return;
        connection?.close();
        finish('unsubscribed');
      };
    });
}
