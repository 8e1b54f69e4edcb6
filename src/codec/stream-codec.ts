/**
 * CoAP over TCP and TLS framing (RFC 8323 §3.2), with extended token lengths (RFC 8974 §2.3).
 *
 *     0   1   2   3   4   5   6   7
 *   +---------------+---------------+
 *   |      Len      |      TKL      |   Len 0-12: length; 13: +1 byte (+13); 14: +2 bytes (+269); 15: +4 bytes (+65805)
 *   +---------------+---------------+
 *   |   Extended Length (0-4 bytes) |
 *   +-------------------------------+
 *   |             Code              |
 *   +-------------------------------+
 *   |  Extended TKL (0-2 bytes)     |   RFC 8974: TKL 13: +1 byte (+13); 14: +2 bytes (+269); 15 reserved
 *   +-------------------------------+
 *   |  Token (TKL bytes) ...        |
 *   |  Options ...                  |   Len counts from here: options, 0xFF marker and payload
 *   |  1 1 1 1 1 1 1 1 | Payload ...|
 *   +-------------------------------+
 *
 * There are no message types or message IDs on a stream: decoded PDUs have type CON (0) and message ID 0,
 * and both are ignored on encode. Signaling messages (7.01-7.05, RFC 8323 §5) are framed like any other.
 */
import { CoapDecodeError, CoapEncodeError } from '../errors';
import { allocateOutput } from './byte-pool';
import { optionsAndPayloadSize, readBody, tokenExtensionSize, tokenLengthNibble, writeTokenAndBody } from './options';
import { EMPTY_BYTES, MessageType, type CoapPdu, type OutgoingPdu } from './pdu';

/** Largest frame header before the token (RFC 8323 §3.2): Len/TKL byte, 4 bytes of extended length, code. */
export const STREAM_MAX_HEADER_SIZE = 6;

/** RFC 8323 §5.3.1: the Max-Message-Size a peer may assume before it sees a CSM. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1152;

/** Largest body (options + payload) the 32-bit extended length can describe. */
const MAX_BODY_LENGTH = 0xffffffff + 65805;
/** Largest token RFC 8974 can describe. */
const MAX_TOKEN_LENGTH = 65804;

function lengthExtensionSize(length: number): number {
  return length < 13 ? 0 : length < 269 ? 1 : length < 65805 ? 2 : 4;
}

/** Encodes a PDU as one TCP/TLS frame. Throws {@link CoapEncodeError} for values that cannot be represented. */
export function encodeStreamFrame(pdu: OutgoingPdu): Uint8Array {
  const token = pdu.token;
  const tokenLength = token.length;
  if (tokenLength > MAX_TOKEN_LENGTH) throw new CoapEncodeError(`token of ${tokenLength} bytes is longer than ${MAX_TOKEN_LENGTH}`);
  // RFC 8974 §2.1: TKL 9-12 stay reserved and 13 means 13 or more, so 9..12-byte tokens cannot be sent.
  if (tokenLength > 8 && tokenLength < 13) throw new CoapEncodeError(`a token of ${tokenLength} bytes cannot be encoded (9..12 are reserved)`);
  if (!(pdu.code >= 0 && pdu.code <= 0xff) || !Number.isInteger(pdu.code)) throw new CoapEncodeError(`code ${pdu.code} is not an 8-bit value`);
  const bodyLength = optionsAndPayloadSize(pdu.options, pdu.payload);
  if (bodyLength > MAX_BODY_LENGTH) throw new CoapEncodeError(`message body of ${bodyLength} bytes is too large for a stream frame`);
  const lengthExtension = lengthExtensionSize(bodyLength);
  const out = allocateOutput(2 + lengthExtension + tokenExtensionSize(tokenLength) + tokenLength + bodyLength);
  const tkl = tokenLengthNibble(tokenLength);
  let offset = 1;
  if (lengthExtension === 0) out[0] = (bodyLength << 4) | tkl;
  else if (lengthExtension === 1) {
    out[0] = 0xd0 | tkl;
    out[offset++] = bodyLength - 13;
  } else if (lengthExtension === 2) {
    out[0] = 0xe0 | tkl;
    const ext = bodyLength - 269;
    out[offset++] = ext >> 8;
    out[offset++] = ext & 0xff;
  } else {
    out[0] = 0xf0 | tkl;
    const ext = bodyLength - 65805;
    out[offset++] = Math.floor(ext / 0x1000000) & 0xff;
    out[offset++] = (ext >>> 16) & 0xff;
    out[offset++] = (ext >>> 8) & 0xff;
    out[offset++] = ext & 0xff;
  }
  out[offset++] = pdu.code;
  writeTokenAndBody(out, offset, pdu);
  return out;
}

