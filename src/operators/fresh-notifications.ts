/**
 * `freshNotifications()`: RFC 7641 §3.4 ordering for notifications that come from somewhere other than one
 * `session.observe()` (which orders its own): merged sources, a proxy, a replay. A notification whose Observe
 * number is not newer than the last one delivered is dropped, with the same rule the observe engine uses
 * (`isFresher`, src/exchange/observe-freshness.ts): 24-bit numbers that wrap, any number accepted after 128 s.
 */
import { asyncScheduler, Observable, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { isFresher } from '../exchange/observe-freshness';
import type { CoapResponse } from '../exchange/response';

/** Options of {@link freshNotifications}. */
export interface FreshNotificationsOptions<T> {
  /** Where time comes from (a TestScheduler in tests). @defaultValue the rxjs async scheduler */
  readonly scheduler?: SchedulerLike;
  /** Orders each key on its own (e.g. `(r) => tokenToHex(r.token)` for several observations). @defaultValue one order */
  readonly key?: (notification: T) => string;
}

/**
 * Drops stale notifications (RFC 7641 §3.4). Responses without an Observe option (a final response, a
 * registration the server declined) pass through.
 * @example `merge(a$, b$).pipe(freshNotifications({ scheduler }))`
 */
export function freshNotifications<T extends Pick<CoapResponse, 'observe'>>(options: FreshNotificationsOptions<T> = {}): MonoTypeOperatorFunction<T> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const key = options.key;
  return (source) =>
    new Observable<T>((subscriber) => {
      // The last delivered Observe number and when it came, per key.
      const last = new Map<string, { sequence: number; at: number }>();
      return source.subscribe({
        next(notification) {
          let sequence: number | undefined;
          let id = '';
          try {
            sequence = notification.observe;
            if (key !== undefined && sequence !== undefined) id = key(notification);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          if (sequence === undefined) {
            subscriber.next(notification);
            return;
          }
          const now = scheduler.now();
          const previous = last.get(id);
          if (previous !== undefined && !isFresher(previous.sequence, sequence, previous.at, now)) return;
          last.set(id, { sequence, at: now });
          subscriber.next(notification);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}
