/**
 * Raw CoAP framing for the hostile peer: writes messages the library's encoders refuse to write (reserved
 * token lengths, a TKL that lies, a wrong version, option headers with reserved nibbles, values of any
 * length), one encoder per framing. The mutation engine (`mutate.ts`) and the hostile responder work on a
 * {@link RawMessage} and leave the header layout to a {@link HostileFraming}, so a later transport (TCP, TLS,
 * WebSockets, Unix) plugs in its framing and reuses every mutation.
 *
 * Test kit only: nothing here validates, on purpose.
 */
import { decodeStreamFrame } from '../codec/stream-codec';
import { decodeDatagram } from '../codec/udp-codec';
import { decodeWsMessage } from '../codec/ws-codec';
import type { CoapOption, CoapPdu } from '../codec/pdu';

/** One message as the hostile side wants it on the wire, header fields unchecked. */
export interface RawMessage {
  /** Message type 0..3 (datagram framings only). */
  readonly type: number;
  /** Code byte 0..255. */
  readonly code: number;
  /** 16-bit message ID (datagram framings only). */
  readonly messageId: number;
  readonly token: Uint8Array;
  /**
   * The TKL nibble and its extension bytes (RFC 8974 §2.1), when they should not describe `token`: a reserved
   * nibble (9..12, 15), a length that runs past the end, or one shorter than the token. Derived from the
   * token when absent.
   */
  readonly tokenLength?: { readonly nibble: number; readonly extension: Uint8Array };
  /** Version bits (datagram framings only). @defaultValue 1 */
  readonly version?: number;
  /** Options, payload marker and payload, exactly as they go on the wire (see {@link writeRawBody}). */
  readonly body: Uint8Array;
}

/** How one transport frames a CoAP message: the only part of the hostile peer that differs per transport. */
export interface HostileFraming {
  /** `'datagram'` (UDP, DTLS, Unix datagram), `'stream'` (TCP, TLS), `'websocket'`. */
  readonly name: string;
  /** True when frames carry a message type and ID (RFC 7252 messaging); false for RFC 8323 transports. */
  readonly messageLayer: boolean;
  /** Largest frame worth sending as an "oversize" mutation, in bytes. */
  readonly maxFrameSize: number;
  /** Writes the message; never throws, whatever the fields say. */
  encode(message: RawMessage): Uint8Array;
  /** Reads a frame with the library's decoder (throws `CoapDecodeError` for a malformed one). */
  decode(frame: Uint8Array): CoapPdu;
}

/** A growable byte buffer (the hostile side builds frames of any shape; speed is secondary). */
export class ByteWriter {
  #bytes = new Uint8Array(64);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(byte: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = byte & 0xff;
  }

  pushBytes(bytes: Uint8Array | readonly number[]): void {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.#length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }
}

/** An option as the hostile side writes it: any number, any value, or raw bytes instead of a header. */
export interface RawOption extends CoapOption {
  /**
   * Bytes written instead of this option (header and value), e.g. `d4 0a 00 00 00 0e` or a reserved
   * nibble. The next option's delta is still counted from the previous option's number.
   */
  readonly raw?: Uint8Array;
}

/** RFC 7252 §3.1 nibble for a delta or length, and its extension bytes. */
function nibble(value: number): number {
  return value < 13 ? value : value < 269 ? 13 : 14;
}

function writeExtension(out: ByteWriter, value: number): void {
  if (value >= 269) {
    const ext = Math.min(value - 269, 0xffff);
    out.push(ext >> 8);
    out.push(ext);
  } else if (value >= 13) out.push(value - 13);
}

/**
 * Writes options (in the order given: a delta that would be negative is written as 0) and, when `payload` is
 * given (even empty, for a marker with nothing after it), the 0xFF marker and the payload.
 */
