/**
 * CON retransmission (RFC 7252 §4.2) as a cold Observable, written like rxjs `timeout()`: config with defaults,
 * per-subscription closure state, every timer from the scheduler and cancelled by teardown.
 */
import { Observable, type SchedulerLike } from 'rxjs';
import { CoapTimeoutError, type PeerAddress } from '../errors';
import { retransmissionDelays } from './backoff';
import type { TransmissionParameters } from './transmission-params';

/** What {@link retransmit} needs. */
export interface RetransmitConfig {
  /** Sends the CON once more (the same bytes each time: same MID). */
  readonly send: () => void;
  readonly params: Pick<TransmissionParameters, 'ackTimeout' | 'ackRandomFactor' | 'maxRetransmit'>;
  readonly scheduler: SchedulerLike;
  /** Jitter source, uniform in [0, 1). */
  readonly random: () => number;
  /** Context for the timeout error. */
  readonly info?: { peer?: PeerAddress; token?: string; messageId?: number };
}

/**
 * Sends at subscribe, then again after each backoff delay; emits the retransmission number (1..maxRetransmit)
 * after each retransmission, and errors with {@link CoapTimeoutError} when the last wait runs out
 * (62 s with the default parameters and the smallest jitter, 93 s = MAX_TRANSMIT_WAIT with the largest).
 * Unsubscribe (ACK, RST or cancellation) stops it.
 */
export function retransmit(config: RetransmitConfig): Observable<number> {
  return new Observable<number>((subscriber) => {
    const { send, scheduler } = config;
    const delays = retransmissionDelays(config.params, config.random);
    const started = scheduler.now();
    let attempt = 0;
    send();
    const arm = (): void => {
      subscriber.add(
        scheduler.schedule(() => {
          if (attempt === delays.length - 1) {
            subscriber.error(
              new CoapTimeoutError(`no acknowledgement after ${attempt + 1} transmissions`, {
                ...config.info,
                attempts: attempt + 1,
                elapsed: scheduler.now() - started,
              }),
            );
            return;
          }
          attempt++;
          send();
          subscriber.next(attempt);
          arm();
        }, delays[attempt]),
      );
    };
    arm();
  });
}
