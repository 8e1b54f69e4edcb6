/**
 * RFC 7252 §4.8 transmission parameters and the values derived from them (§4.8.2).
 *
 *   +-------------------+---------------+
 *   | name              | default value |
 *   +-------------------+---------------+
 *   | ACK_TIMEOUT       | 2 seconds     |
 *   | ACK_RANDOM_FACTOR | 1.5           |
 *   | MAX_RETRANSMIT    | 4             |
 *   | NSTART            | 1             |
 *   | DEFAULT_LEISURE   | 5 seconds     |
 *   | PROBING_RATE      | 1 byte/second |
 *   +-------------------+---------------+
 *   MAX_LATENCY 100 s, PROCESSING_DELAY = ACK_TIMEOUT (§4.8.2).
 */
import { CoapArgumentError } from '../errors';

/** The tunable transmission parameters. Durations in milliseconds. */
export interface TransmissionParameters {
  /** Initial retransmission timeout in milliseconds. @defaultValue 2000 */
  readonly ackTimeout: number;
  /** The initial timeout is random in [ackTimeout, ackTimeout * ackRandomFactor]. @defaultValue 1.5 */
  readonly ackRandomFactor: number;
  /** Retransmissions of a CON before giving up. @defaultValue 4 */
  readonly maxRetransmit: number;
  /** Outstanding interactions per peer. @defaultValue 1 */
  readonly nstart: number;
  /** Maximum time a datagram is expected to take, in milliseconds. @defaultValue 100000 */
  readonly maxLatency: number;
  /** Time a node takes to turn a CON into an ACK, in milliseconds. @defaultValue ackTimeout */
  readonly processingDelay: number;
  /** How long a NON request waits for its response, in milliseconds. @defaultValue NON_LIFETIME (145 s with the defaults) */
  readonly nonTimeout: number;
  /**
   * How long to wait for a separate response after an empty ACK, in milliseconds.
   * @defaultValue EXCHANGE_LIFETIME (247 s with the defaults)
   */
  readonly separateResponseTimeout: number;
}

/** RFC 7252 defaults. */
export const DEFAULT_TRANSMISSION: TransmissionParameters = withDerivedDefaults({});

/**
 * The longest delay, in milliseconds, a timer can wait: Node (like browsers) stores timer delays as a signed 32-bit
 * integer and runs a longer one after 1 ms (with a TimeoutOverflowWarning), so every duration, given or derived,
 * must fit.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The largest NSTART: beyond the 65,536 message IDs (RFC 7252 §4.4), so a test or a trusted LAN can let the MID
 * pool be the only limit, yet a clear bound on a value that is a small count (RFC 7252 §4.7 default 1).
 */
const MAX_NSTART = 1_000_000;

/** RFC 7252 §4.8.1 says MAX_RETRANSMIT is small; 20 doublings already make the last wait 2^20 initial timeouts. */
const MAX_RETRANSMIT_LIMIT = 20;

type Check = (value: unknown) => string | undefined;

const duration = (min: 'positive' | 'non-negative'): Check => (value) =>
  typeof value === 'number' && (min === 'positive' ? value > 0 : value >= 0) && value <= MAX_TIMER_DELAY
    ? undefined
    : `must be a ${min} number of milliseconds up to ${MAX_TIMER_DELAY}`;

const integer = (min: number, max: number): Check => (value) =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? undefined : `must be an integer in ${min}..${max}`;

/** What each settable parameter must be. NaN fails every comparison, Infinity the upper bounds. */
const CHECKS: Readonly<Record<keyof TransmissionParameters, Check>> = {
  ackTimeout: duration('positive'),
  // RFC 7252 §4.8: ACK_RANDOM_FACTOR MUST NOT be decreased below 1.0.
  ackRandomFactor: (value) => (typeof value === 'number' && value >= 1 && Number.isFinite(value) ? undefined : 'must be a finite number of at least 1'),
  maxRetransmit: integer(0, MAX_RETRANSMIT_LIMIT),
  nstart: integer(1, MAX_NSTART),
  maxLatency: duration('non-negative'),
  processingDelay: duration('non-negative'),
  nonTimeout: duration('positive'),
  separateResponseTimeout: duration('positive'),
};

const DERIVED = new Set(['maxTransmitSpan', 'maxTransmitWait', 'exchangeLifetime', 'nonLifetime']);

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === undefined) return String(value);
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function invalid(field: string, message: string): CoapArgumentError {
  return new CoapArgumentError(`${field} ${message}`, { field });
}

