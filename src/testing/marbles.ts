/**
 * Marble helpers for CoAP in virtual time (browser-safe, like `rxjs/testing`): a TestScheduler that compares
 * typed errors by `{ name, code, message }`, context options that make every protocol time exact, and a frame
 * notation so that what a session sends is itself a marble.
 *
 *   const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
 *   scheduler.run(({ expectObservable }) => {
 *     const ctx = new CoapContext(scheduler.contextOptions());
 *     const fake = createFakeTransport({ scheduler });
 *     // RFC 7252 §4.2 with exact timings: sent at 0, 2 s, 6 s, 14 s and 30 s (subscribed first: it is hot).
 *     expectObservable(sentFrames(fake)).toBe('a 1999ms a 3999ms a 7999ms a 15999ms a', { a: 'CON GET [01] /x' });
 *     ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory }).get('/x').subscribe();
 *   });
 */
import { map, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { optionName, formatOptionValue } from '../codec/option-registry';
import { OptionNumber } from '../codec/option-numbers';
import { decodeString } from '../codec/option-values';
import { codeName, messageTypeNames, tokenToHex, type CoapPdu } from '../codec/pdu';
import { sequentialTokenGenerator } from '../exchange/token';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { CoapContextOptions } from '../session/session-options';
import type { SentDatagram } from './fake-transport';

/**
 * The transmission parameters of exact marbles: `ackRandomFactor: 1`.
 *
 * Why it is needed, not only `random: () => 0`: the random source sets the first ACK timeout (RFC 7252 §4.2:
 * random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]), but the derived times take ACK_RANDOM_FACTOR as the
 * worst case (RFC 7252 §4.8.2): MAX_TRANSMIT_SPAN and MAX_TRANSMIT_WAIT, EXCHANGE_LIFETIME (how long a message ID
 * stays in use, and how long a separate response is awaited) and NON_LIFETIME (how long a NON request waits).
 * With the default 1.5, a retransmission marble is exact (0, 2, 6, 14, 30 s, timeout at 62 s) while a NON times
 * out at 145 s and a message ID comes back after 247 s; with 1 every one of them is the RFC formula without
 * the factor (130 s, 232 s), and no random source can move any of them.
 */
export const EXACT_TRANSMISSION: Readonly<Pick<TransmissionParameters, 'ackRandomFactor'>> = Object.freeze({ ackRandomFactor: 1 });

/** Compares what an Observable did with what the marble said; throws when they differ (jest: `toEqual`). */
export type DeepEqualAssertion = (actual: unknown, expected: unknown) => boolean | void;

/** A TestScheduler for CoAP marbles. */
export class CoapTestScheduler extends TestScheduler {
  /**
   * @param assertDeepEqual - called with both sides after errors became `{ name, code, message }` (a typed CoAP
   * error equals the same class, code and message: `new CoapTimeoutError('...')` in the marble's error value).
   */
  constructor(assertDeepEqual: DeepEqualAssertion) {
    super((actual, expected) => assertDeepEqual(normalizeErrors(actual), normalizeErrors(expected)));
  }

  /**
   * Context options for exact timings: this scheduler, `random: () => 0` (no jitter),
   * {@link EXACT_TRANSMISSION} and readable tokens (`sequentialTokenGenerator(1)`: 01, 02, ...). `overrides` win,
   * and their `transmission` is merged into the exact one.
   */
  contextOptions(overrides: CoapContextOptions = {}): CoapContextOptions {
    return {
      scheduler: this,
      random: () => 0,
      tokenGenerator: sequentialTokenGenerator(1),
      ...overrides,
      transmission: { ...EXACT_TRANSMISSION, ...overrides.transmission },
    };
  }
}

/** A {@link CoapTestScheduler}; pass jest's or vitest's deep equality: `(a, e) => expect(a).toEqual(e)`. */
export function createCoapTestScheduler(assertDeepEqual: DeepEqualAssertion): CoapTestScheduler {
  return new CoapTestScheduler(assertDeepEqual);
}

/** Errors anywhere in `value` (rxjs notifications, arrays) as `{ name, code, message }`. */
export function normalizeErrors(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeErrors);
  if (value instanceof Error) return { name: value.name, code: (value as { code?: unknown }).code, message: value.message };
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = normalizeErrors(inner);
    return out;
  }
  return value;
}

/** Options of {@link describePdu}. */
export interface DescribePduOptions {
  /** Show the message ID (`#1a2b`) after the type. @defaultValue false (message IDs are random per session) */
  readonly messageId?: boolean;
}

/**
 * The frame notation: one line per message, for marble values and failure messages:
 * `TYPE CODE [token] /uri/path Option=value ... (N bytes)`, e.g. `CON GET [01] /sensors/temp Observe=0`,
 * `CON 7.01 CSM Max-Message-Size=1152 Block-Wise-Transfer` (an empty option shows its name only),
 * `ACK 2.05 Content [01] Content-Format=0 (5 bytes)`, `ACK Empty`, `RST Empty`. Uri-Path is joined into one
 * path; other options use their registry names and formats; the payload appears as its size.
 */
export function describePdu(pdu: CoapPdu, options: DescribePduOptions = {}): string {
  const parts: string[] = [messageTypeNames[pdu.type] ?? String(pdu.type)];
  if (options.messageId === true) parts.push(`#${pdu.messageId.toString(16).padStart(4, '0')}`);
  parts.push(codeName(pdu.code));
  if (pdu.token.length > 0) parts.push(`[${tokenToHex(pdu.token)}]`);
  const path: string[] = [];
  const rest: string[] = [];
  const signalCode = pdu.code >> 5 === 7 ? pdu.code : undefined; // RFC 8323 §5: signal options have their own numbers
  for (const option of pdu.options) {
    if (option.number === OptionNumber.UriPath) path.push(decodeString(option.value));
    else {
      const text = String(formatOptionValue(option.number, option.value, signalCode));
      rest.push(text === '' ? optionName(option.number, signalCode) : `${optionName(option.number, signalCode)}=${text}`);
    }
  }
  if (path.length > 0) parts.push(`/${path.join('/')}`);
  parts.push(...rest);
  if (pdu.payload.length > 0) parts.push(`(${pdu.payload.length} bytes)`);
  return parts.join(' ');
}

/**
 * What a fake transport sends, in the frame notation, as a marble source: each datagram at the virtual time it was
 * sent (from `fake.sent$`, hot). A frame that is not CoAP shows as `'?'`.
 *
 * Hot means it sees only what is sent while it is subscribed: in `scheduler.run()`, write its `expectObservable`
 * before the one that subscribes the session's Observable, or the frames sent at frame 0 are missed.
 */
export function sentFrames(fake: { readonly sent$: Observable<SentDatagram> }, options: DescribePduOptions = {}): Observable<string> {
  return fake.sent$.pipe(map((sent) => (sent.pdu === undefined ? '?' : describePdu(sent.pdu, options))));
}
