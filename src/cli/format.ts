/**
 * What `rxcoap` prints: bodies (CBOR in diagnostic notation, JSON and link-format pretty-printed on a TTY,
 * anything else byte for byte) and what follows them, the `--json` record of a response or of a failure, the
 * stderr line of an error response (`4.04 Not Found: diagnostic`), and the one-line form of a PDU for `-v 7`.
 * Pure functions: `main.ts` decides where the text goes.
 */
import { bodyKind, isUtf8Text } from '../codec/body-kind';
import { parseLinkFormat, formatLinkFormat, type Link } from '../codec/link-format';
import { optionInfo, optionName, formatOptionValue } from '../codec/option-registry';
import { SignalCode, codeName, codeToString, messageTypeNames, tokenToHex, type CoapOption, type CoapPdu } from '../codec/pdu';
import { cborDiagnostic, decodeCbor } from '../codec/payload';
import { decodeStreamFrame } from '../codec/stream-codec';
import { decodeDatagram } from '../codec/udp-codec';
import { decodeWsMessage } from '../codec/ws-codec';

export { bodyKind, isUtf8Text, type BodyKind } from '../codec/body-kind';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A link-format document, one link per line (a TTY view of `/.well-known/core`). */
function prettyLinks(links: readonly Link[]): string {
  return links.map((link) => formatLinkFormat([link])).join('\n');
}

/** How a body is printed: text (ends with a newline when it is a rendering) or the raw bytes. */
export interface RenderedBody {
  readonly data: string | Uint8Array;
  /** True when `data` is a rendering (diagnostic notation, pretty JSON, one link per line), not the bytes. */
  readonly rendered: boolean;
}

/**
 * Renders a body for stdout. CBOR always becomes diagnostic notation (RFC 8949 §8), as raw CBOR on a terminal
 * is noise; JSON and link-format are pretty-printed only when `pretty` (stdout is a TTY), so pipes get the
 * server's bytes. A body that does not parse as its Content-Format says is printed as it is.
 */
export function renderBody(payload: Uint8Array, contentFormat: number | undefined, pretty: boolean): RenderedBody {
  if (payload.length === 0) return { data: payload, rendered: false };
  const kind = bodyKind(contentFormat, payload);
  try {
    if (kind === 'cbor') return { data: cborDiagnostic(payload) + '\n', rendered: true };
    if (pretty && kind === 'json') return { data: JSON.stringify(JSON.parse(strictUtf8.decode(payload)), null, 2) + '\n', rendered: true };
    if (pretty && kind === 'link-format') return { data: prettyLinks(parseLinkFormat(strictUtf8.decode(payload))) + '\n', rendered: true };
  } catch {
    // not what the Content-Format says: show the bytes
  }
  return { data: payload, rendered: false };
}

/** Where a body goes and what the command line asked for, as {@link bodyTerminator} needs it. */
export interface TerminatorOptions {
  /** `-w`. */
  readonly newline: boolean;
  /** stdout is a terminal. */
  readonly terminal: boolean;
}

function endsWithNewline(data: string | Uint8Array): boolean {
  return typeof data === 'string' ? data.endsWith('\n') : data[data.length - 1] === 0x0a;
}

/**
 * What to write after a body on stdout. `-w` adds one newline after the whole body, as coap-client's `-w`
 * does (`add_nl`: appended once the last block is in, whatever the body ends with). Without `-w`, a terminal
 * gets a newline when the body does not end with one, so the shell prompt starts on its own line (coap-client
 * ends its stdout output with one); a pipe gets the server's bytes untouched. A rendering (diagnostic notation,
 * pretty JSON, one link per line) already ends its last line and gets nothing; an empty body gets nothing.
 */
export function bodyTerminator(body: RenderedBody, options: TerminatorOptions): string {
  if (body.rendered || body.data.length === 0) return '';
  if (options.newline) return '\n';
  return options.terminal && !endsWithNewline(body.data) ? '\n' : '';
}

/** Lowercase hex. */
function hex(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return text;
}

/** Options by name; a repeated option gives an array of its values in order. */
export function optionsByName(options: readonly CoapOption[]): Record<string, string | number | Array<string | number>> {
  const record: Record<string, string | number | Array<string | number>> = {};
  for (const option of options) {
    const name = optionName(option.number);
    const value = formatOptionValue(option.number, option.value);
    const previous = record[name];
    if (previous === undefined) record[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else record[name] = [previous, value];
  }
  return record;
}

/**
 * A CBOR value made JSON-safe: byte strings as `0x` hex, Maps as objects, bigints as numbers when safe (else
 * strings), tags as `{ tag, value }`, dates as ISO text, undefined as null.
 */
export function jsonSafe(value: unknown, depth = 0): unknown {
  if (depth > 256) return null;
  if (value === undefined) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return `0x${hex(value)}`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => jsonSafe(item, depth + 1));
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of value) object[String(key)] = jsonSafe(item, depth + 1);
    return object;
  }
  const record = value as Record<string, unknown>;
  if (value.constructor?.name === 'Tag' && 'tag' in record && 'value' in record) {
    return { tag: jsonSafe(record.tag, depth + 1), value: jsonSafe(record.value, depth + 1) };
  }
  const object: Record<string, unknown> = {};
  for (const key of Object.keys(record)) object[key] = jsonSafe(record[key], depth + 1);
  return object;
}

