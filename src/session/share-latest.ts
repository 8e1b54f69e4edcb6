/**
 * Multicasts one observation to every subscriber of the same target (what `share({ connector: () => new
 * ReplaySubject(1) })` does, for the one case sessions need): the first subscriber connects, a late one gets
 * the latest value at once, the last one to leave disconnects (which deregisters), and an error or completion
 * reaches everyone and resets. Written out because every notification passes here and rxjs's ReplaySubject
 * trims its buffer with an allocation per value.
 */
import { Observable, type Subscriber, type Subscription } from 'rxjs';

/** Shares `source` among subscribers with replay of the latest value; `onReset` runs when it disconnects. */
export function shareLatest<T>(source: Observable<T>, onReset: () => void): Observable<T> {
  /** Copy-on-write: a value in flight iterates over the array that was current when it started. */
  let subscribers: Subscriber<T>[] = [];
  let connection: Subscription | undefined;
  let connecting = false;
  /** Bumped whenever the connection ends, so a late error/complete of an old one is ignored. */
  let generations = 0;
  let hasLatest = false;
  let latest: T | undefined;

  const reset = (): Subscriber<T>[] => {
    const current = subscribers;
    subscribers = [];
    connection = undefined;
    hasLatest = false;
    latest = undefined;
    onReset();
    return current;
  };

  return new Observable<T>((subscriber) => {
    subscribers = [...subscribers, subscriber];
    if (hasLatest) subscriber.next(latest as T);
    if (connection === undefined) {
      // The source may end synchronously, inside subscribe: handlers check the generation, not the Subscription.
      const generation = ++generations;
      connecting = true;
      const opened = source.subscribe({
        next(value) {
          if (generation !== generations) return;
          latest = value;
          hasLatest = true;
          const current = subscribers;
          for (let i = 0; i < current.length; i++) current[i].next(value);
        },
        error(error) {
          if (generation !== generations) return;
          generations++;
          for (const each of reset()) each.error(error);
        },
        complete() {
          if (generation !== generations) return;
          generations++;
          for (const each of reset()) each.complete();
        },
      });
      connecting = false;
      if (generation === generations) connection = opened;
      else opened.unsubscribe(); // ended (or everyone left) while connecting
    }
    return () => {
      const index = subscribers.indexOf(subscriber);
      if (index < 0) return;
      subscribers = subscribers.filter((each) => each !== subscriber);
      if (subscribers.length === 0 && (connection !== undefined || connecting)) {
        const closing = connection;
        generations++;
        reset();
        closing?.unsubscribe();
      }
    };
  });
}
