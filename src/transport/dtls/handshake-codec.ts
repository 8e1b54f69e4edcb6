/**
 * DTLS 1.2 handshake messages of the client (RFC 5246 §7.4, RFC 6347 §4.2, RFC 8422 §5, RFC 7627, RFC 6066 §3,
 * RFC 7250): encoders for what the client sends, decoders for what the server sends, and the fragment header.
 *
 * Handshake header (RFC 6347 §4.2.2):
 *
 *    +----------+--------+-------------+-----------------+-----------------+----------+
 *    | msg_type | length | message_seq | fragment_offset | fragment_length | fragment |
 *    |    1     |   3    |      2      |        3        |        3        |          |
 *    +----------+--------+-------------+-----------------+-----------------+----------+
 *
 * Decoders throw {@link HandshakeDecodeError} on malformed input; the handshake turns that into a
 * decode_error alert and a typed error.
 */

/** RFC 5246 §7.4 / RFC 6347 §4.3.2 handshake types. */
export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

/** RFC 5246 §7.4.1.4 / RFC 6066 / RFC 7627 / RFC 7250 extension types. */
export const ExtensionType = {
  serverName: 0,
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  clientCertificateType: 19,
  serverCertificateType: 20,
  extendedMasterSecret: 23,
  renegotiationInfo: 0xff01,
} as const;

/** RFC 7250 §3 certificate types. */
export const CertificateType = { x509: 0, rawPublicKey: 2 } as const;

export const HANDSHAKE_HEADER_LENGTH = 12;

/** A malformed handshake message from the peer. */
export class HandshakeDecodeError extends Error {}