export function writeRawBody(options: readonly RawOption[], payload: Uint8Array | undefined): Uint8Array {
  const out = new ByteWriter();
  let previous = 0;
  for (const option of options) {
    if (option.raw !== undefined) {
      out.pushBytes(option.raw);
      continue;
    }
    // A delta beyond 65804 needs several steps: an option number above 65535 (finding 12 of issue 16).
    let delta = Math.max(0, option.number - previous);
    while (delta > 65804) {
      out.push(0xe0); // delta 14 (+269 + 65535), length 0: an empty option of a huge number on the way
      out.push(0xff);
      out.push(0xff);
      delta -= 65804;
    }
    const length = option.value.length;
    out.push((nibble(delta) << 4) | nibble(length));
    writeExtension(out, delta);
    writeExtension(out, length);
    out.pushBytes(option.value);
    previous = option.number;
  }
  if (payload !== undefined) {
    out.push(0xff);
    out.pushBytes(payload);
  }
  return out.toBytes();
}

/** The TKL nibble and extension bytes that describe a token of `length` bytes (RFC 8974 §2.1). */
export function tokenLengthField(length: number): { nibble: number; extension: Uint8Array } {
  if (length < 13) return { nibble: length, extension: new Uint8Array(0) };
  if (length < 269) return { nibble: 13, extension: Uint8Array.of(length - 13) };
  const ext = Math.min(length - 269, 0xffff);
  return { nibble: 14, extension: Uint8Array.of(ext >> 8, ext & 0xff) };
}

/** A message of the library's PDU shape, written raw (options and payload as the encoder would). */
export function rawFromPdu(pdu: CoapPdu): RawMessage {
  return {
    type: pdu.type,
    code: pdu.code,
    messageId: pdu.messageId,
    token: pdu.token,
    body: writeRawBody(pdu.options, pdu.payload.length > 0 ? pdu.payload : undefined),
  };
}

/**
 * RFC 7252 §3 over UDP, DTLS or a Unix datagram socket:
 * `Ver|T|TKL`, Code, Message ID, TKL extension, token, body.
 */
export const datagramFraming: HostileFraming = {
  name: 'datagram',
  messageLayer: true,
  // The largest UDP payload over IPv4 (65,535 - 8 - 20); loopback carries it.
  maxFrameSize: 65507,
  encode(message) {
    const out = new ByteWriter();
    const tkl = message.tokenLength ?? tokenLengthField(message.token.length);
    out.push(((message.version ?? 1) << 6) | ((message.type & 3) << 4) | (tkl.nibble & 0x0f));
    out.push(message.code);
    out.push(message.messageId >> 8);
    out.push(message.messageId);
    out.pushBytes(tkl.extension);
    out.pushBytes(message.token);
    out.pushBytes(message.body);
    return out.toBytes();
  },
  decode: decodeDatagram,
};

/** RFC 8323 §3.2 over TCP or TLS: `Len|TKL`, extended length, Code, TKL extension, token, body. */
export const streamFraming: HostileFraming = {
  name: 'stream',
  messageLayer: false,
  maxFrameSize: 1 << 20,
  encode(message) {
    const out = new ByteWriter();
    const tkl = message.tokenLength ?? tokenLengthField(message.token.length);
    const length = message.body.length;
    const lengthNibble = length < 13 ? length : length < 269 ? 13 : length < 65805 ? 14 : 15;
    out.push((lengthNibble << 4) | (tkl.nibble & 0x0f));
    if (lengthNibble === 13) out.push(length - 13);
    else if (lengthNibble === 14) {
      out.push((length - 269) >> 8);
      out.push(length - 269);
    } else if (lengthNibble === 15) {
      const ext = length - 65805;
      out.pushBytes([Math.floor(ext / 0x1000000) & 0xff, (ext >>> 16) & 0xff, (ext >>> 8) & 0xff, ext & 0xff]);
    }
    out.push(message.code);
    out.pushBytes(tkl.extension);
    out.pushBytes(message.token);
    out.pushBytes(message.body);
    return out.toBytes();
  },
  decode: decodeStreamFrame,
};

/** RFC 8323 §4.2 over WebSockets: `0|TKL`, Code, TKL extension, token, body (the WS frame has the length). */
export const webSocketFraming: HostileFraming = {
  name: 'websocket',
  messageLayer: false,
  maxFrameSize: 1 << 20,
  encode(message) {
    const out = new ByteWriter();
    const tkl = message.tokenLength ?? tokenLengthField(message.token.length);
    out.push(tkl.nibble & 0x0f);
    out.push(message.code);
    out.pushBytes(tkl.extension);
    out.pushBytes(message.token);
    out.pushBytes(message.body);
    return out.toBytes();
  },
  decode: decodeWsMessage,
};
