/**
 * rxcoap's own DTLS 1.2 client on `node:crypto` (RFC 6347 over RFC 5246, ECDHE per RFC 8422, AEAD suites of
 * RFC 7251 / RFC 5289, extended master secret RFC 7627, SNI RFC 6066, raw public keys RFC 7250): the handshake,
 * then application data and close_notify on the same record layer. No sockets here: datagrams go out through
 * `send` and come in through {@link DtlsClientConnection.receive}; every timer runs on the injected scheduler.
 *
 * Flights (RFC 6347 §4.2.4):
 *
 *    client                                          server
 *    ClientHello                  -------->                      flight 1
 *                                 <--------   HelloVerifyRequest  flight 2 (optional)
 *    ClientHello + cookie         -------->                      flight 3
 *                                                  ServerHello
 *                                                  Certificate
 *                                            ServerKeyExchange
 *                                          CertificateRequest*
 *                                 <--------    ServerHelloDone    flight 4
 *    Certificate* ClientKeyExchange
 *    CertificateVerify* [ChangeCipherSpec] Finished  -------->   flight 5
 *                                 <--------  [ChangeCipherSpec] Finished  flight 6
 *
 * A flight is sent again when its timer runs out (1 s, doubling up to 60 s, §4.2.4.1) or when the server sends
 * its previous flight again; the handshake fails with `'handshake-timeout'` at the deadline.
 *
 * What is verified, and fails the handshake when wrong: the server's certificate chain (through the
 * `verifyServer` callback), the ServerKeyExchange signature under that certificate's key, the selected suite,
 * group and signature scheme being ones offered, and the server's Finished.
 */
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { SchedulerLike, Subscription } from 'rxjs';
import { CoapDtlsError, type PeerAddress } from '../../errors';
import type { TransportEvent } from '../transport';
import { NamedGroup, signatureSchemeById, SIGNATURE_SCHEMES, type EcdheSuiteInfo } from './ecdhe-suites';
import { signingScheme, signWith, verifySignature } from './signatures';
import {
  CertificateType,
  decodeCertificate,
  decodeCertificateRequest,
  decodeFragments,
  decodeHelloVerifyRequest,
  decodeRawPublicKeyCertificate,
  decodeServerHello,
  decodeServerKeyExchange,
  encodeCertificate,
  encodeCertificateVerify,
  encodeClientHello,
  encodeClientKeyExchange,
  encodeHandshake,
  ExtensionType,
  fragmentHandshake,
  HANDSHAKE_HEADER_LENGTH,
  HandshakeDecodeError,
  HandshakeType,
  Reader,
  type CertificateRequestFields,
  type HandshakeFragment,
} from './handshake-codec';
import { finishedVerifyData, keyBlock, masterSecret, transcriptHash } from './record-crypto';
import { ContentType, RecordLayer, DTLS_1_2 } from './record-layer';

/** RFC 5246 §7.2 alert descriptions (names as the RFC spells them). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  user_canceled: 90,
  no_renegotiation: 100,
  unsupported_extension: 110,
  certificate_required: 116,
} as const;

const alertNames = new Map<number, string>(Object.entries(AlertDescription).map(([name, code]) => [code, name]));

/** The name of an alert description, or its number. */
export function alertName(description: number): string {
  return alertNames.get(description) ?? `alert ${description}`;
}

/** The server's identity as the handshake presents it to the verifier. */
export type PresentedIdentity = { readonly kind: 'x509'; readonly certificates: readonly Uint8Array[] } | { readonly kind: 'raw-public-key'; readonly spki: Uint8Array };

/** The verifier's verdict: the key the server must have signed with, or why it is refused. */
export type IdentityVerdict = { readonly ok: true; readonly publicKey: KeyObject } | { readonly ok: false; readonly error: CoapDtlsError; readonly alert: number };