/**
 * Fills in defaults and checks every value, given and derived. Later layers override earlier ones (the context's
 * parameters, then the session's). Throws {@link CoapArgumentError} naming the field (`'transmission.ackTimeout'`)
 * for a value of the wrong type or range, an unknown key, or parameters whose derived timers (the last
 * retransmission wait, MAX_TRANSMIT_WAIT, EXCHANGE_LIFETIME, NON_LIFETIME) exceed {@link MAX_TIMER_DELAY}.
 */
export function resolveTransmissionParameters(...layers: (Partial<TransmissionParameters> | undefined)[]): TransmissionParameters {
  const merged: Partial<TransmissionParameters> = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) {
      throw invalid('transmission', `must be an object of transmission parameters, got ${describeValue(layer)}`);
    }
    for (const key of Object.keys(layer)) {
      const value = (layer as Record<string, unknown>)[key];
      const field = `transmission.${key}`;
      const check = Object.hasOwn(CHECKS, key) ? CHECKS[key as keyof TransmissionParameters] : undefined;
      if (check === undefined) {
        throw invalid(field, DERIVED.has(key) ? 'is derived from the other parameters (RFC 7252 §4.8.2) and cannot be set' : 'is not a transmission parameter');
      }
      if (value === undefined) continue;
      const problem = check(value);
      if (problem !== undefined) throw invalid(field, `${problem}, got ${describeValue(value)}`);
      (merged as Record<string, unknown>)[key] = value;
    }
  }
  const params = withDerivedDefaults(merged);
  // The timers the message layer actually starts: the last retransmission wait (the initial timeout at its
  // maximum, doubled MAX_RETRANSMIT times, RFC 7252 §4.2), and the derived lifetimes (§4.8.2) for dedup and MIDs.
  const inputs = 'ackTimeout, ackRandomFactor, maxRetransmit, maxLatency and processingDelay';
  const derived: [string, number][] = [
    ['the last retransmission timeout (ackTimeout * ackRandomFactor * 2^maxRetransmit)', params.ackTimeout * params.ackRandomFactor * 2 ** params.maxRetransmit],
    ['MAX_TRANSMIT_WAIT', maxTransmitWait(params)],
    ['EXCHANGE_LIFETIME', exchangeLifetime(params)],
    ['NON_LIFETIME', nonLifetime(params)],
  ];
  for (const [name, value] of derived) {
    if (!(value <= MAX_TIMER_DELAY)) {
      throw invalid('transmission', `parameters give ${name} of ${value} ms, more than the ${MAX_TIMER_DELAY} ms a timer can wait: lower ${inputs}`);
    }
  }
  return params;
}

function withDerivedDefaults(partial: Partial<TransmissionParameters>): TransmissionParameters {
  const ackTimeout = partial.ackTimeout ?? 2000;
  const ackRandomFactor = partial.ackRandomFactor ?? 1.5;
  const maxRetransmit = partial.maxRetransmit ?? 4;
  const maxLatency = partial.maxLatency ?? 100_000;
  const processingDelay = partial.processingDelay ?? ackTimeout;
  const base = { ackTimeout, ackRandomFactor, maxRetransmit, maxLatency, processingDelay };
  return {
    ...base,
    nstart: partial.nstart ?? 1,
    nonTimeout: partial.nonTimeout ?? nonLifetime(base),
    separateResponseTimeout: partial.separateResponseTimeout ?? exchangeLifetime(base),
  };
}

/** The parameters the derived values depend on. */
export type BaseTransmissionParameters = Pick<TransmissionParameters, 'ackTimeout' | 'ackRandomFactor' | 'maxRetransmit' | 'maxLatency' | 'processingDelay'>;

/** MAX_TRANSMIT_SPAN = ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR (45 s by default). */
export function maxTransmitSpan(p: BaseTransmissionParameters): number {
  return p.ackTimeout * (2 ** p.maxRetransmit - 1) * p.ackRandomFactor;
}

/** MAX_TRANSMIT_WAIT = ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR (93 s by default). */
export function maxTransmitWait(p: BaseTransmissionParameters): number {
  return p.ackTimeout * (2 ** (p.maxRetransmit + 1) - 1) * p.ackRandomFactor;
}

/** EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY (247 s by default). */
export function exchangeLifetime(p: BaseTransmissionParameters): number {
  return maxTransmitSpan(p) + 2 * p.maxLatency + p.processingDelay;
}

/** NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s by default). */
export function nonLifetime(p: BaseTransmissionParameters): number {
  return maxTransmitSpan(p) + p.maxLatency;
}
