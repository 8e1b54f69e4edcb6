/**
 * `reobserveOnError(policy)`: keeps an observation alive. An observation ends when the server sends a non-2.xx
 * notification (RFC 7641 §3.2: the server removed us) or when the connection is lost; `retry()` alone never
 * registers again after the first, because the 4.xx/5.xx arrives as a value and the Observable completes. This
 * operator takes both as failures and subscribes to the source again after a back-off delay on the scheduler,
 * which for `session.observe()` (cold) sends a new registration. The back-off starts over after a 2.xx.
 *
 *   registration --> 2.05 Observe:1 --> 2.05 Observe:2 --> 5.03 (ended)
 *                                                            | wait initialDelay
 *   registration --> 5.03 (ended) -- wait 2 x initialDelay --> registration --> 2.05 Observe:1 ...
 */
import { asyncScheduler, Observable, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { CoapError } from '../errors';
import type { CoapResponse } from '../exchange/response';
import { exponentialBackoff } from '../message-layer/backoff';
import { checkBackoff, checkOptionalFunction, checkRecord, invalidArgument } from '../validate';
import { responseError } from './throw-on-error-code';

/** How {@link reobserveOnError} registers again. */
export interface ReobservePolicy {
  /** Delay before the first re-registration, in milliseconds; doubled per failure in a row. @defaultValue 1000 */
  readonly initialDelay?: number;
  /** Longest delay, in milliseconds. @defaultValue 30000 */
  readonly maxDelay?: number;
  /**
   * Re-registrations in a row without a 2.xx before giving up: the Observable then errors, with
   * `CoapResponseError` for an error code (as `throwOnErrorCode()` does) or with the connection's error.
   * @defaultValue unlimited
   */
  readonly maxAttempts?: number;
  /** Where the back-off timers run (a TestScheduler in tests). @defaultValue the rxjs async scheduler */
  readonly scheduler?: SchedulerLike;
  /**
   * Which errors of the source register again. @defaultValue a lost or failed connection: `CoapTransportError`,
   * `CoapTimeoutError`, `CoapResetError`, `CoapDtlsError`, `CoapTlsError` (not a released session or a bad argument)
   */
  readonly reobserveOn?: (error: unknown) => boolean;
  /** Told before each wait: why (the non-2.xx response or the error), the attempt (1, 2, ...) and the delay. */
  readonly onReobserve?: (reason: CoapResponse | unknown, attempt: number, delay: number) => void;
}

const CONNECTION_ERRORS: ReadonlySet<CoapError['code']> = new Set(['COAP_ERR_TRANSPORT', 'COAP_ERR_TIMEOUT', 'COAP_ERR_RESET', 'COAP_ERR_DTLS', 'COAP_ERR_TLS']);

/** The default `reobserveOn`: a lost or failed connection. */
export function isConnectionError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && CONNECTION_ERRORS.has((error as { code?: unknown }).code as CoapError['code']);
}

/**
 * Re-registers an observation that a non-2.xx notification or a lost connection ended; 2.xx notifications pass
 * through and the non-2.xx ones are not emitted. Place it right after `session.observe()`, before operators that
 * share (`shareReplay`), so that each re-registration is one new subscription of the session's observation.
 * @example `session.observe('/temp').pipe(reobserveOnError({ initialDelay: 1000, maxDelay: 60_000 }))`
 */
export function reobserveOnError(policy: ReobservePolicy = {}): MonoTypeOperatorFunction<CoapResponse> {
  const given: unknown = policy; // checked as what a caller may pass at run time
  checkRecord(given, 'policy');
  checkBackoff(given, 'policy');
  checkOptionalFunction(policy.reobserveOn, 'policy.reobserveOn');
  checkOptionalFunction(policy.onReobserve, 'policy.onReobserve');
  const custom = policy.scheduler as Partial<SchedulerLike> | undefined;
  if (custom !== undefined && (typeof custom.schedule !== 'function' || typeof custom.now !== 'function')) {
    throw invalidArgument('policy.scheduler', 'must be an rxjs SchedulerLike (with now() and schedule())', custom);
  }
  const initialDelay = policy.initialDelay ?? 1000;
  const maxDelay = policy.maxDelay ?? 30_000;
  const maxAttempts = policy.maxAttempts ?? Infinity;
  const scheduler = policy.scheduler ?? asyncScheduler;
  const reobserveOn = policy.reobserveOn ?? isConnectionError;
  const onReobserve = policy.onReobserve;
  return (source) =>
    new Observable<CoapResponse>((subscriber) => {
      let failures = 0;
      let inner: Subscription | undefined;
      let timer: Subscription | undefined;

      const failed = (reason: unknown, response: CoapResponse | undefined): void => {
        if (failures >= maxAttempts) {
          subscriber.error(response !== undefined ? responseError(response) : reason);
          return;
        }
        failures++;
        const delay = exponentialBackoff(failures, initialDelay, maxDelay);
        try {
          onReobserve?.(reason, failures, delay);
        } catch (error) {
          subscriber.error(error);
          return;
        }
        if (subscriber.closed) return;
        timer = scheduler.schedule(() => {
          timer = undefined;
          observe();
        }, delay);
      };

      const observe = (): void => {
        let ended = false;
        const subscription = source.subscribe({
          next(response) {
            if (ended) return;
            if (response.ok) {
              failures = 0;
              subscriber.next(response);
              return;
            }
            // RFC 7641 §3.2: an error code removes us from the observers; the engine has ended it already, so
            // leaving sends no deregistration.
            ended = true;
            inner?.unsubscribe();
            inner = undefined;
            failed(response, response);
          },
          error(error) {
            if (ended) return;
            ended = true;
            inner = undefined;
            let again: boolean;
            try {
              again = reobserveOn(error);
            } catch (callbackError) {
              subscriber.error(callbackError);
              return;
            }
            if (again) failed(error, undefined);
            else subscriber.error(error);
          },
          complete() {
            if (ended) return;
            ended = true;
            inner = undefined;
            subscriber.complete();
          },
        });
        if (ended) subscription.unsubscribe();
        else inner = subscription;
      };

      observe();
      return () => {
        timer?.unsubscribe();
        inner?.unsubscribe();
      };
    });
}