/** The client's own certificate (or raw public key) and private key, for a CertificateRequest. */
export interface ClientIdentity {
  /** DER certificates, leaf first; with raw public keys the one SubjectPublicKeyInfo. */
  readonly certificates: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly rawPublicKey?: boolean;
}

/** Options of {@link DtlsClientConnection}. */
export interface DtlsClientConnectionOptions {
  readonly peer: PeerAddress;
  /** SNI (RFC 6066 §3): a DNS name, never an IP literal; undefined sends none. */
  readonly serverName: string | undefined;
  readonly suites: readonly EcdheSuiteInfo[];
  readonly groups: readonly number[];
  /** Offer raw public keys for the server (RFC 7250): `'only'` offers nothing else. */
  readonly rawPublicKeys?: 'only' | undefined;
  readonly clientIdentity?: ClientIdentity;
  /** Decides on the server's certificate chain or raw public key. */
  verifyServer(identity: PresentedIdentity): IdentityVerdict;
  readonly scheduler: SchedulerLike;
  /** First retransmission timeout, in milliseconds (RFC 6347 §4.2.4.1: 1 s). @defaultValue 1000 */
  readonly retransmitTimeout?: number;
  /** Longest retransmission timeout, in milliseconds. @defaultValue 60000 */
  readonly maxRetransmitTimeout?: number;
  /** Total handshake time, in milliseconds. */
  readonly handshakeDeadline: number;
  /** Largest datagram sent, in bytes (records of a flight are packed up to it, messages fragmented to fit). */
  readonly maxDatagram: number;
  /** Sends one datagram. */
  send(datagram: Uint8Array): void;
  /** The handshake is done. */
  onOpen(suite: EcdheSuiteInfo): void;
  /** One application-data record. */
  onData(data: Uint8Array): void;
  /** The association ended: an error, or close_notify from the peer. */
  onFailed(error: CoapDtlsError): void;
  onEvent(event: TransportEvent): void;
}

/** One record of a flight, kept to be sent again. */
interface FlightRecord {
  readonly type: number;
  readonly epoch: number;
  readonly payload: Uint8Array;
}

/** A handshake message being put together from fragments. */
interface PartialMessage {
  readonly type: number;
  readonly body: Uint8Array;
  readonly filled: Uint8Array;
  missing: number;
}

const MAX_MESSAGE_LENGTH = 256 * 1024;
const MAX_BUFFERED_AHEAD = 16;
const MAX_COOKIE_CHANGES = 4;
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

type State = 'wait-server-hello' | 'wait-server-hello-done' | 'wait-finished' | 'open' | 'closed';

/** One DTLS 1.2 client association. */
export class DtlsClientConnection {
  readonly #options: DtlsClientConnectionOptions;
  readonly #records = new RecordLayer();
  readonly #clientRandom = randomBytes(32);
  #state: State = 'wait-server-hello';
  #cookie: Uint8Array = new Uint8Array(0);
  #sendSequence = 0;
  #receiveSequence = 0;
  /** message_seq of the first message of the server's latest flight (a repeat of it means ours was lost). */
  #serverFlightStart = -1;
  readonly #partial = new Map<number, PartialMessage>();
  /** Whole handshake messages as hashed: from the ClientHello with the cookie (RFC 6347 §4.2.1) on. */
  #transcript: Uint8Array[] = [];
  #flight: FlightRecord[] = [];
  #timer: Subscription | undefined;
  #deadlineTimer: Subscription | undefined;
  #timeout: number;
  #retransmissions = 0;
  #suite: EcdheSuiteInfo | undefined;
  #serverRandom: Uint8Array | undefined;
  #extendedMasterSecret = false;
  #rawPublicKey = false;
  #serverKey: KeyObject | undefined;
  #serverKeyExchange: { group: number; publicKey: Uint8Array } | undefined;
  #certificateRequest: CertificateRequestFields | undefined;
  #expectedServerFinished: Buffer | undefined;
  #sentCertificate = false;
  #cookieChanges = 0;