/** The payload of a `--json` record, decoded by Content-Format. */
export interface DecodedPayload {
  /** How `payload` was decoded. */
  readonly payloadFormat: 'empty' | 'json' | 'cbor' | 'link-format' | 'text' | 'base64';
  readonly payload: unknown;
  /** CBOR diagnostic notation (exact, where the JSON form loses tags or byte strings). */
  readonly diagnostic?: string;
}

/** Decodes a payload for `--json`; a body that does not parse as its Content-Format says falls back to text or base64. */
export function decodePayload(payload: Uint8Array, contentFormat: number | undefined): DecodedPayload {
  if (payload.length === 0) return { payloadFormat: 'empty', payload: null };
  const kind = bodyKind(contentFormat, payload);
  try {
    if (kind === 'cbor') {
      const diagnostic = cborDiagnostic(payload);
      try {
        return { payloadFormat: 'cbor', payload: jsonSafe(decodeCbor(payload)), diagnostic };
      } catch {
        // a CBOR sequence (RFC 8742) is several items: the diagnostic lists them
        return { payloadFormat: 'cbor', payload: null, diagnostic };
      }
    }
    if (kind === 'json') return { payloadFormat: 'json', payload: JSON.parse(strictUtf8.decode(payload)) };
    if (kind === 'link-format') {
      const links = parseLinkFormat(strictUtf8.decode(payload));
      return { payloadFormat: 'link-format', payload: links.map((link) => ({ href: link.target, ...link.attributes })) };
    }
  } catch {
    // fall through
  }
  if (kind !== 'binary' && kind !== 'cbor' && isUtf8Text(payload)) return { payloadFormat: 'text', payload: strictUtf8.decode(payload) };
  return { payloadFormat: 'base64', payload: Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('base64') };
}

/** What {@link responseRecord} reads from a response (a `CoapResponse` has all of it). */
export type ResponseLike = Pick<CoapPdu, 'code' | 'type' | 'messageId' | 'token' | 'options' | 'payload'>;

/** How {@link responseRecord} describes a response. */
export interface ResponseRecordOptions {
  /**
   * It came over coap+tcp:// or coaps+tcp:// (RFC 8323), which have no message types or message IDs: the
   * record has no `type` and no `messageId`. @defaultValue false
   */
  readonly reliable?: boolean;
}

/** The `--json` object of one response or notification. */
export function responseRecord(response: ResponseLike, contentFormat: number | undefined, options: ResponseRecordOptions = {}): Record<string, unknown> {
  const decoded = decodePayload(response.payload, contentFormat);
  return {
    code: codeToString(response.code),
    codeName: codeName(response.code).replace(/^\d\.\d\d ?/, ''),
    ...(options.reliable === true ? {} : { type: messageTypeNames[response.type], messageId: response.messageId }),
    token: tokenToHex(response.token),
    options: optionsByName(response.options),
    size: response.payload.length,
    ...decoded,
  };
}

/** Fields of an error that never go into its `--json` record: its identity, its stack, its wrapped cause. */
const UNRECORDED_FIELDS = new Set(['code', 'name', 'message', 'stack', 'cause', 'response']);

/**
 * The `--json` record of a failure (a timeout, a reset, a DTLS or socket failure, a bad argument): one object
 * `{ error: { code, name, message, ...typed fields } }` with the error's stable `code` (`COAP_ERR_TIMEOUT`,
 * ...), its class name, its message and its typed context (`peer`, `token`, `messageId`, `attempts`,
 * `elapsed`, `reason`, `syscallCode`, ...). Never a stack trace or a `cause` (which could hold anything); an
 * error without a string code is `COAP_ERR_UNEXPECTED`.
 */
export function errorRecord(error: unknown): { error: Record<string, unknown> } {
  if (!(error instanceof Error)) return { error: { code: 'COAP_ERR_UNEXPECTED', name: 'Error', message: String(error) } };
  const code = (error as { code?: unknown }).code;
  const record: Record<string, unknown> = {
    code: typeof code === 'string' ? code : 'COAP_ERR_UNEXPECTED',
    name: error.name,
    message: error.message,
  };
  for (const [key, value] of Object.entries(error)) {
    if (UNRECORDED_FIELDS.has(key) || value === undefined || typeof value === 'function') continue;
    record[key] = jsonSafe(value);
  }
  return { error: record };
}