/** Reads big-endian fields and length-prefixed vectors; throws {@link HandshakeDecodeError} past the end. */
export class Reader {
  #offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.#offset;
  }

  #need(count: number): void {
    if (this.#offset + count > this.bytes.length) throw new HandshakeDecodeError('message too short');
  }

  u8(): number {
    this.#need(1);
    return this.bytes[this.#offset++];
  }

  u16(): number {
    this.#need(2);
    const value = (this.bytes[this.#offset] << 8) | this.bytes[this.#offset + 1];
    this.#offset += 2;
    return value;
  }

  u24(): number {
    this.#need(3);
    const value = (this.bytes[this.#offset] << 16) | (this.bytes[this.#offset + 1] << 8) | this.bytes[this.#offset + 2];
    this.#offset += 3;
    return value;
  }

  take(count: number): Uint8Array {
    this.#need(count);
    const value = this.bytes.subarray(this.#offset, this.#offset + count);
    this.#offset += count;
    return value;
  }

  vector8(): Uint8Array {
    return this.take(this.u8());
  }

  vector16(): Uint8Array {
    return this.take(this.u16());
  }

  vector24(): Uint8Array {
    return this.take(this.u24());
  }

  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  end(): void {
    if (this.remaining !== 0) throw new HandshakeDecodeError('trailing bytes');
  }
}

/** Builds a message from big-endian fields and vectors. */
export class Writer {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  bytes(value: Uint8Array): this {
    this.#parts.push(value);
    this.#length += value.length;
    return this;
  }

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }

  u16(value: number): this {
    return this.bytes(Uint8Array.of(value >> 8, value & 0xff));
  }

  u24(value: number): this {
    return this.bytes(Uint8Array.of(value >> 16, (value >> 8) & 0xff, value & 0xff));
  }

  vector8(value: Uint8Array): this {
    return this.u8(value.length).bytes(value);
  }

  vector16(value: Uint8Array): this {
    return this.u16(value.length).bytes(value);
  }

  vector24(value: Uint8Array): this {
    return this.u24(value.length).bytes(value);
  }

  finish(): Uint8Array {
    return Buffer.concat(this.#parts, this.#length);
  }
}

/** One received handshake fragment. */
export interface HandshakeFragment {
  readonly type: number;
  readonly length: number;
  readonly sequence: number;
  readonly offset: number;
  readonly body: Uint8Array;
}

/** Splits a handshake record into its fragments. */
export function decodeFragments(record: Uint8Array): HandshakeFragment[] {
  const reader = new Reader(record);
  const fragments: HandshakeFragment[] = [];
  while (reader.remaining > 0) {
    const type = reader.u8();
    const length = reader.u24();
    const sequence = reader.u16();
    const offset = reader.u24();
    const body = reader.vector24();
    if (offset + body.length > length) throw new HandshakeDecodeError('fragment beyond the message');
    fragments.push({ type, length, sequence, offset, body });
  }
  return fragments;
}

/** A whole message with the header as the transcript hashes it (offset 0, fragment_length = length). */
export function encodeHandshake(type: number, sequence: number, body: Uint8Array): Uint8Array {
  return new Writer().u8(type).u24(body.length).u16(sequence).u24(0).vector24(body).finish();
}

/** Cuts an encoded whole message into fragments of at most `maxBody` body bytes each (RFC 6347 §4.2.3). */
export function fragmentHandshake(message: Uint8Array, maxBody: number): Uint8Array[] {
  const body = message.subarray(HANDSHAKE_HEADER_LENGTH);
  if (body.length <= maxBody) return [message];
  const fragments: Uint8Array[] = [];
  for (let offset = 0; offset < body.length; offset += maxBody) {
    const part = body.subarray(offset, Math.min(body.length, offset + maxBody));
    const fragment = new Uint8Array(HANDSHAKE_HEADER_LENGTH + part.length);
    fragment.set(message.subarray(0, 6));
    fragment[6] = offset >> 16;
    fragment[7] = (offset >> 8) & 0xff;
    fragment[8] = offset & 0xff;
    fragment[9] = part.length >> 16;
    fragment[10] = (part.length >> 8) & 0xff;
    fragment[11] = part.length & 0xff;
    fragment.set(part, HANDSHAKE_HEADER_LENGTH);
    fragments.push(fragment);
  }
  return fragments;
}

/** What the ClientHello carries. */
export interface ClientHelloFields {
  readonly random: Uint8Array;
  readonly cookie: Uint8Array;
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
  readonly signatureSchemes: readonly number[];
  /** RFC 6066 §3: a DNS host name only, never an IP literal. */
  readonly serverName?: string;
  /** RFC 7250: offer raw public keys (server side) and say which client types we can send. */
  readonly serverCertificateTypes?: readonly number[];
  readonly clientCertificateTypes?: readonly number[];
}

function extension(type: number, data: Uint8Array): Uint8Array {
  return new Writer().u16(type).vector16(data).finish();
}

function u16List(values: readonly number[]): Uint8Array {
  const writer = new Writer();
  for (const value of values) writer.u16(value);
  return writer.finish();
}

/** RFC 5246 §7.4.1.2 / RFC 6347 §4.2.1: the ClientHello body. */
export function encodeClientHello(fields: ClientHelloFields): Uint8Array {
  const extensions: Uint8Array[] = [];
  if (fields.serverName !== undefined) {
    const name = Buffer.from(fields.serverName, 'ascii');
    extensions.push(extension(ExtensionType.serverName, new Writer().vector16(new Writer().u8(0).vector16(name).finish()).finish()));
  }
  extensions.push(extension(ExtensionType.supportedGroups, new Writer().vector16(u16List(fields.groups)).finish()));
  extensions.push(extension(ExtensionType.ecPointFormats, Uint8Array.of(1, 0)));
  extensions.push(extension(ExtensionType.signatureAlgorithms, new Writer().vector16(u16List(fields.signatureSchemes)).finish()));
  extensions.push(extension(ExtensionType.extendedMasterSecret, new Uint8Array(0)));
  // RFC 5746 §3.4: an empty renegotiation_info says we never renegotiate insecurely
  extensions.push(extension(ExtensionType.renegotiationInfo, Uint8Array.of(0)));
  if (fields.clientCertificateTypes !== undefined) {
    extensions.push(extension(ExtensionType.clientCertificateType, new Writer().vector8(Uint8Array.from(fields.clientCertificateTypes)).finish()));
  }
  if (fields.serverCertificateTypes !== undefined) {
    extensions.push(extension(ExtensionType.serverCertificateType, new Writer().vector8(Uint8Array.from(fields.serverCertificateTypes)).finish()));
  }
  return new Writer()
    .u16(0xfefd)
    .bytes(fields.random)
    .vector8(new Uint8Array(0))
    .vector8(fields.cookie)
    .vector16(u16List(fields.cipherSuites))
    .vector8(Uint8Array.of(0))
    .vector16(Buffer.concat(extensions))
    .finish();
}

/** RFC 6347 §4.2.1: HelloVerifyRequest { server_version, cookie<0..2^8-1> }. */
export function decodeHelloVerifyRequest(body: Uint8Array): Uint8Array {
  const reader = new Reader(body);
  reader.u16();
  const cookie = reader.vector8();
  if (cookie.length > 255) throw new HandshakeDecodeError('cookie too long');
  return cookie;
}

/** The ServerHello fields the client acts on. */
export interface ServerHelloFields {
  readonly version: number;
  readonly random: Uint8Array;
  readonly cipherSuite: number;
  readonly compression: number;
  /** Extension types and data, in order of appearance. */
  readonly extensions: ReadonlyMap<number, Uint8Array>;
}

export function decodeServerHello(body: Uint8Array): ServerHelloFields {
  const reader = new Reader(body);
  const version = reader.u16();
  const random = reader.take(32);
  reader.vector8();
  const cipherSuite = reader.u16();
  const compression = reader.u8();
  const extensions = new Map<number, Uint8Array>();
  if (reader.remaining > 0) {
    const list = new Reader(reader.vector16());
    while (list.remaining > 0) {
      const type = list.u16();
      if (extensions.has(type)) throw new HandshakeDecodeError('duplicate extension');
      extensions.set(type, list.vector16());
    }
  }
  reader.end();
  return { version, random, cipherSuite, compression, extensions };
}

/** RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>; RFC 7250 §3: one SubjectPublicKeyInfo. */
export function decodeCertificate(body: Uint8Array): Uint8Array[] {
  const reader = new Reader(body);
  const list = new Reader(reader.vector24());
  reader.end();
  const certificates: Uint8Array[] = [];
  while (list.remaining > 0) certificates.push(list.vector24());
  return certificates;
}

export function encodeCertificate(certificates: readonly Uint8Array[]): Uint8Array {
  const list = new Writer();
  for (const certificate of certificates) list.vector24(certificate);
  return new Writer().vector24(list.finish()).finish();
}

/** RFC 7250 §3: with raw public keys the Certificate message is one SubjectPublicKeyInfo, no list. */
export function decodeRawPublicKeyCertificate(body: Uint8Array): Uint8Array {
  const reader = new Reader(body);
  const spki = reader.vector24();
  reader.end();
  return spki;
}

/** RFC 8422 §5.4: ServerECDHParams and the signature over client_random + server_random + params. */
export interface ServerKeyExchangeFields {
  readonly group: number;
  readonly publicKey: Uint8Array;
  /** curve_type || named_curve || public: the bytes the signature covers after the randoms. */
  readonly params: Uint8Array;
  readonly signatureScheme: number;
  readonly signature: Uint8Array;
}

export function decodeServerKeyExchange(body: Uint8Array): ServerKeyExchangeFields {
  const reader = new Reader(body);
  const curveType = reader.u8();
  if (curveType !== 3) throw new HandshakeDecodeError('not a named curve');
  const group = reader.u16();
  const publicKey = reader.vector8();
  const params = body.subarray(0, 4 + publicKey.length);
  const signatureScheme = reader.u16();
  const signature = reader.vector16();
  reader.end();
  return { group, publicKey, params, signatureScheme, signature };
}

/** RFC 5246 §7.4.4 CertificateRequest. */
export interface CertificateRequestFields {
  readonly certificateTypes: Uint8Array;
  readonly signatureSchemes: readonly number[];
}

export function decodeCertificateRequest(body: Uint8Array): CertificateRequestFields {
  const reader = new Reader(body);
  const certificateTypes = reader.vector8();
  const schemes = new Reader(reader.vector16());
  const signatureSchemes: number[] = [];
  while (schemes.remaining > 0) signatureSchemes.push(schemes.u16());
  reader.vector16(); // certificate_authorities: not used to pick a certificate (there is one)
  reader.end();
  return { certificateTypes, signatureSchemes };
}

/** RFC 8422 §5.7: ClientECDiffieHellmanPublic { ecdh_Yc<1..2^8-1> }. */
export function encodeClientKeyExchange(publicKey: Uint8Array): Uint8Array {
  return new Writer().vector8(publicKey).finish();
}

/** RFC 5246 §4.7 digitally-signed: SignatureAndHashAlgorithm + signature<0..2^16-1>. */
export function encodeCertificateVerify(scheme: number, signature: Uint8Array): Uint8Array {
  return new Writer().u16(scheme).vector16(signature).finish();
}