/** Options of a {@link StreamDeframer}. */
export interface StreamDeframerOptions {
  /**
   * Largest frame accepted, in bytes (header, token, options and payload). A frame announcing more is a
   * fatal `'MESSAGE_TOO_LARGE'` error before any of its body is buffered. Set it to the Max-Message-Size
   * this side advertises in its CSM (RFC 8323 §5.3.1).
   * @defaultValue {@link DEFAULT_MAX_MESSAGE_SIZE} (1152)
   */
  readonly maxMessageSize?: number;
}

// Parser states (ws lib/receiver.js style): each waits for a known number of bytes.
const enum State {
  /** The Len/TKL byte. */
  Header = 0,
  /** 1, 2 or 4 bytes of extended length. */
  ExtendedLength = 1,
  /** The code and 0-2 bytes of extended token length. */
  Code = 2,
  /** Token, options and payload. */
  Body = 3,
}

/**
 * Turns a TCP/TLS byte stream, in chunks of any size, into PDUs (RFC 8323 §3.2).
 * Every error is fatal (the stream cannot be resynchronized; RFC 8323 §5.6: send Abort and close):
 * after one, every later `push` throws the same error. Token, option values and payload are views into
 * the pushed chunks when a frame lies within one chunk (so chunks must not be reused by the caller).
 */
export class StreamDeframer {
  /** Largest frame accepted; may be changed between pushes (e.g. after sending a CSM). */
  maxMessageSize: number;

  #chunks: Uint8Array[] = [];
  /** Read position in `#chunks[0]`. */
  #chunkOffset = 0;
  #buffered = 0;
  /** Bytes consumed since the start of the stream (for error offsets). */
  #streamOffset = 0;
  #frameStart = 0;
  #state: State = State.Header;
  #tkl = 0;
  #lengthExtension = 0;
  #bodyLength = 0;
  #code = 0;
  #tokenLength = 0;
  #error: CoapDecodeError | undefined;

