/**
 * The CON retransmission schedule (RFC 7252 §4.2), as a pure function of the parameters and a random source.
 */
import type { TransmissionParameters } from './transmission-params';

/**
 * RFC 7252 §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] and doubles
 * after each retransmission; after MAX_RETRANSMIT retransmissions the last timeout ends the attempt.
 * @param random - uniform in [0, 1); jitter source
 */
export function initialTimeout(params: Pick<TransmissionParameters, 'ackTimeout' | 'ackRandomFactor'>, random: () => number): number {
  return params.ackTimeout * (1 + random() * (params.ackRandomFactor - 1));
}

/**
 * The delay before attempt `attempt` (1, 2, ...) of something tried again with exponential back-off: `initialDelay`,
 * doubled per attempt, at most `maxDelay` (reconnects, re-registrations). In milliseconds.
 */
export function exponentialBackoff(attempt: number, initialDelay: number, maxDelay: number): number {
  return Math.min(initialDelay * 2 ** (attempt - 1), maxDelay);
}
