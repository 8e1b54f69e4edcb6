/**
 * CoAP over WebSockets (RFC 8323 §4.2): one binary WebSocket message carries exactly one PDU, so the
 * Len nibble is 0 and there is no Extended Length (the WebSocket frame has the length).
 *
 *     0   1   2   3   4   5   6   7
 *   +---------------+---------------+
 *   |  Len = 0      |      TKL      |
 *   +---------------+---------------+
 *   |             Code              |
 *   +-------------------------------+
 *   |  Extended TKL (0-2 bytes)     |   RFC 8974 §2.3: TKL 13: +1 byte (+13); 14: +2 bytes (+269)
 *   +-------------------------------+
 *   |  Token (TKL bytes) ...        |
 *   |  Options ...                  |
 *   |  1 1 1 1 1 1 1 1 | Payload ...|
 *   +-------------------------------+
 *
 * Decoded PDUs have type CON (0) and message ID 0 (no message layer on reliable transports). A malformed
 * message is fatal (RFC 8323 §5.6: the connection is aborted), so errors carry `fatal: true`.
 */
import { CoapDecodeError, CoapEncodeError } from '../errors';
import { allocateOutput } from './byte-pool';
import { optionsAndPayloadSize, readBody, tokenExtensionSize, tokenLengthNibble, writeOptionsAndPayload, writeTokenAndBody } from './options';
import { EMPTY_BYTES, MessageType, type CoapPdu , type OutgoingPdu } from './pdu';

/** The header of a WebSocket message (RFC 8323 §4.2): the Len/TKL byte (Len always 0) and the code. */
export const WS_HEADER_SIZE = 2;

/** Encodes a PDU as the payload of one binary WebSocket message. */
export function encodeWsMessage(pdu: OutgoingPdu): Uint8Array {
  const token = pdu.token;
  const tokenLength = token.length;
  if (tokenLength > 65804) throw new CoapEncodeError(`token of ${tokenLength} bytes is longer than 65804`);
  // RFC 8974 §2.1: TKL 9-12 stay reserved and 13 means 13 or more, so 9..12-byte tokens cannot be sent.
  if (tokenLength > 8 && tokenLength < 13) throw new CoapEncodeError(`a token of ${tokenLength} bytes cannot be encoded (9..12 are reserved)`);
  if (!(pdu.code >= 0 && pdu.code <= 0xff) || !Number.isInteger(pdu.code)) throw new CoapEncodeError(`code ${pdu.code} is not an 8-bit value`);
  const bodySize = optionsAndPayloadSize(pdu.options, pdu.payload);
  if (tokenLength <= 8) {
    // The common token, written here (calls fewer per request: at a few requests a second each runs cold).
    const out = allocateOutput(2 + tokenLength + bodySize);
    out[0] = tokenLength; // RFC 8323 §4.2: Len is 0, no length field
    out[1] = pdu.code;
    for (let i = 0; i < tokenLength; i++) out[2 + i] = token[i];
    writeOptionsAndPayload(out, 2 + tokenLength, pdu.options, pdu.payload);
    return out;
  }
  const out = allocateOutput(2 + tokenExtensionSize(tokenLength) + tokenLength + bodySize);
  out[0] = tokenLengthNibble(tokenLength);
  out[1] = pdu.code;
  writeTokenAndBody(out, 2, pdu);
  return out;
}

/**
 * Decodes one binary WebSocket message. Total: a PDU or a fatal {@link CoapDecodeError}.
 * Token, option values and payload are views into `bytes`.
 */
export function decodeWsMessage(bytes: Uint8Array): CoapPdu {
  const end = bytes.length;
  if (end < 2) throw new CoapDecodeError('TRUNCATED_HEADER', `message of ${end} bytes is shorter than the 2-byte header`, { fatal: true });
  const first = bytes[0];
  // RFC 8323 §4.2: "the Length (Len) field MUST be set to zero".
  if (first >> 4 !== 0) throw new CoapDecodeError('BAD_FRAME', `Len field is ${first >> 4}, must be 0 over WebSockets`, { fatal: true });
  const tkl = first & 0x0f;
  const code = bytes[1];
  let offset = 2;
  let tokenLength = tkl;
  if (tkl > 8) {
    if (tkl === 13) {
      if (offset >= end) throw truncatedToken(offset);
      tokenLength = bytes[offset++] + 13;
    } else if (tkl === 14) {
      if (offset + 1 >= end) throw truncatedToken(offset);
      tokenLength = ((bytes[offset] << 8) | bytes[offset + 1]) + 269;
      offset += 2;
    } else {
      throw new CoapDecodeError('RESERVED_TOKEN_LENGTH', `token length ${tkl} is reserved`, { offset: 0, fatal: true });
    }
  }
  if (offset + tokenLength > end) throw truncatedToken(offset);
  const token = tokenLength === 0 ? EMPTY_BYTES : new Uint8Array(bytes.buffer, bytes.byteOffset + offset, tokenLength);
  offset += tokenLength;
  if (offset === end) return { type: MessageType.CON, code, messageId: 0, token, options: [], payload: EMPTY_BYTES };
  return readBody(MessageType.CON, code, 0, token, bytes, offset, end, true);
}

function truncatedToken(offset: number): CoapDecodeError {
  return new CoapDecodeError('TRUNCATED_TOKEN', 'token runs past the end of the message', { offset, fatal: true });
}