/** Printable ASCII of a diagnostic payload, other bytes as `.` (as coap-client prints it). */
function printable(payload: Uint8Array): string {
  if (isUtf8Text(payload)) return strictUtf8.decode(payload).replace(/[\r\n]+$/, '');
  let text = '';
  for (const byte of payload) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  return text;
}

/**
 * The stderr line of a response that is not 2.xx: `4.04 Not Found`, then `: ` and the diagnostic payload
 * (RFC 7252 §5.5.2) when there is one; a CBOR problem detail (RFC 9290) in diagnostic notation.
 */
export function errorLine(response: ResponseLike, contentFormat: number | undefined): string {
  let line = codeName(response.code);
  if (response.payload.length > 0) {
    let diagnostic: string;
    try {
      diagnostic = bodyKind(contentFormat, response.payload) === 'cbor' ? cborDiagnostic(response.payload) : printable(response.payload);
    } catch {
      diagnostic = printable(response.payload);
    }
    line += `: ${diagnostic}`;
  }
  return line;
}

/** Longest payload shown in a PDU trace line before it is cut. */
const TRACE_PAYLOAD_CHARS = 48;

function tracePayload(payload: Uint8Array): string {
  if (payload.length === 0) return '';
  if (isUtf8Text(payload)) {
    const text = strictUtf8.decode(payload);
    const shown = text.length > TRACE_PAYLOAD_CHARS ? `${text.slice(0, TRACE_PAYLOAD_CHARS)}...` : text;
    return ` :: ${payload.length} B ${JSON.stringify(shown)}`;
  }
  const shown = payload.length > TRACE_PAYLOAD_CHARS / 2 ? `${hex(payload.subarray(0, TRACE_PAYLOAD_CHARS / 2))}...` : hex(payload);
  return ` :: ${payload.length} B 0x${shown}`;
}

/** How a traced message was framed (the logger's third argument): a datagram, an RFC 8323 frame, a WebSocket message. */
export type TraceFraming = 'datagram' | 'stream' | 'websocket';

const signalNames = new Map<number, string>(Object.entries(SignalCode).map(([name, value]) => [value, name]));

function isSignal(code: number): boolean {
  return code >> 5 === 7;
}

/**
 * One option of a trace line, `Name:value`. Signaling options (RFC 8323 §5) are named in their message's scope
 * (option 2 is Max-Message-Size in a CSM, Custody in a Ping), and the empty ones there are flags, shown by
 * name alone (`Block-Wise-Transfer`).
 */
function traceOption(option: CoapOption, code: number): string {
  if (!isSignal(code)) return `${optionName(option.number)}:${formatOptionValue(option.number, option.value)}`;
  const name = optionName(option.number, code);
  if (option.value.length === 0 && optionInfo(option.number, code)?.format === 'empty') return name;
  return `${name}:${formatOptionValue(option.number, option.value, code)}`;
}

/**
 * One message as a line for `-v 7`. Datagrams (coap://, coaps://) show type and message ID, e.g.
 * `-> CON GET mid=4660 token=01ab [Uri-Path:sensors, Uri-Path:temperature, Observe:0]` or
 * `<- ACK 2.05 Content mid=4660 token=01ab [Content-Format:application/json] :: 13 B "{\"on\":true}"`.
 * RFC 8323 frames and WebSocket messages have neither, so the line starts with the code:
 * `-> GET token=01ab [Uri-Path:sensors]`, and signaling messages by name: `<- CSM [Max-Message-Size:1152, Block-Wise-Transfer]`.
 * @param direction - sent or received
 * @param frame - the bytes as they went over the wire (one datagram, one stream frame, one WebSocket message)
 * @param framing - how they are framed @defaultValue `'datagram'`
 */
export function pduLine(direction: 'sent' | 'received', frame: Uint8Array, framing: TraceFraming = 'datagram'): string {
  const arrow = direction === 'sent' ? '->' : '<-';
  let pdu: CoapPdu;
  try {
    pdu = framing === 'stream' ? decodeStreamFrame(frame) : framing === 'websocket' ? decodeWsMessage(frame) : decodeDatagram(frame);
  } catch (error) {
    return `${arrow} ${frame.length} B not CoAP (${(error as Error).message})`;
  }
  const code = pdu.code;
  const options = pdu.options.map((option) => traceOption(option, code));
  const token = pdu.token.length === 0 ? '' : ` token=${tokenToHex(pdu.token)}`;
  const optionText = options.length === 0 ? '' : ` [${options.join(', ')}]`;
  const rest = `${token}${optionText}${tracePayload(pdu.payload)}`;
  if (framing === 'datagram') return `${arrow} ${messageTypeNames[pdu.type]} ${codeName(code)} mid=${pdu.messageId}${rest}`;
  const codeText = isSignal(code) ? (signalNames.get(code) ?? codeToString(code)) : codeName(code);
  return `${arrow} ${codeText}${rest}`;
}
