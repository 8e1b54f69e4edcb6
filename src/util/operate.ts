/**
 * Guarded subscription helper (rxjs OperatorSubscriber style): a throw inside a `next` or `complete`
 * handler goes to `subscriber.error` instead of rxjs's `reportUnhandledError`, which would crash Node.
 */
import type { Observable, Subscriber, Subscription } from 'rxjs';

/** Subscribes to `source` on behalf of `subscriber`, routing throws from the handlers to `subscriber.error`. */
export function subscribeGuarded<T>(
  source: Observable<T>,
  subscriber: Subscriber<unknown>,
  handlers: { next: (value: T) => void; complete?: () => void; error?: (error: unknown) => void },
): Subscription {
  return source.subscribe({
    next(value) {
      try {
        handlers.next(value);
      } catch (error) {
        subscriber.error(error);
      }
    },
    error(error) {
      if (handlers.error === undefined) subscriber.error(error);
      else {
        try {
          handlers.error(error);
        } catch (inner) {
          subscriber.error(inner);
        }
      }
    },
    complete() {
      if (handlers.complete === undefined) subscriber.complete();
      else {
        try {
          handlers.complete();
        } catch (error) {
          subscriber.error(error);
        }
      }
    },
  });
}
