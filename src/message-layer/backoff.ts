/**
 * The CON retransmission schedule (RFC 7252 §4.2), as a pure function of the parameters and a random source.
 */
import type { TransmissionParameters } from './transmission-params';

/**
 * Waits after each transmission of a CON: `delays[i]` is the time from transmission `i` (0 = first) to the
 * next one, or, for the last entry, to giving up. There are `maxRetransmit + 1` entries.
 *
 * RFC 7252 §4.2: the first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] and doubles
 * after each retransmission; after MAX_RETRANSMIT retransmissions the last timeout ends the attempt.
 * @param random - uniform in [0, 1); jitter source
 */
export function retransmissionDelays(params: Pick<TransmissionParameters, 'ackTimeout' | 'ackRandomFactor' | 'maxRetransmit'>, random: () => number): number[] {
  const initial = params.ackTimeout * (1 + random() * (params.ackRandomFactor - 1));
  const delays: number[] = [];
  for (let i = 0; i <= params.maxRetransmit; i++) delays.push(initial * 2 ** i);
  return delays;
}
