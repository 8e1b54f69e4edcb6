/**
 * The CoAP message model shared by every framing (UDP, TCP, WebSocket): a plain readonly shape,
 * built once per message. Options are a list sorted by number (stable for repeats), which is what
 * the wire needs and what makes encode a single pass.
 */

/** RFC 7252 §3 message types. */
export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
/** One of {@link MessageType}'s values. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Short names of the message types, indexed by type. */
export const messageTypeNames = ['CON', 'NON', 'ACK', 'RST'] as const;

/** Builds a code number from class and detail: `code(2, 5)` is 2.05. */
export function code(codeClass: number, detail: number): number {
  return (codeClass << 5) | detail;
}

/** Request method codes (RFC 7252 §12.1.1, RFC 8132). */
export const Method = {
  GET: 0x01,
  POST: 0x02,
  PUT: 0x03,
  DELETE: 0x04,
  FETCH: 0x05,
  PATCH: 0x06,
  IPATCH: 0x07,
} as const;
/** Name of a request method. */
export type MethodName = keyof typeof Method;

/** Response codes (RFC 7252 §12.1.2, RFC 7959, RFC 8132, RFC 8516, RFC 9175). */
export const ResponseCode = {
  Created: code(2, 1),
  Deleted: code(2, 2),
  Valid: code(2, 3),
  Changed: code(2, 4),
  Content: code(2, 5),
  Continue: code(2, 31),
  BadRequest: code(4, 0),
  Unauthorized: code(4, 1),
  BadOption: code(4, 2),
  Forbidden: code(4, 3),
  NotFound: code(4, 4),
  MethodNotAllowed: code(4, 5),
  NotAcceptable: code(4, 6),
  RequestEntityIncomplete: code(4, 8),
  Conflict: code(4, 9),
  PreconditionFailed: code(4, 12),
  RequestEntityTooLarge: code(4, 13),
  UnsupportedContentFormat: code(4, 15),
  UnprocessableEntity: code(4, 22),
  TooManyRequests: code(4, 29),
  InternalServerError: code(5, 0),
  NotImplemented: code(5, 1),
  BadGateway: code(5, 2),
  ServiceUnavailable: code(5, 3),
  GatewayTimeout: code(5, 4),
  ProxyingNotSupported: code(5, 5),
  HopLimitReached: code(5, 8),
} as const;

/** Signaling codes for reliable transports (RFC 8323 §5). */
export const SignalCode = {
  CSM: code(7, 1),
  Ping: code(7, 2),
  Pong: code(7, 3),
  Release: code(7, 4),
  Abort: code(7, 5),
} as const;

/** The empty message code 0.00 (RFC 7252 §4.1). */
export const EMPTY_CODE = 0;

const codeNames = new Map<number, string>();
for (const [name, value] of Object.entries(Method)) codeNames.set(value, name);
for (const [name, value] of Object.entries(ResponseCode)) codeNames.set(value, name.replace(/([a-z])([A-Z])/g, '$1 $2'));
for (const [name, value] of Object.entries(SignalCode)) codeNames.set(value, name);

/** `'2.05'` for 69. */
export function codeToString(value: number): string {
  const detail = value & 0x1f;
  return `${value >> 5}.${detail < 10 ? '0' : ''}${detail}`;
}

/** `'2.05 Content'`, `'GET'`, or the dotted form for unknown codes. */
export function codeName(value: number): string {
  const name = codeNames.get(value);
  if (value === EMPTY_CODE) return 'Empty';
  if (value >> 5 === 0) return name ?? codeToString(value);
  return name === undefined ? codeToString(value) : `${codeToString(value)} ${name}`;
}

/** Parses `'2.05'` into 69; returns undefined for text that is not `c.dd`. */
export function codeFromString(text: string): number | undefined {
  const match = /^([0-7])\.([0-3][0-9])$/.exec(text);
  if (match === null) return undefined;
  const detail = Number(match[2]);
  return detail > 31 ? undefined : code(Number(match[1]), detail);
}

