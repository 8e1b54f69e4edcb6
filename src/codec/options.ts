/**
 * Option and payload encoding shared by every framing (RFC 7252 §3.1; RFC 8323 reuses it unchanged).
 *
 *     0   1   2   3   4   5   6   7
 *   +---------------+---------------+
 *   |  Option Delta | Option Length |   1 byte
 *   +---------------+---------------+
 *   /         Option Delta          /   0-2 bytes (nibble 13: +13, 14: +269)
 *   +-------------------------------+
 *   /         Option Length         /   0-2 bytes (same extension)
 *   +-------------------------------+
 *   /         Option Value          /   0 or more bytes
 *   +-------------------------------+
 *   ... then 0xFF and the payload, only when the payload is not empty.
 */
import { CoapDecodeError, CoapEncodeError } from '../errors';
import { EMPTY_BYTES, type CoapOption, type CoapPdu, type MessageType } from './pdu';

const PAYLOAD_MARKER = 0xff;

function extensionSize(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

/** RFC 8974 §2.1: bytes of TKL extension for a token of this length (0, 1 or 2). */
export function tokenExtensionSize(length: number): number {
  return length < 13 ? 0 : length < 269 ? 1 : 2;
}

/** The TKL nibble for a token of this length (13 and 14 announce the extension). */
export function tokenLengthNibble(length: number): number {
  return length < 13 ? length : length < 269 ? 13 : 14;
}

/**
 * Writes what follows the fixed header in every framing: the TKL extension, the token, the options and the
 * payload. Returns the offset after them. Sizes were checked by the caller.
 */
export function writeTokenAndBody(out: Uint8Array, offset: number, pdu: Pick<CoapPdu, 'token' | 'options' | 'payload'>): number {
  const token = pdu.token;
  const tokenLength = token.length;
  if (tokenLength >= 269) {
    out[offset++] = (tokenLength - 269) >> 8;
    out[offset++] = (tokenLength - 269) & 0xff;
  } else if (tokenLength >= 13) out[offset++] = tokenLength - 13;
  if (tokenLength > 8) {
    out.set(token, offset);
    offset += tokenLength;
  } else for (let i = 0; i < tokenLength; i++) out[offset++] = token[i];
  return writeOptionsAndPayload(out, offset, pdu.options, pdu.payload);
}

/** Bytes needed for the options and the payload (with its marker). */
export function optionsAndPayloadSize(options: readonly CoapOption[], payload: Uint8Array): number {
  let size = 0;
  let previous = 0;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    const number = option.number;
    // RFC 7252 §3.1, §12.2: option numbers are 16-bit unsigned integers. One mask test catches the negative,
    // fractional, NaN and too large ones (1.5 would otherwise write a corrupt delta).
    if ((number & 0xffff) !== number) throw new CoapEncodeError(`option number ${number} is not an integer in 0..65535`);
    const delta = number - previous;
    if (delta < 0) throw new CoapEncodeError(`options are not sorted (${number} after ${previous})`);
    const length = option.value.length;
    if (length > 65804) throw new CoapEncodeError(`option ${number} value is ${length} bytes, more than 65804`);
    size += 1 + extensionSize(delta) + extensionSize(length) + length;
    previous = option.number;
  }
  if (payload.length > 0) size += 1 + payload.length;
  return size;
}

/** Writes options then marker and payload at `offset`; returns the offset after them. Sizes were checked by {@link optionsAndPayloadSize}. */
export function writeOptionsAndPayload(out: Uint8Array, offset: number, options: readonly CoapOption[], payload: Uint8Array): number {
  let previous = 0;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    const delta = option.number - previous;
    const value = option.value;
    const length = value.length;
    const head = offset++;
    let nibbles: number;
    if (delta < 13) nibbles = delta << 4;
    else if (delta < 269) {
      nibbles = 13 << 4;
      out[offset++] = delta - 13;
    } else {
      nibbles = 14 << 4;
      const ext = delta - 269;
      out[offset++] = ext >> 8;
      out[offset++] = ext & 0xff;
    }
    if (length < 13) nibbles |= length;
    else if (length < 269) {
      nibbles |= 13;
      out[offset++] = length - 13;
    } else {
      nibbles |= 14;
      const ext = length - 269;
      out[offset++] = ext >> 8;
      out[offset++] = ext & 0xff;
    }
    out[head] = nibbles;
    // A byte loop beats TypedArray#set (a runtime call) for the short values most options have.
    if (length < 32) for (let j = 0; j < length; j++) out[offset++] = value[j];
    else {
      out.set(value, offset);
      offset += length;
    }
    previous = option.number;
  }
  if (payload.length > 0) {
    out[offset++] = PAYLOAD_MARKER;
    out.set(payload, offset);
    offset += payload.length;
  }
  return offset;
}

