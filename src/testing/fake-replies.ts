/**
 * Replies for the fake transport's scripted peer (`createFakeTransport({ respond })`), each built from the request
 * it answers so that message ID and token are echoed as a CoAP server does (RFC 7252 §5.3.2, §4.4):
 *
 *   respond: (request) => piggybackedResponse(request, { payload: '21.5' })   ACK 2.05, same MID and token
 *   respond: (request) => separateResponse(request, { delay: 500 })         empty ACK now, CON 2.05 after 500 ms
 *   respond: (request) => [piggybackedResponse(request, { observe: 1 }),
 *                          notification(request, 2, { delay: 1000 })]      a registration and one notification
 *   respond: (request) => resetReply(request)                              RST (ping answer, or "go away")
 */
import { ContentFormat } from '../codec/content-format';
import { OptionNumber } from '../codec/option-numbers';
import { encodeUint } from '../codec/option-values';
import { textPayload } from '../codec/payload';
import { EMPTY_BYTES, EMPTY_CODE, MessageType, ResponseCode, sortOptions, type CoapOption, type CoapPdu } from '../codec/pdu';
import type { FakeReply } from './fake-transport';

/** What a reply carries; everything has a default. */
export interface ReplyInit {
  /** Response code. @defaultValue 2.05 Content */
  readonly code?: number;
  /** Body: bytes, or text (UTF-8, and Content-Format text/plain unless `contentFormat` says otherwise). */
  readonly payload?: Uint8Array | string;
  readonly contentFormat?: number;
  /** Observe sequence number (notifications, the registration's response). */
  readonly observe?: number;
  /** Max-Age in seconds. */
  readonly maxAge?: number;
  /** Further options, merged in number order. */
  readonly options?: readonly CoapOption[];
}

/** Timing and message ID of a reply the server sends in its own message (separate response, notification). */
export interface LaterReplyInit extends ReplyInit {
  /** Milliseconds after the request. @defaultValue 0 */
  readonly delay?: number;
  /** CON (true) or NON (false). @defaultValue true for {@link separateResponse}, false for {@link notification} */
  readonly confirmable?: boolean;
  /** The server's message ID. @defaultValue derived from the request's: distinct from it and from each other */
  readonly messageId?: number;
}

/** The empty ACK of a CON (RFC 7252 §4.2): same message ID, no token. */
export function emptyAck(request: CoapPdu): CoapPdu {
  return { type: MessageType.ACK, code: EMPTY_CODE, messageId: request.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES };
}

/** An RST for `request` (RFC 7252 §4.2, §4.3: also the answer to a CoAP ping). */
export function resetReply(request: CoapPdu): CoapPdu {
  return { type: MessageType.RST, code: EMPTY_CODE, messageId: request.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES };
}

/** A piggybacked response (RFC 7252 §5.2.1): an ACK with the request's message ID and token. */
export function piggybackedResponse(request: CoapPdu, init: ReplyInit = {}): CoapPdu {
  return response(MessageType.ACK, request.messageId, request, init);
}

/**
 * A separate response (RFC 7252 §5.2.2): the empty ACK at once, then the response in a message of its own (CON by
 * default, with the request's token) after `delay`.
 */
export function separateResponse(request: CoapPdu, init: LaterReplyInit = {}): FakeReply[] {
  const confirmable = init.confirmable ?? true;
  const later = response(confirmable ? MessageType.CON : MessageType.NON, init.messageId ?? (request.messageId ^ 0x8000), request, init);
  return [emptyAck(request), { delay: init.delay ?? 0, reply: later }];
}

/**
 * A notification (RFC 7641 §4.2) of observation `request` with Observe `sequence`: NON by default, after `delay`,
 * the registration's token. `sequence` undefined leaves Observe out: the last message of an observation, such as
 * an error code (`{ code: ResponseCode.ServiceUnavailable }`), which removes the client (RFC 7641 §3.2, §4.2).
 */
export function notification(request: CoapPdu, sequence: number | undefined, init: LaterReplyInit = {}): FakeReply {
  const confirmable = init.confirmable ?? false;
  const messageId = init.messageId ?? ((request.messageId + 0x4000 + (sequence ?? 0x3fff)) & 0xffff);
  return { delay: init.delay ?? 0, reply: response(confirmable ? MessageType.CON : MessageType.NON, messageId, request, { ...init, observe: sequence }) };
}

function response(type: CoapPdu['type'], messageId: number, request: CoapPdu, init: ReplyInit): CoapPdu {
  const options: CoapOption[] = [...(init.options ?? [])];
  const text = typeof init.payload === 'string';
  if (init.observe !== undefined) options.push({ number: OptionNumber.Observe, value: encodeUint(init.observe) });
  const format = init.contentFormat ?? (text ? ContentFormat.TextPlain : undefined);
  if (format !== undefined) options.push({ number: OptionNumber.ContentFormat, value: encodeUint(format) });
  if (init.maxAge !== undefined) options.push({ number: OptionNumber.MaxAge, value: encodeUint(init.maxAge) });
  const payload = init.payload === undefined ? EMPTY_BYTES : typeof init.payload === 'string' ? textPayload(init.payload) : init.payload;
  return { type, code: init.code ?? ResponseCode.Content, messageId, token: request.token, options: sortOptions(options), payload };
}
