/**
 * A small DTLS 1.2 server for tests (`rxcoap/testing`): the server side of the ECDHE handshake of rxcoap's own
 * DTLS client, on the same record layer and codec, with no sockets and no timers (the client drives
 * retransmission; a repeated client flight makes this server send its last flight again, RFC 6347 §4.2.4).
 * Datagrams go out through `send` and come in through {@link DtlsTestServer.receive}, so a spec can run a
 * whole handshake in virtual time, lose, duplicate or reorder datagrams, and make the server lie on purpose:
 * a wrong Finished, a bad ServerKeyExchange signature, a wrong suite.
 *
 * Not a general DTLS server: one client, one association, the suites of `ecdhe-suites.ts`, no resumption.
 */
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { ecdheSuiteByName, NamedGroup, signatureSchemeById, SIGNATURE_SCHEMES, type DtlsPkiCipherSuite, type EcdheSuiteInfo } from '../transport/dtls/ecdhe-suites';
import {
  decodeCertificate,
  decodeFragments,
  encodeCertificate,
  encodeHandshake,
  ExtensionType,
  fragmentHandshake,
  HANDSHAKE_HEADER_LENGTH,
  HandshakeType,
  Reader,
  Writer,
} from '../transport/dtls/handshake-codec';
import { finishedVerifyData, keyBlock, masterSecret, transcriptHash } from '../transport/dtls/record-crypto';
import { ContentType, RecordLayer } from '../transport/dtls/record-layer';
import { signingScheme, signWith, verifySignature } from '../transport/dtls/signatures';

/** Ways the test server misbehaves on purpose. */
export interface DtlsTestServerFaults {
  /** Flip one bit of the verify_data of the server's Finished (the client must refuse it: `'bad-finished'`). */
  readonly badFinished?: boolean;
  /** Flip one bit of the ServerKeyExchange signature (`'bad-signature'`). */
  readonly badSignature?: boolean;
  /** Pick this suite code point whatever the client offered. */
  readonly forceSuite?: number;
  /** Send no HelloVerifyRequest (answer the first ClientHello at once). */
  readonly noCookie?: boolean;
  /** Ignore the client's extended_master_secret (RFC 7627): the RFC 5246 master secret is used. */
  readonly noExtendedMasterSecret?: boolean;
}

/** Options of {@link DtlsTestServer}. */
export interface DtlsTestServerOptions {
  /** DER certificates, leaf first (the chain the server presents). */
  readonly certificates: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  /** Suites the server takes, most preferred first. */
  readonly suites: readonly DtlsPkiCipherSuite[];
  /** Ask for a client certificate; `'require'` also fails a handshake without one (alert 116). */
  readonly clientCertificate?: 'request' | 'require';
  /** Largest datagram the server sends. @defaultValue 1152 */
  readonly maxDatagram?: number;
  readonly faults?: DtlsTestServerFaults;
  /** Sends one datagram to the client. */
  send(datagram: Uint8Array): void;
  /** Application data from the client; the return value, if any, is sent back. */
  onData?(data: Uint8Array): Uint8Array | undefined;
}

/** What the server saw of the client. */
export interface DtlsTestServerObservations {
  clientHellos: number;
  serverName: string | undefined;
  extendedMasterSecret: boolean;
  clientCertificates: readonly Uint8Array[];
  clientCertificateVerified: boolean;
  alerts: number[];
  connected: boolean;
  flightsSent: number;
}

interface ClientHello {
  readonly random: Uint8Array;
  readonly cookie: Uint8Array;
  readonly suites: number[];
  readonly extensions: Map<number, Uint8Array>;
}

function decodeClientHello(body: Uint8Array): ClientHello {
  const reader = new Reader(body);
  reader.u16();
  const random = reader.take(32);
  reader.vector8();
  const cookie = reader.vector8();
  const suiteBytes = new Reader(reader.vector16());
  const suites: number[] = [];
  while (suiteBytes.remaining > 0) suites.push(suiteBytes.u16());
  reader.vector8();
  const extensions = new Map<number, Uint8Array>();
  if (reader.remaining > 0) {
    const list = new Reader(reader.vector16());
    while (list.remaining > 0) extensions.set(list.u16(), list.vector16());
  }
  return { random, cookie, suites, extensions };
}