  constructor(options: DtlsClientConnectionOptions) {
    this.#options = options;
    this.#timeout = options.retransmitTimeout ?? 1000;
  }

  /** The negotiated suite, once the ServerHello chose it. */
  get suite(): EcdheSuiteInfo | undefined {
    return this.#suite;
  }

  /** Bytes each application record adds (header, explicit nonce, tag). */
  get overhead(): number {
    return this.#records.overhead();
  }

  /** Sends the first ClientHello and starts the deadline. */
  start(): void {
    this.#deadlineTimer = this.#options.scheduler.schedule(() => {
      if (this.#state === 'open' || this.#state === 'closed') return;
      this.#fail(
        new CoapDtlsError(
          'handshake-timeout',
          `DTLS handshake with ${describe(this.#options.peer)} timed out after ${this.#options.handshakeDeadline} ms (${this.#retransmissions} retransmission(s)) waiting for ${this.#waitingFor()}`,
          { peer: this.#options.peer },
        ),
        undefined,
      );
    }, this.#options.handshakeDeadline);
    this.#sendClientHello();
  }

  /** A datagram from the peer. Never throws. */
  receive(datagram: Uint8Array): void {
    if (this.#state === 'closed') return;
    try {
      for (const record of this.#records.open(datagram)) {
        if (this.#closed()) return;
        this.#onRecord(record.type, record.epoch, record.fragment);
      }
    } catch (error) {
      if (error instanceof HandshakeDecodeError) {
        this.#fail(new CoapDtlsError('handshake-failed', `DTLS handshake with ${describe(this.#options.peer)} failed: the server sent a malformed message (${error.message})`, { peer: this.#options.peer }), AlertDescription.decode_error);
        return;
      }
      this.#fail(new CoapDtlsError('handshake-failed', `DTLS association with ${describe(this.#options.peer)} failed`, { peer: this.#options.peer, cause: error }), AlertDescription.internal_error);
    }
  }

  /** Sends application data (after the handshake); false when it cannot be sent. */
  sendApplicationData(data: Uint8Array): boolean {
    if (this.#state !== 'open') return false;
    const record = this.#records.seal(ContentType.applicationData, data);
    if (record === undefined) return false;
    this.#options.send(record);
    return true;
  }

  /** Ends the association: close_notify when open (RFC 5246 §7.2.1), then nothing more is sent or received. */
  close(): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') this.#sendAlert(1, AlertDescription.close_notify);
    this.#stop();
  }

  /** Read through a method: TypeScript narrows a field across the calls that change it. */
  #closed(): boolean {
    return this.#state === 'closed';
  }

  #stop(): void {
    this.#endHandshake('closed');
  }

