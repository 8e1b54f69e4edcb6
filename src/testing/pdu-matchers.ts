/**
 * `toMatchPdu`: compare a CoAP message with a pattern that names only what matters, in CoAP's words:
 *
 *   expect.extend(pduMatchers);
 *   expect(fake.sent[0].pdu).toMatchPdu({ type: 'CON', code: 'GET', path: '/sensors/temp', observe: 0 });
 *   expect(frame).toMatchPdu({ type: 'ACK', code: '2.05', token: '01', payload: '21.5' });   // bytes are decoded
 *
 * Framework-free underneath: {@link pduMismatches} lists what differs, and {@link pduMatchers} has the shape of a
 * jest/vitest matcher object (`{ pass, message }`), so nothing here imports a test framework.
 */
import { decodeDatagram } from '../codec/udp-codec';
import { sameBytes } from '../codec/bytes';
import { OptionNumber } from '../codec/option-numbers';
import { decodeString, decodeUint, encodeUint } from '../codec/option-values';
import { codeFromString, codeToString, getOption, getOptions, Method, messageTypeNames, tokenToHex, type CoapPdu, type MessageType } from '../codec/pdu';
import { textPayload } from '../codec/payload';
import { describePdu } from './marbles';

/** What a message should be; absent fields are not compared. */
export interface PduPattern {
  /** `'CON'`, `'NON'`, `'ACK'`, `'RST'` or the number. */
  readonly type?: MessageType | 'CON' | 'NON' | 'ACK' | 'RST';
  /** A method name (`'GET'`), the dotted code (`'2.05'`, `'0.00'` for empty) or the number. */
  readonly code?: number | string;
  readonly messageId?: number;
  /** Token bytes, or lowercase hex (`'0a1b'`; `''` for none). */
  readonly token?: Uint8Array | string;
  /** The Uri-Path options joined: `'/sensors/temp'` (`'/'` for none). */
  readonly path?: string;
  /** The Observe value; `null` for "no Observe option". */
  readonly observe?: number | null;
  /** Other options by number: each value (or every value, for a repeated option) as bytes, a string or a uint. */
  readonly options?: Readonly<Record<number, Uint8Array | string | number | null | ReadonlyArray<Uint8Array | string | number>>>;
  /** The body as bytes or UTF-8 text. */
  readonly payload?: Uint8Array | string;
}

const TYPE_NUMBERS: Readonly<Record<string, number>> = { CON: 0, NON: 1, ACK: 2, RST: 3 };

/** Every difference between `actual` (a PDU, or datagram bytes to decode) and `pattern`; empty when it matches. */
export function pduMismatches(actual: CoapPdu | Uint8Array | undefined, pattern: PduPattern): string[] {
  let pdu: CoapPdu;
  if (actual === undefined) return ['there is no message (undefined)'];
  if (actual instanceof Uint8Array) {
    try {
      pdu = decodeDatagram(actual);
    } catch (error) {
      return [`the bytes are not a CoAP datagram: ${(error as Error).message}`];
    }
  } else pdu = actual;
  const out: string[] = [];
  if (pattern.type !== undefined) {
    const type = typeof pattern.type === 'string' ? TYPE_NUMBERS[pattern.type] : pattern.type;
    if (pdu.type !== type) out.push(`type is ${messageTypeNames[pdu.type]}, expected ${pattern.type}`);
  }
  if (pattern.code !== undefined) {
    const code = codeOf(pattern.code);
    if (code === undefined) out.push(`the pattern's code '${pattern.code}' is not a method name or c.dd`);
    else if (pdu.code !== code) out.push(`code is ${codeToString(pdu.code)}, expected ${codeToString(code)}`);
  }
  if (pattern.messageId !== undefined && pdu.messageId !== pattern.messageId) out.push(`message ID is ${pdu.messageId}, expected ${pattern.messageId}`);
  if (pattern.token !== undefined) {
    const want = typeof pattern.token === 'string' ? pattern.token.toLowerCase() : tokenToHex(pattern.token);
    if (tokenToHex(pdu.token) !== want) out.push(`token is [${tokenToHex(pdu.token)}], expected [${want}]`);
  }
  if (pattern.path !== undefined) {
    const path = `/${getOptions(pdu, OptionNumber.UriPath).map(decodeString).join('/')}`;
    if (path !== pattern.path) out.push(`path is ${path}, expected ${pattern.path}`);
  }
  if (pattern.observe !== undefined) {
    const value = getOption(pdu, OptionNumber.Observe);
    const observe = value === undefined ? null : decodeUint(value);
    if (observe !== pattern.observe) out.push(`Observe is ${observe ?? 'absent'}, expected ${pattern.observe ?? 'absent'}`);
  }
  for (const [key, expected] of Object.entries(pattern.options ?? {})) {
    const number = Number(key);
    const values = getOptions(pdu, number);
    const wanted = expected === null ? [] : (Array.isArray(expected) ? expected : [expected]).map(optionBytes);
    if (values.length !== wanted.length || values.some((value, i) => !sameBytes(value, wanted[i]))) {
      out.push(`option ${number} is [${values.map(tokenToHex).join(', ')}], expected [${wanted.map(tokenToHex).join(', ')}]`);
    }
  }
  if (pattern.payload !== undefined) {
    const want = typeof pattern.payload === 'string' ? textPayload(pattern.payload) : pattern.payload;
    if (!sameBytes(pdu.payload, want)) out.push(`payload is ${pdu.payload.length} bytes (${tokenToHex(pdu.payload.subarray(0, 16))}), expected ${want.length} (${tokenToHex(want.subarray(0, 16))})`);
  }
  return out;
}

/** True when `actual` matches `pattern`. */
export function matchesPdu(actual: CoapPdu | Uint8Array | undefined, pattern: PduPattern): boolean {
  return pduMismatches(actual, pattern).length === 0;
}

function codeOf(code: number | string): number | undefined {
  if (typeof code === 'number') return code;
  return (Method as Readonly<Record<string, number>>)[code] ?? codeFromString(code);
}

function optionBytes(value: Uint8Array | string | number): Uint8Array {
  if (typeof value === 'number') return encodeUint(value);
  return typeof value === 'string' ? textPayload(value) : value;
}

/** The result a jest/vitest custom matcher returns. */
export interface PduMatcherResult {
  readonly pass: boolean;
  readonly message: () => string;
}

/** Custom matchers for `expect.extend(pduMatchers)` (jest, vitest). */
export const pduMatchers = {
  /** Passes when the received PDU (or datagram bytes) matches the pattern; the message lists every difference. */
  toMatchPdu(received: CoapPdu | Uint8Array | undefined, pattern: PduPattern): PduMatcherResult {
    const mismatches = pduMismatches(received, pattern);
    const seen = received === undefined ? 'undefined' : received instanceof Uint8Array ? `${received.length} bytes` : describePdu(received, { messageId: true });
    return {
      pass: mismatches.length === 0,
      message: () =>
        mismatches.length === 0
          ? `expected ${seen} not to match the PDU pattern ${JSON.stringify(pattern)}`
          : `expected ${seen} to match the PDU pattern:\n  ${mismatches.join('\n  ')}`,
    };
  },
};

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    interface Matchers<R> {
      /** See `pduMatchers` (rxcoap/testing): register with `expect.extend(pduMatchers)`. */
      toMatchPdu(pattern: PduPattern): R;
    }
  }
}