function u16s(bytes: Uint8Array | undefined): number[] {
  if (bytes === undefined) return [];
  const reader = new Reader(bytes);
  const list = new Reader(reader.vector16());
  const values: number[] = [];
  while (list.remaining > 0) values.push(list.u16());
  return values;
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** The server side of one DTLS 1.2 association, for specs. */
export class DtlsTestServer {
  readonly observed: DtlsTestServerObservations = {
    clientHellos: 0,
    serverName: undefined,
    extendedMasterSecret: false,
    clientCertificates: [],
    clientCertificateVerified: false,
    alerts: [],
    connected: false,
    flightsSent: 0,
  };
  readonly #options: DtlsTestServerOptions;
  readonly #suites: readonly EcdheSuiteInfo[];
  readonly #records = new RecordLayer();
  readonly #cookie = randomBytes(16);
  readonly #random = randomBytes(32);
  #sendSequence = 0;
  #receiveSequence = 0;
  #transcript: Uint8Array[] = [];
  #lastFlight: { type: number; epoch: number; payload: Uint8Array }[] = [];
  #lastClientFlightStart = -1;
  #suite: EcdheSuiteInfo | undefined;
  #clientRandom: Uint8Array | undefined;
  #ecdhe: { group: number; secret: (peer: Uint8Array) => Buffer } | undefined;
  #master: Buffer | undefined;
  #clientKey: KeyObject | undefined;
  #pending = new Map<number, { type: number; body: Uint8Array }>();

  constructor(options: DtlsTestServerOptions) {
    this.#options = options;
    this.#suites = options.suites.map((name) => {
      const suite = ecdheSuiteByName(name);
      if (suite === undefined) throw new Error(`the DTLS test server does not know the suite ${String(name)}`);
      return suite;
    });
  }

  /** A datagram from the client. */
  receive(datagram: Uint8Array): void {
    for (const record of this.#records.open(datagram)) {
      if (record.type === ContentType.alert) {
        this.observed.alerts.push(record.fragment[1]);
        continue;
      }
      if (record.type === ContentType.applicationData) {
        const reply = this.#options.onData?.(record.fragment);
        if (reply !== undefined) this.sendApplicationData(reply);
        continue;
      }
      if (record.type !== ContentType.handshake) continue;
      for (const fragment of decodeFragments(record.fragment)) {
        // the test server takes whole messages only (the client's fit a datagram unless its chain is large)
        if (fragment.sequence < this.#receiveSequence) {
          if (fragment.sequence === this.#lastClientFlightStart && fragment.offset === 0) this.#resend();
          continue;
        }
        const partial = this.#pending.get(fragment.sequence) ?? { type: fragment.type, body: new Uint8Array(fragment.length) };
        partial.body.set(fragment.body, fragment.offset);
        this.#pending.set(fragment.sequence, partial);
        if (fragment.offset + fragment.body.length !== fragment.length) continue;
        for (let next = this.#pending.get(this.#receiveSequence); next !== undefined; next = this.#pending.get(this.#receiveSequence)) {
          this.#pending.delete(this.#receiveSequence);
          this.#onMessage(next.type, this.#receiveSequence++, next.body);
        }
      }
    }
  }

  /** Sends application data to the client (after the handshake). */
  sendApplicationData(data: Uint8Array): void {
    const record = this.#records.seal(ContentType.applicationData, data);
    if (record !== undefined) this.#options.send(record);
  }

  /** Sends the last flight again, in new records (as a server's retransmission timer would, RFC 6347 §4.2.4). */
  retransmit(): void {
    this.#resend();
  }

  /** Sends an alert in the current epoch. */
  sendAlert(level: 1 | 2, description: number): void {
    const record = this.#records.seal(ContentType.alert, Uint8Array.of(level, description));
    if (record !== undefined) this.#options.send(record);
  }

  #flight(parts: { type: number; epoch: number; message: Uint8Array }[]): void {
    const max = this.#options.maxDatagram ?? 1152;
    this.#lastFlight = parts.flatMap((part) =>
      part.type === ContentType.handshake
        ? fragmentHandshake(part.message, max - this.#records.overhead(part.epoch) - HANDSHAKE_HEADER_LENGTH).map((payload) => ({ type: part.type, epoch: part.epoch, payload }))
        : [{ type: part.type, epoch: part.epoch, payload: part.message }],
    );
    this.#resend();
  }

  #resend(): void {
    this.observed.flightsSent++;
    const max = this.#options.maxDatagram ?? 1152;
    let datagram: Uint8Array[] = [];
    let size = 0;
    for (const record of this.#lastFlight) {
      const sealed = this.#records.seal(record.type, record.payload, record.epoch)!;
      if (size + sealed.length > max && datagram.length > 0) {
        this.#options.send(Buffer.concat(datagram));
        datagram = [];
        size = 0;
      }
      datagram.push(sealed);
      size += sealed.length;
    }
    if (datagram.length > 0) this.#options.send(Buffer.concat(datagram));
  }

  #onMessage(type: number, sequence: number, body: Uint8Array): void {
    const whole = encodeHandshake(type, sequence, body);
    if (type === HandshakeType.clientHello) {
      this.observed.clientHellos++;
      this.#lastClientFlightStart = sequence;
      const hello = decodeClientHello(body);
      if (this.#options.faults?.noCookie !== true && !timingSafeEqualSafe(hello.cookie, this.#cookie)) {
        // RFC 6347 §4.2.1: HelloVerifyRequest, message_seq 0, not in the transcript
        this.#flight([{ type: ContentType.handshake, epoch: 0, message: encodeHandshake(HandshakeType.helloVerifyRequest, this.#sendSequence++, new Writer().u16(0xfefd).vector8(this.#cookie).finish()) }]);
        return;
      }
      this.#transcript = [whole];
      this.#serverFlight(hello);
      return;
    }
    if (type === HandshakeType.finished) {
      this.#onClientFinished(body, sequence);
      return;
    }
    this.#transcript.push(whole);
    if (type === HandshakeType.certificate) {
      this.#lastClientFlightStart = sequence;
      const certificates = decodeCertificate(body);
      this.observed.clientCertificates = certificates;
      if (certificates.length > 0) this.#clientKey = new X509Certificate(certificates[0]).publicKey;
    } else if (type === HandshakeType.clientKeyExchange) {
      if (this.#options.clientCertificate === undefined) this.#lastClientFlightStart = sequence;
      const publicKey = new Reader(body).vector8();
      const secret = this.#ecdhe!.secret(publicKey);
      this.#master = this.observed.extendedMasterSecret
        ? masterSecret(secret, { sessionHash: transcriptHash(this.#transcript) })
        : masterSecret(secret, { clientRandom: this.#clientRandom!, serverRandom: this.#random });
      const keys = keyBlock(this.#master, this.#clientRandom!, this.#random, this.#suite!.aead);
      this.#records.setReadKeys(1, keys.client);
      this.#pendingWriteKeys = keys.server;
    } else if (type === HandshakeType.certificateVerify) {
      const reader = new Reader(body);
      const scheme = signatureSchemeById(reader.u16());
      const signature = reader.vector16();
      const signed = Buffer.concat(this.#transcript.slice(0, -1));
      this.observed.clientCertificateVerified = scheme !== undefined && this.#clientKey !== undefined && verifySignature(scheme, this.#clientKey, signed, signature);
    }
  }

  #pendingWriteKeys: ReturnType<typeof keyBlock>['server'] | undefined;

  #serverFlight(hello: ClientHello): void {
    const options = this.#options;
    const forced = options.faults?.forceSuite;
    const suite = forced !== undefined ? { ...this.#suites[0], id: forced } : this.#suites.find((candidate) => hello.suites.includes(candidate.id));
    if (suite === undefined) {
      this.sendAlert(2, 40);
      return;
    }
    this.#suite = this.#suites.find((candidate) => candidate.id === suite.id) ?? this.#suites[0];
    this.#clientRandom = hello.random;
    this.observed.extendedMasterSecret = hello.extensions.has(ExtensionType.extendedMasterSecret) && options.faults?.noExtendedMasterSecret !== true;
    const sni = hello.extensions.get(ExtensionType.serverName);
    if (sni !== undefined) {
      const list = new Reader(new Reader(sni).vector16());
      list.u8();
      this.observed.serverName = Buffer.from(list.vector16()).toString('ascii');
    }
    const groups = u16s(hello.extensions.get(ExtensionType.supportedGroups));
    const group = groups.find((candidate) => candidate === NamedGroup.x25519 || candidate === NamedGroup.secp256r1) ?? NamedGroup.secp256r1;
    let ownPublic: Uint8Array;
    if (group === NamedGroup.secp256r1) {
      const ecdh = createECDH('prime256v1');
      ownPublic = ecdh.generateKeys();
      this.#ecdhe = { group, secret: (peer) => ecdh.computeSecret(peer) };
    } else {
      const pair = generateKeyPairSync('x25519');
      ownPublic = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
      this.#ecdhe = {
        group,
        secret: (peer) => diffieHellman({ privateKey: pair.privateKey, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peer]), format: 'der', type: 'spki' }) }),
      };
    }
    const extensions = new Writer();
    if (this.observed.extendedMasterSecret) extensions.u16(ExtensionType.extendedMasterSecret).u16(0);
    extensions.u16(ExtensionType.renegotiationInfo).vector16(Uint8Array.of(0));
    const serverHello = new Writer().u16(0xfefd).bytes(this.#random).vector8(randomBytes(32)).u16(suite.id).u8(0).vector16(extensions.finish()).finish();
    const params = new Writer().u8(3).u16(group).vector8(ownPublic).finish();
    const offered = u16s(hello.extensions.get(ExtensionType.signatureAlgorithms));
    const scheme = signingScheme(options.privateKey, offered.length > 0 ? offered : SIGNATURE_SCHEMES.map((s) => s.id))!;
    const signature = signWith(scheme, options.privateKey, Buffer.concat([hello.random, this.#random, params]))!;
    if (options.faults?.badSignature === true) signature[signature.length - 1] ^= 0x01;
    const parts: { type: number; body: Uint8Array }[] = [
      { type: HandshakeType.serverHello, body: serverHello },
      { type: HandshakeType.certificate, body: encodeCertificate(options.certificates) },
      { type: HandshakeType.serverKeyExchange, body: new Writer().bytes(params).u16(scheme.id).vector16(signature).finish() },
    ];
    if (options.clientCertificate !== undefined) {
      const schemes = new Writer();
      for (const s of SIGNATURE_SCHEMES) schemes.u16(s.id);
      parts.push({ type: HandshakeType.certificateRequest, body: new Writer().vector8(Uint8Array.of(64, 1)).vector16(schemes.finish()).u16(0).finish() });
    }
    parts.push({ type: HandshakeType.serverHelloDone, body: new Uint8Array(0) });
    const messages = parts.map((part) => encodeHandshake(part.type, this.#sendSequence++, part.body));
    this.#transcript.push(...messages);
    this.#flight(messages.map((message) => ({ type: ContentType.handshake, epoch: 0, message })));
  }

  #onClientFinished(body: Uint8Array, sequence: number): void {
    if (this.#master === undefined || this.#pendingWriteKeys === undefined) return;
    const expected = finishedVerifyData(this.#master, 'client finished', transcriptHash(this.#transcript));
    if (!timingSafeEqualSafe(body, expected)) {
      this.sendAlert(2, 51);
      return;
    }
    if (this.#options.clientCertificate === 'require' && this.observed.clientCertificates.length === 0) {
      this.sendAlert(2, 116);
      return;
    }
    this.#transcript.push(encodeHandshake(HandshakeType.finished, sequence, body));
    const verifyData = finishedVerifyData(this.#master, 'server finished', transcriptHash(this.#transcript));
    if (this.#options.faults?.badFinished === true) verifyData[0] ^= 0x01;
    this.#records.nextWriteEpoch(this.#pendingWriteKeys);
    this.#pendingWriteKeys = undefined;
    this.observed.connected = true;
    this.#flight([
      { type: ContentType.changeCipherSpec, epoch: 0, message: Uint8Array.of(1) },
      { type: ContentType.handshake, epoch: 1, message: encodeHandshake(HandshakeType.finished, this.#sendSequence++, verifyData) },
    ]);
  }
}

function timingSafeEqualSafe(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