  constructor(options: StreamDeframerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  /** Bytes received but not yet part of a complete frame (non-zero at end of stream means a truncated frame). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** True when no partial frame is pending. */
  get idle(): boolean {
    return this.#buffered === 0 && this.#state === State.Header;
  }

  /**
   * Adds bytes from the stream and returns every PDU they complete, in order.
   * Throws {@link CoapDecodeError} (always `fatal: true`) when the stream is malformed.
   */
  push(chunk: Uint8Array): CoapPdu[] {
    this.write(chunk);
    const pdus: CoapPdu[] = [];
    for (let pdu = this.read(); pdu !== undefined; pdu = this.read()) pdus.push(pdu);
    return pdus;
  }

  /**
   * Adds bytes from the stream without decoding them: call {@link StreamDeframer.read} until it returns
   * undefined (no array per chunk). Throws the stream's error once it failed.
   */
  write(chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The next PDU the written bytes complete, or undefined when they complete none (yet).
   * Throws {@link CoapDecodeError} (always `fatal: true`) when the stream is malformed.
   */
  read(): CoapPdu | undefined {
    if (this.#error !== undefined) throw this.#error;
    try {
      return this.#next();
    } catch (error) {
      this.#error = error as CoapDecodeError;
      this.#chunks = [];
      this.#buffered = 0;
      throw error;
    }
  }

  #next(): CoapPdu | undefined {
    for (;;) {
      switch (this.#state) {
        case State.Header: {
          if (this.#buffered < 1) return undefined;
          this.#frameStart = this.#streamOffset;
          const first = this.#byte();
          const lengthNibble = first >> 4;
          const tkl = first & 0x0f;
          // RFC 8323 §3.2 keeps RFC 7252's TKL 9-15 reserved; RFC 8974 §2.3 gives 13 and 14 a meaning.
          if ((tkl > 8 && tkl < 13) || tkl === 15) {
            throw new CoapDecodeError('RESERVED_TOKEN_LENGTH', `token length ${tkl} is reserved`, { offset: this.#frameStart, fatal: true });
          }
          this.#tkl = tkl;
          if (lengthNibble < 13) {
            this.#bodyLength = lengthNibble;
            this.#checkSize(0, tkl < 13 ? tkl : 0);
            this.#state = State.Code;
          } else {
            this.#lengthExtension = lengthNibble === 13 ? 1 : lengthNibble === 14 ? 2 : 4;
            this.#state = State.ExtendedLength;
          }
          break;
        }
        case State.ExtendedLength: {
          const size = this.#lengthExtension;
          if (this.#buffered < size) return undefined;
          if (size === 1) this.#bodyLength = this.#byte() + 13;
          else if (size === 2) this.#bodyLength = ((this.#byte() << 8) | this.#byte()) + 269;
          else this.#bodyLength = this.#byte() * 0x1000000 + ((this.#byte() << 16) | (this.#byte() << 8) | this.#byte()) + 65805;
          // Checked here, on the header, before any of the body is buffered.
          this.#checkSize(size, this.#tkl < 13 ? this.#tkl : 0);
          this.#state = State.Code;
          break;
        }
        case State.Code: {
          const tkl = this.#tkl;
          const tokenExtension = tkl === 13 ? 1 : tkl === 14 ? 2 : 0;
          if (this.#buffered < 1 + tokenExtension) return undefined;
          this.#code = this.#byte();
          if (tokenExtension === 0) this.#tokenLength = tkl;
          else if (tokenExtension === 1) this.#tokenLength = this.#byte() + 13;
          else this.#tokenLength = ((this.#byte() << 8) | this.#byte()) + 269;
          this.#checkSize(this.#lengthExtension, this.#tokenLength);
          this.#state = State.Body;
          break;
        }
        case State.Body: {
          const tokenLength = this.#tokenLength;
          const total = tokenLength + this.#bodyLength;
          if (this.#buffered < total) return undefined;
          const code = this.#code;
          this.#state = State.Header;
          this.#lengthExtension = 0;
          if (total === 0) return { type: MessageType.CON, code, messageId: 0, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES };
          const tokenStart = this.#streamOffset;
          // Token, options and payload are read where they lie: no view of the whole frame first.
          const offset = this.#chunks[0].length - this.#chunkOffset >= total ? this.#chunkOffset : 0;
          const bytes = this.#consume(total);
          const token = tokenLength === 0 ? EMPTY_BYTES : new Uint8Array(bytes.buffer, bytes.byteOffset + offset, tokenLength);
          try {
            return readBody(MessageType.CON, code, 0, token, bytes, offset + tokenLength, offset + total, true);
          } catch (error) {
            throw relocate(error as CoapDecodeError, tokenStart - offset);
          }
        }
      }
    }
  }

  /** Fails when the frame, as far as its header is known, exceeds the limit. */
  #checkSize(lengthExtension: number, tokenLength: number): void {
    const tkl = this.#tkl;
    const tokenExtension = tkl === 13 ? 1 : tkl === 14 ? 2 : 0;
    const size = 2 + lengthExtension + tokenExtension + tokenLength + this.#bodyLength;
    if (size > this.maxMessageSize) {
      throw new CoapDecodeError('MESSAGE_TOO_LARGE', `frame of at least ${size} bytes exceeds the maximum message size ${this.maxMessageSize}`, {
        offset: this.#frameStart,
        fatal: true,
      });
    }
  }

  /** One byte; the caller checked that it is buffered. */
  #byte(): number {
    const chunk = this.#chunks[0];
    const value = chunk[this.#chunkOffset++];
    this.#buffered--;
    this.#streamOffset++;
    if (this.#chunkOffset === chunk.length) {
      this.#chunks.shift();
      this.#chunkOffset = 0;
    }
    return value;
  }

  /**
   * `n` (> 0) buffered bytes: the first chunk itself when they lie in it (they start at the read position it
   * had: no view made), else a copy (they start at 0).
   */
  #consume(n: number): Uint8Array {
    this.#buffered -= n;
    this.#streamOffset += n;
    const first = this.#chunks[0];
    if (first.length - this.#chunkOffset >= n) {
      this.#chunkOffset += n;
      if (this.#chunkOffset === first.length) {
        this.#chunks.shift();
        this.#chunkOffset = 0;
      }
      return first;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length - this.#chunkOffset, n - filled);
      out.set(chunk.subarray(this.#chunkOffset, this.#chunkOffset + take), filled);
      filled += take;
      this.#chunkOffset += take;
      if (this.#chunkOffset === chunk.length) {
        this.#chunks.shift();
        this.#chunkOffset = 0;
      }
    }
    return out;
  }
}

/** The same error with its offset counted from the start of the stream. */
function relocate(error: CoapDecodeError, base: number): CoapDecodeError {
  if (!(error instanceof CoapDecodeError)) throw error;
  return new CoapDecodeError(error.reason, error.message.replace(/^invalid CoAP message: /, ''), { offset: base + error.offset, fatal: true });
}

/**
 * Decodes exactly one complete frame (no size limit). A truncated frame or bytes after it throw
 * {@link CoapDecodeError} `'BAD_FRAME'`; like the deframer, errors are fatal.
 */
export function decodeStreamFrame(bytes: Uint8Array): CoapPdu {
  const deframer = new StreamDeframer({ maxMessageSize: Infinity });
  const pdus = deframer.push(bytes);
  if (pdus.length === 1 && deframer.idle) return pdus[0];
  if (pdus.length === 0) throw new CoapDecodeError('BAD_FRAME', 'frame is truncated', { offset: bytes.length, fatal: true });
  throw new CoapDecodeError('BAD_FRAME', 'bytes follow the frame', { offset: 0, fatal: true });
}