/**
 * The options of the message being read, reused by every read: a read copies out exactly as many as it found
 * (an array of the right size instead of one grown by `push`, which reserves room for 17) and clears its slots.
 */
const scratch: (CoapOption | undefined)[] = [];

/**
 * Reads options and payload from `bytes[offset, end)` and returns the PDU made of them and the header fields
 * given. Throws {@link CoapDecodeError} for reserved nibbles, truncation, an option number above 65535 or a
 * payload marker followed by nothing (RFC 7252 §3.1: message format errors). The option values and the
 * payload are views into `bytes` (no copies).
 */
export function readBody(type: MessageType, code: number, messageId: number, token: Uint8Array, bytes: Uint8Array, offset: number, end: number, fatal: boolean): CoapPdu {
  let count = 0;
  // Errors name the message ID of a datagram; stream framings (whose errors are fatal) have none.
  const reportedId = fatal ? undefined : messageId;
  let number = 0;
  let payload = EMPTY_BYTES;
  while (offset < end) {
    const head = bytes[offset];
    if (head === PAYLOAD_MARKER) {
      if (offset + 1 === end) {
        throw new CoapDecodeError('EMPTY_PAYLOAD', 'payload marker followed by an empty payload', { offset, fatal, messageId: reportedId });
      }
      payload = new Uint8Array(bytes.buffer, bytes.byteOffset + offset + 1, end - offset - 1);
      break;
    }
    const start = offset++;
    let delta = head >> 4;
    let length = head & 0x0f;
    if (delta === 13) {
      if (offset >= end) throw truncated(start, fatal, reportedId);
      delta = bytes[offset++] + 13;
    } else if (delta === 14) {
      if (offset + 1 >= end) throw truncated(start, fatal, reportedId);
      delta = ((bytes[offset] << 8) | bytes[offset + 1]) + 269;
      offset += 2;
    } else if (delta === 15) {
      throw new CoapDecodeError('RESERVED_DELTA', 'option delta 15 is reserved', { offset: start, fatal, messageId: reportedId });
    }
    if (length === 13) {
      if (offset >= end) throw truncated(start, fatal, reportedId);
      length = bytes[offset++] + 13;
    } else if (length === 14) {
      if (offset + 1 >= end) throw truncated(start, fatal, reportedId);
      length = ((bytes[offset] << 8) | bytes[offset + 1]) + 269;
      offset += 2;
    } else if (length === 15) {
      throw new CoapDecodeError('RESERVED_LENGTH', 'option length 15 is reserved', { offset: start, fatal, messageId: reportedId });
    }
    if (offset + length > end) throw truncated(start, fatal, reportedId);
    number += delta;
    // RFC 7252 §3.1, §12.2: option numbers are 16 bits; delta 14 with its extension reaches 65804, and deltas add up.
    if (number > 0xffff) {
      throw new CoapDecodeError('BAD_OPTION_NUMBER', `option number ${number} is above 65535`, { offset: start, fatal, messageId: reportedId });
    }
    // A view made with the constructor: cheaper than subarray (no species lookup) and a plain
    // Uint8Array even when the input is a Node Buffer.
    scratch[count++] = { number, value: length === 0 ? EMPTY_BYTES : new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length) };
    offset += length;
  }
  const options = scratch.slice(0, count) as CoapOption[];
  // Cleared so no decoded message is kept alive by this array (after an error, the next read overwrites them).
  for (let i = 0; i < count; i++) scratch[i] = undefined;
  return { type, code, messageId, token, options, payload };
}

function truncated(offset: number, fatal: boolean, messageId: number | undefined): CoapDecodeError {
  return new CoapDecodeError('TRUNCATED_OPTION', 'option runs past the end of the message', { offset, fatal, messageId });
}
