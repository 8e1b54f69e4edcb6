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

/** Fills in defaults and checks ranges. */
export function resolveTransmissionParameters(...layers: (Partial<TransmissionParameters> | undefined)[]): TransmissionParameters {
  const merged: Partial<TransmissionParameters> = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  const params = withDerivedDefaults(merged);
  if (!(params.ackTimeout > 0)) throw new CoapArgumentError(`ackTimeout must be positive, got ${params.ackTimeout}`);
  if (!(params.ackRandomFactor >= 1)) throw new CoapArgumentError(`ackRandomFactor must be at least 1, got ${params.ackRandomFactor}`);
  if (!Number.isInteger(params.maxRetransmit) || params.maxRetransmit < 0 || params.maxRetransmit > 20) {
    throw new CoapArgumentError(`maxRetransmit must be an integer in 0..20, got ${params.maxRetransmit}`);
  }
  if (!Number.isInteger(params.nstart) || params.nstart < 1) throw new CoapArgumentError(`nstart must be a positive integer, got ${params.nstart}`);
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