/** True for 0.01..0.31. */
export function isRequestCode(value: number): boolean {
  return value > 0 && value >> 5 === 0;
}

/** True for 2.xx..5.xx. */
export function isResponseCode(value: number): boolean {
  const c = value >> 5;
  return c >= 2 && c <= 5;
}

/** One option occurrence: its number and raw value bytes. */
export interface CoapOption {
  readonly number: number;
  readonly value: Uint8Array;
}

/** A CoAP message, independent of framing. Stream framings ignore `type` and `messageId`. */
export interface CoapPdu {
  readonly type: MessageType;
  /** Code as a number: class in the top 3 bits, detail in the low 5 (2.05 = 69). */
  readonly code: number;
  /** 16-bit message ID (UDP/DTLS only; 0 on streams). */
  readonly messageId: number;
  /** 0..8 bytes on the wire by RFC 7252; up to 65804 with RFC 8974 extended token length. */
  readonly token: Uint8Array;
  /** Sorted by option number; repeated options keep their order. */
  readonly options: readonly CoapOption[];
  readonly payload: Uint8Array;
}

/** A shared empty byte array (never written to). */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/**
 * A message to send, before the layer below gives it what it owns: type and message ID on datagrams (the message
 * layer), nothing on reliable transports (RFC 8323 has neither).
 */
export type OutgoingPdu = Omit<CoapPdu, 'type' | 'messageId'>;

/** Builds a PDU with defaults for the fields not given; options are sorted (stable) by number. */
export function createPdu(init: Partial<CoapPdu> & { code: number }): CoapPdu {
  return {
    type: init.type ?? MessageType.CON,
    code: init.code,
    messageId: init.messageId ?? 0,
    token: init.token ?? EMPTY_BYTES,
    options: init.options === undefined ? [] : sortOptions(init.options),
    payload: init.payload ?? EMPTY_BYTES,
  };
}

/** Returns the options sorted by number, keeping the order of repeated options (stable sort). */
export function sortOptions(options: readonly CoapOption[]): CoapOption[] {
  for (let i = 1; i < options.length; i++) {
    if (options[i].number < options[i - 1].number) return [...options].sort((a, b) => a.number - b.number);
  }
  return options as CoapOption[];
}

/** First value of an option, or undefined. */
export function getOption(pdu: Pick<CoapPdu, 'options'>, number: number): Uint8Array | undefined {
  const options = pdu.options;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    if (option.number === number) return option.value;
    if (option.number > number) return undefined;
  }
  return undefined;
}

/** Every value of a (repeatable) option, in order. */
export function getOptions(pdu: Pick<CoapPdu, 'options'>, number: number): Uint8Array[] {
  const values: Uint8Array[] = [];
  for (const option of pdu.options) {
    if (option.number === number) values.push(option.value);
    else if (option.number > number) break;
  }
  return values;
}

/** True when the option is present. */
export function hasOption(pdu: Pick<CoapPdu, 'options'>, number: number): boolean {
  return getOption(pdu, number) !== undefined;
}

/** A copy of the option list with every occurrence of `number` replaced by the given values (sorted). */
export function withOption(options: readonly CoapOption[], number: number, values: readonly Uint8Array[]): CoapOption[] {
  const out: CoapOption[] = [];
  let inserted = false;
  for (const option of options) {
    if (option.number === number) continue;
    if (!inserted && option.number > number) {
      for (const value of values) out.push({ number, value });
      inserted = true;
    }
    out.push(option);
  }
  if (!inserted) for (const value of values) out.push({ number, value });
  return out;
}

/** A copy of the option list without `number`. */
export function withoutOption(options: readonly CoapOption[], number: number): CoapOption[] {
  return options.filter((option) => option.number !== number);
}

/** Token bytes as lowercase hex (for logs, errors and map keys). */
export function tokenToHex(token: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < token.length; i++) hex += (token[i] < 16 ? '0' : '') + token[i].toString(16);
  return hex;
}
