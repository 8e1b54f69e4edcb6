/**
 * RFC 7252 §3 message format, as carried in one UDP or DTLS datagram.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Ver| T |  TKL  |      Code     |          Message ID           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Token (if any, TKL bytes; RFC 8974: TKL 13/14 extend it) ...
 *   |   Options (if any) ...
 *   |1 1 1 1 1 1 1 1|    Payload (if any) ...
 */
import { CoapDecodeError, CoapEncodeError } from '../errors';
import { allocateOutput } from './byte-pool';
import { optionsAndPayloadSize, readBody, tokenExtensionSize, tokenLengthNibble, writeTokenAndBody } from './options';
import { EMPTY_BYTES, type CoapPdu, type MessageType } from './pdu';

/** Size of the fixed header. */
export const UDP_HEADER_SIZE = 4;

/** Encodes a PDU as one datagram. Throws {@link CoapEncodeError} for values that cannot be represented. */
export function encodeDatagram(pdu: CoapPdu): Uint8Array {
  const token = pdu.token;
  const tokenLength = token.length;
  if (tokenLength > 65804) throw new CoapEncodeError(`token of ${tokenLength} bytes is longer than 65804`);
  // RFC 8974 §2.1: TKL 9-12 stay reserved and 13 means 13 or more, so 9..12-byte tokens cannot be sent.
  if (tokenLength > 8 && tokenLength < 13) throw new CoapEncodeError(`a token of ${tokenLength} bytes cannot be encoded (9..12 are reserved)`);
  if (pdu.messageId < 0 || pdu.messageId > 0xffff || !Number.isInteger(pdu.messageId)) {
    throw new CoapEncodeError(`message ID ${pdu.messageId} is not a 16-bit integer`);
  }
  if (pdu.code < 0 || pdu.code > 0xff) throw new CoapEncodeError(`code ${pdu.code} is not an 8-bit value`);
  const size = UDP_HEADER_SIZE + tokenExtensionSize(tokenLength) + tokenLength + optionsAndPayloadSize(pdu.options, pdu.payload);
  const out = allocateOutput(size);
  out[0] = 0x40 | ((pdu.type & 3) << 4) | tokenLengthNibble(tokenLength);
  out[1] = pdu.code;
  out[2] = pdu.messageId >> 8;
  out[3] = pdu.messageId & 0xff;
  writeTokenAndBody(out, UDP_HEADER_SIZE, pdu);
  return out;
}

/**
 * Decodes one datagram. Total: returns a PDU or throws a {@link CoapDecodeError} (never anything else,
 * never reads past the input). Token, option values and payload are views into `bytes`.
 */
export function decodeDatagram(bytes: Uint8Array): CoapPdu {
  const end = bytes.length;
  if (end < UDP_HEADER_SIZE) {
    throw new CoapDecodeError('TRUNCATED_HEADER', `datagram of ${end} bytes is shorter than the 4-byte header`);
  }
  const first = bytes[0];
  const messageId = (bytes[2] << 8) | bytes[3];
  if (first >> 6 !== 1) {
    throw new CoapDecodeError('BAD_VERSION', `version ${first >> 6} is not 1`, { messageId });
  }
  const type = ((first >> 4) & 3) as MessageType;
  const code = bytes[1];
  let tokenLength = first & 0x0f;
  let offset = UDP_HEADER_SIZE;
  if (code === 0) {
    // RFC 7252 §4.1: an Empty message has TKL 0 and nothing after the Message ID.
    if (tokenLength !== 0 || end !== UDP_HEADER_SIZE) {
      throw new CoapDecodeError('EMPTY_MESSAGE_NOT_EMPTY', 'empty message (0.00) carries a token, options or payload', { offset, messageId });
    }
    return { type, code, messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES };
  }
  if (tokenLength > 8) {
    // RFC 8974 §2.1: 13 and 14 extend the length; 9-12 (RFC 7252) and 15 are reserved.
    if (tokenLength === 13) {
      if (offset >= end) throw truncatedToken(offset, messageId);
      tokenLength = bytes[offset++] + 13;
    } else if (tokenLength === 14) {
      if (offset + 1 >= end) throw truncatedToken(offset, messageId);
      tokenLength = ((bytes[offset] << 8) | bytes[offset + 1]) + 269;
      offset += 2;
    } else {
      throw new CoapDecodeError('RESERVED_TOKEN_LENGTH', `token length ${tokenLength} is reserved`, { offset: 0, messageId });
    }
  }
  if (offset + tokenLength > end) throw truncatedToken(offset, messageId);
  const token = tokenLength === 0 ? EMPTY_BYTES : new Uint8Array(bytes.buffer, bytes.byteOffset + offset, tokenLength);
  offset += tokenLength;
  if (offset === end) return { type, code, messageId, token, options: [], payload: EMPTY_BYTES };
  return readBody(type, code, messageId, token, bytes, offset, end, false);
}

function truncatedToken(offset: number, messageId: number): CoapDecodeError {
  return new CoapDecodeError('TRUNCATED_TOKEN', 'token runs past the end of the datagram', { offset, messageId });
}
