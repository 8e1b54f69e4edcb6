/**
 * NSTART (RFC 7252 §4.7): at most `limit` outstanding interactions with one peer; further ones wait in FIFO
 * order and start as slots free up. Like ws's `limiter.js`, but as an Observable wrapper: a slot is held from
 * subscription until the wrapped Observable completes, errors or is unsubscribed.
 */
import { Observable, type Subscription } from 'rxjs';

/** Limits concurrently running Observables. */
export class NstartLimiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Outstanding interactions now. */
  get active(): number {
    return this.#active;
  }

  /** Interactions waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Wraps `work` so it starts only when a slot is free. */
  run<T>(work: Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let inner: Subscription | undefined;
      let holding = false;
      const start = (): void => {
        holding = true;
        this.#active++;
        inner = work.subscribe(subscriber);
      };
      if (this.#active < this.#limit) start();
      else this.#waiting.push(start);
      return () => {
        if (holding) {
          inner?.unsubscribe();
          this.#active--;
          this.#drain();
        } else {
          const index = this.#waiting.indexOf(start);
          if (index >= 0) this.#waiting.splice(index, 1);
        }
      };
    });
  }

  #drain(): void {
    while (this.#active < this.#limit && this.#waiting.length > 0) this.#waiting.shift()!();
  }
}