  /** Drops the timers, the flight, the fragments and the transcript: the handshake is over, one way or the other. */
  #endHandshake(state: 'open' | 'closed'): void {
    this.#state = state;
    this.#timer?.unsubscribe();
    this.#deadlineTimer?.unsubscribe();
    this.#timer = undefined;
    this.#deadlineTimer = undefined;
    this.#flight = [];
    this.#partial.clear();
    this.#transcript = [];
  }

  #fail(error: CoapDtlsError, alert: number | undefined): void {
    if (this.#state === 'closed') return;
    if (alert !== undefined) this.#sendAlert(2, alert);
    this.#stop();
    this.#options.onFailed(error);
  }

  #sendAlert(level: 1 | 2, description: number): void {
    const record = this.#records.seal(ContentType.alert, Uint8Array.of(level, description));
    if (record !== undefined) this.#options.send(record);
  }

  #waitingFor(): string {
    switch (this.#state) {
      case 'wait-server-hello':
        return this.#cookie.length > 0 ? 'the ServerHello (after the cookie exchange)' : 'any answer to the ClientHello: no DTLS server on that port, or every packet lost';
      case 'wait-server-hello-done':
        return 'the rest of the server\'s flight (ServerHelloDone)';
      default:
        return this.#certificateRequest !== undefined && !this.#sentCertificate
          ? 'the server\'s Finished; the server asked for a client certificate and none is configured'
          : 'the server\'s Finished (the server may have refused our flight without an alert)';
    }
  }

  // ---- sending flights

  #sendClientHello(): void {
    const options = this.#options;
    const rawOnly = options.rawPublicKeys === 'only';
    const body = encodeClientHello({
      random: this.#clientRandom,
      cookie: this.#cookie,
      cipherSuites: options.suites.map((suite) => suite.id),
      groups: options.groups,
      signatureSchemes: SIGNATURE_SCHEMES.map((scheme) => scheme.id),
      serverName: options.serverName,
      serverCertificateTypes: rawOnly ? [CertificateType.rawPublicKey] : undefined,
      clientCertificateTypes: rawOnly && options.clientIdentity !== undefined ? [CertificateType.rawPublicKey] : undefined,
    });
    const message = encodeHandshake(HandshakeType.clientHello, this.#sendSequence++, body);
    this.#transcript = [message];
    this.#sendFlight([{ type: ContentType.handshake, epoch: 0, message }]);
  }

  /** Fragments, seals and packs a flight into datagrams, keeps it for retransmission, and (re)starts its timer. */
  #sendFlight(parts: readonly { type: number; epoch: number; message: Uint8Array }[]): void {
    const flight: FlightRecord[] = [];
    for (const part of parts) {
      if (part.type !== ContentType.handshake) {
        flight.push({ type: part.type, epoch: part.epoch, payload: part.message });
        continue;
      }
      const budget = this.#options.maxDatagram - this.#records.overhead(part.epoch) - HANDSHAKE_HEADER_LENGTH;
      for (const fragment of fragmentHandshake(part.message, Math.max(64, budget))) flight.push({ type: part.type, epoch: part.epoch, payload: fragment });
    }
    this.#flight = flight;
    this.#timeout = this.#options.retransmitTimeout ?? 1000;
    this.#transmitFlight();
  }

  #transmitFlight(): void {
    const datagrams: Uint8Array[][] = [];
    let current: Uint8Array[] = [];
    let size = 0;
    for (const record of this.#flight) {
      const sealed = this.#records.seal(record.type, record.payload, record.epoch);
      if (sealed === undefined) continue;
      if (size + sealed.length > this.#options.maxDatagram && current.length > 0) {
        datagrams.push(current);
        current = [];
        size = 0;
      }
      current.push(sealed);
      size += sealed.length;
    }
    if (current.length > 0) datagrams.push(current);
    for (const datagram of datagrams) this.#options.send(datagram.length === 1 ? datagram[0] : Buffer.concat(datagram));
    this.#armTimer();
  }

  #armTimer(): void {
    this.#timer?.unsubscribe();
    const delay = this.#timeout;
    this.#timer = this.#options.scheduler.schedule(() => {
      this.#timer = undefined;
      if (this.#state === 'open' || this.#state === 'closed') return;
      // RFC 6347 §4.2.4.1: double the timer, up to 60 s
      this.#timeout = Math.min(this.#timeout * 2, this.#options.maxRetransmitTimeout ?? 60000);
      this.#retransmissions++;
      this.#options.onEvent({ type: 'dtls-retry', attempt: this.#retransmissions + 1, delay: this.#timeout, reason: `no answer within ${delay} ms while waiting for ${this.#waitingFor()}` });
      this.#transmitFlight();
    }, delay);
  }

  // ---- receiving

  #onRecord(type: number, epoch: number, fragment: Uint8Array): void {
    switch (type) {
      case ContentType.handshake: {
        let parts: HandshakeFragment[];
        try {
          parts = decodeFragments(fragment);
        } catch {
          return; // RFC 6347 §4.1.2.7: a record that does not parse is dropped
        }
        for (const part of parts) this.#onFragment(part, epoch);
        return;
      }
      case ContentType.changeCipherSpec:
        // RFC 6347 §4.1: the server's epoch change; its Finished arrives (authenticated) in epoch 1
        return;
      case ContentType.alert:
        this.#onAlert(fragment);
        return;
      case ContentType.applicationData:
        if (this.#state === 'open' && epoch > 0) this.#options.onData(fragment);
        return;
    }
  }

  #onAlert(fragment: Uint8Array): void {
    if (fragment.length < 2) return;
    const [level, description] = fragment;
    const peer = this.#options.peer;
    if (description === AlertDescription.close_notify) {
      this.#stop();
      this.#options.onFailed(new CoapDtlsError('closed-by-peer', `the server ${describe(peer)} closed the DTLS session (close_notify)`, { peer }));
      return;
    }
    if (level !== 2) return; // warnings (no_renegotiation, ...) change nothing
    const name = alertName(description);
    this.#stop();
    if (this.#certificateRequest !== undefined && !this.#sentCertificate) {
      this.#options.onFailed(
        new CoapDtlsError('client-cert-required', `DTLS handshake with ${describe(peer)} failed: the server asked for a client certificate and refused the handshake without one (fatal ${name} alert): give pki.pkiKey.publicCert and privateKey`, { peer }),
      );
      return;
    }
    if (description === AlertDescription.certificate_required) {
      this.#options.onFailed(new CoapDtlsError('client-cert-required', `DTLS handshake with ${describe(peer)} failed: the server requires a client certificate (certificate_required alert): give pki.pkiKey.publicCert and privateKey`, { peer }));
      return;
    }
    const rejected = this.#sentCertificate && (description === AlertDescription.bad_certificate || description === AlertDescription.unknown_ca || description === AlertDescription.certificate_unknown || description === AlertDescription.unsupported_certificate);
    const hint = description === AlertDescription.handshake_failure ? ' (often: no cipher suite, group or certificate type in common)' : '';
    this.#options.onFailed(
      new CoapDtlsError(rejected ? 'client-cert-rejected' : 'alert', `DTLS ${this.#state === 'open' ? 'session' : 'handshake'} with ${describe(peer)} failed: the server sent a fatal ${name} alert${hint}`, { peer }),
    );
  }

  #onFragment(fragment: HandshakeFragment, epoch: number): void {
    if (this.#state === 'wait-server-hello' && fragment.type === HandshakeType.helloVerifyRequest && fragment.offset === 0 && fragment.body.length === fragment.length && this.#cookie.length > 0) {
      // RFC 6347 §4.2.1: a server that found our cookie invalid (its secret changed, or it lost the handshake) sends
      // a new HelloVerifyRequest; answer a new cookie with a new ClientHello, a few times at most
      const cookie = decodeHelloVerifyRequest(fragment.body);
      if (!equalBytes(cookie, this.#cookie) && this.#cookieChanges++ < MAX_COOKIE_CHANGES) {
        this.#cookie = cookie;
        this.#receiveSequence = fragment.sequence + 1;
        this.#serverFlightStart = fragment.sequence;
        this.#sendClientHello();
        return;
      }
    }
    if (fragment.sequence < this.#receiveSequence) {
      // RFC 6347 §4.2.4: the server sent its last flight again, so it lost ours: send ours again
      if (fragment.sequence === this.#serverFlightStart && fragment.offset === 0 && this.#state !== 'open' && this.#flight.length > 0) this.#transmitFlight();
      return;
    }
    if (fragment.sequence >= this.#receiveSequence + MAX_BUFFERED_AHEAD || fragment.length > MAX_MESSAGE_LENGTH) return;
    // After our ChangeCipherSpec the one message left, the server's Finished, must come protected (epoch 1): an
    // unprotected fragment then is anyone's, and dropped; before it, every server message is in epoch 0.
    if (this.#state === 'wait-finished' ? epoch === 0 : epoch !== 0) return;
    let partial = this.#partial.get(fragment.sequence);
    if (partial === undefined) {
      partial = { type: fragment.type, body: new Uint8Array(fragment.length), filled: new Uint8Array(fragment.length), missing: fragment.length };
      this.#partial.set(fragment.sequence, partial);
    } else if (partial.type !== fragment.type || partial.body.length !== fragment.length) {
      return; // fragments of one message that disagree on its type or length: the later one is dropped
    }
    for (let i = 0; i < fragment.body.length; i++) {
      const at = fragment.offset + i;
      if (partial.filled[at] === 0) {
        partial.filled[at] = 1;
        partial.missing--;
      }
    }
    partial.body.set(fragment.body, fragment.offset);
    for (let next = this.#partial.get(this.#receiveSequence); next !== undefined && next.missing === 0; next = this.#partial.get(this.#receiveSequence)) {
      const sequence = this.#receiveSequence++;
      this.#partial.delete(sequence);
      this.#onMessage(next.type, sequence, next.body);
      if (this.#closed()) return;
    }
  }

  #unexpected(what: string): never {
    throw Object.assign(new HandshakeDecodeError(`unexpected ${what}`), { unexpected: true });
  }

  #onMessage(type: number, sequence: number, body: Uint8Array): void {
    const whole = encodeHandshake(type, sequence, body);
    switch (this.#state) {
      case 'wait-server-hello':
        if (type === HandshakeType.helloVerifyRequest) {
          this.#serverFlightStart = sequence;
          this.#cookie = decodeHelloVerifyRequest(body);
          this.#sendClientHello();
          return;
        }
        if (type !== HandshakeType.serverHello) this.#unexpected(`handshake message ${type} before the ServerHello`);
        this.#serverFlightStart = sequence;
        this.#transcript.push(whole);
        this.#onServerHello(body);
        return;
      case 'wait-server-hello-done':
        this.#transcript.push(whole);
        this.#onServerFlight(type, body);
        return;
      case 'wait-finished':
        if (type !== HandshakeType.finished) this.#unexpected(`handshake message ${type} instead of the Finished`);
        this.#onServerFinished(body);
        return;
      default:
        // RFC 5246 §7.4.1.1: a HelloRequest (renegotiation) is ignored; nothing else comes after the handshake
        return;
    }
  }

  #onServerHello(body: Uint8Array): void {
    const peer = this.#options.peer;
    const hello = decodeServerHello(body);
    const suite = this.#options.suites.find((offered) => offered.id === hello.cipherSuite);
    if (hello.version !== DTLS_1_2) {
      this.#fail(new CoapDtlsError('handshake-failed', `the server ${describe(peer)} does not speak DTLS 1.2 (version 0x${hello.version.toString(16)})`, { peer }), AlertDescription.protocol_version);
      return;
    }
    if (suite === undefined || hello.compression !== 0) {
      this.#fail(new CoapDtlsError('handshake-failed', `the server ${describe(peer)} chose a cipher suite (0x${hello.cipherSuite.toString(16)}) or compression that was not offered`, { peer }), AlertDescription.illegal_parameter);
      return;
    }
    this.#suite = suite;
    this.#serverRandom = hello.random;
    this.#extendedMasterSecret = hello.extensions.has(ExtensionType.extendedMasterSecret);
    const serverType = hello.extensions.get(ExtensionType.serverCertificateType);
    this.#rawPublicKey = serverType !== undefined && serverType.length === 1 && serverType[0] === CertificateType.rawPublicKey;
    if (this.#options.rawPublicKeys === 'only' && !this.#rawPublicKey) {
      this.#fail(new CoapDtlsError('handshake-failed', `the server ${describe(peer)} does not send a raw public key (RFC 7250)`, { peer }), AlertDescription.unsupported_certificate);
      return;
    }
    this.#state = 'wait-server-hello-done';
  }

  #onServerFlight(type: number, body: Uint8Array): void {
    const peer = this.#options.peer;
    switch (type) {
      case HandshakeType.certificate: {
        if (this.#serverKey !== undefined) this.#unexpected('second Certificate');
        const identity: PresentedIdentity = this.#rawPublicKey ? { kind: 'raw-public-key', spki: decodeRawPublicKeyCertificate(body) } : { kind: 'x509', certificates: decodeCertificate(body) };
        const verdict = this.#options.verifyServer(identity);
        if (!verdict.ok) {
          this.#fail(verdict.error, verdict.alert);
          return;
        }
        this.#serverKey = verdict.publicKey;
        return;
      }
      case HandshakeType.serverKeyExchange: {
        if (this.#serverKey === undefined || this.#serverKeyExchange !== undefined) this.#unexpected('ServerKeyExchange');
        const exchange = decodeServerKeyExchange(body);
        if (!this.#options.groups.includes(exchange.group)) {
          this.#fail(new CoapDtlsError('handshake-failed', `the server ${describe(peer)} chose a group (${exchange.group}) that was not offered`, { peer }), AlertDescription.illegal_parameter);
          return;
        }
        if (!this.#signatureValid(exchange.signatureScheme, exchange.signature, Buffer.concat([this.#clientRandom, this.#serverRandom!, exchange.params]))) {
          this.#fail(
            new CoapDtlsError('bad-signature', `DTLS handshake with ${describe(peer)} failed: the ServerKeyExchange signature does not verify under the server's certificate key`, { peer }),
            AlertDescription.decrypt_error,
          );
          return;
        }
        this.#serverKeyExchange = { group: exchange.group, publicKey: exchange.publicKey };
        return;
      }
      case HandshakeType.certificateRequest:
        if (this.#serverKeyExchange === undefined || this.#certificateRequest !== undefined) this.#unexpected('CertificateRequest');
        this.#certificateRequest = decodeCertificateRequest(body);
        return;
      case HandshakeType.serverHelloDone:
        if (this.#serverKeyExchange === undefined) this.#unexpected('ServerHelloDone');
        new Reader(body).end();
        this.#sendClientFlight();
        return;
      default:
        this.#unexpected(`handshake message ${type} in the server's flight`);
    }
  }

  /** The ServerKeyExchange signature: a scheme we offered, of the suite's key type, verifying under the server's key. */
  #signatureValid(schemeId: number, signature: Uint8Array, signed: Uint8Array): boolean {
    const scheme = signatureSchemeById(schemeId);
    if (scheme === undefined || (scheme.key === 'ec') !== (this.#suite!.signature === 'ecdsa')) return false;
    return verifySignature(scheme, this.#serverKey!, signed, signature);
  }

  /** The ECDHE key pair of the chosen group and the shared secret with the server's key; undefined when the server's key is bad. */
  #agree(): { publicKey: Uint8Array; secret: Buffer } | undefined {
    const { group, publicKey } = this.#serverKeyExchange!;
    try {
      if (group === NamedGroup.secp256r1) {
        if (publicKey.length !== 65 || publicKey[0] !== 4) return undefined;
        const ecdh = createECDH('prime256v1');
        const own = ecdh.generateKeys();
        return { publicKey: own, secret: ecdh.computeSecret(publicKey) };
      }
      if (group === NamedGroup.x25519) {
        if (publicKey.length !== 32) return undefined;
        const pair = generateKeyPairSync('x25519');
        const peerKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
        const secret = diffieHellman({ privateKey: pair.privateKey, publicKey: peerKey });
        // RFC 8422 §5.11: an all-zero shared secret means a small-order point
        if (secret.every((byte) => byte === 0)) return undefined;
        const own = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
        return { publicKey: own, secret };
      }
    } catch {
      return undefined;
    }
    return undefined;
  }

  #sendClientFlight(): void {
    const peer = this.#options.peer;
    const suite = this.#suite!;
    const agreed = this.#agree();
    if (agreed === undefined) {
      this.#fail(new CoapDtlsError('handshake-failed', `the server ${describe(peer)} sent an invalid ECDHE public key`, { peer }), AlertDescription.illegal_parameter);
      return;
    }
    const parts: { type: number; epoch: number; message: Uint8Array }[] = [];
    const add = (type: number, body: Uint8Array): void => {
      const message = encodeHandshake(type, this.#sendSequence++, body);
      this.#transcript.push(message);
      parts.push({ type: ContentType.handshake, epoch: 0, message });
    };
    const identity = this.#options.clientIdentity;
    const request = this.#certificateRequest;
    const sendsCertificate = request !== undefined && identity !== undefined;
    if (request !== undefined) {
      // RFC 5246 §7.4.6: with no suitable certificate, an empty list; RFC 7250: a raw key is one SPKI, no list
      if (!sendsCertificate) add(HandshakeType.certificate, encodeCertificate([]));
      else if (identity.rawPublicKey === true) add(HandshakeType.certificate, new Uint8Array([...u24(identity.certificates[0].length), ...identity.certificates[0]]));
      else add(HandshakeType.certificate, encodeCertificate(identity.certificates));
      this.#sentCertificate = sendsCertificate;
    }
    add(HandshakeType.clientKeyExchange, encodeClientKeyExchange(agreed.publicKey));
    const master = this.#extendedMasterSecret
      ? masterSecret(agreed.secret, { sessionHash: transcriptHash(this.#transcript) })
      : masterSecret(agreed.secret, { clientRandom: this.#clientRandom, serverRandom: this.#serverRandom! });
    if (sendsCertificate) {
      const signed = this.#signTranscript(identity.privateKey, request.signatureSchemes);
      if (signed === undefined) {
        this.#fail(new CoapDtlsError('handshake-failed', `the client key cannot sign with a scheme the server ${describe(peer)} accepts`, { peer }), AlertDescription.handshake_failure);
        return;
      }
      add(HandshakeType.certificateVerify, encodeCertificateVerify(signed.scheme, signed.signature));
    }
    const keys = keyBlock(master, this.#clientRandom, this.#serverRandom!, suite.aead);
    this.#records.setReadKeys(1, keys.server);
    this.#records.nextWriteEpoch(keys.client);
    parts.push({ type: ContentType.changeCipherSpec, epoch: 0, message: Uint8Array.of(1) });
    const finished = encodeHandshake(HandshakeType.finished, this.#sendSequence++, finishedVerifyData(master, 'client finished', transcriptHash(this.#transcript)));
    this.#transcript.push(finished);
    parts.push({ type: ContentType.handshake, epoch: 1, message: finished });
    this.#expectedServerFinished = finishedVerifyData(master, 'server finished', transcriptHash(this.#transcript));
    this.#state = 'wait-finished';
    this.#sendFlight(parts);
  }

  #signTranscript(key: KeyObject, accepted: readonly number[]): { scheme: number; signature: Buffer } | undefined {
    const scheme = signingScheme(key, accepted);
    if (scheme === undefined) return undefined;
    const signature = signWith(scheme, key, Buffer.concat(this.#transcript));
    return signature === undefined ? undefined : { scheme: scheme.id, signature };
  }

  #onServerFinished(body: Uint8Array): void {
    const peer = this.#options.peer;
    const expected = this.#expectedServerFinished!;
    if (body.length !== expected.length || !timingSafeEqual(body, expected)) {
      this.#fail(new CoapDtlsError('bad-finished', `DTLS handshake with ${describe(peer)} failed: the server's Finished does not verify (the handshake was tampered with)`, { peer }), AlertDescription.decrypt_error);
      return;
    }
    this.#endHandshake('open');
    this.#records.closePlaintext();
    this.#options.onOpen(this.#suite!);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function u24(value: number): number[] {
  return [value >> 16, (value >> 8) & 0xff, value & 0xff];
}

function describe(peer: PeerAddress): string {
  const { host, port } = peer as { host: string; port: number };
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
