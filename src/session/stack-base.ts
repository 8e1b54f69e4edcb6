/**
 * What both stacks are besides their protocol: the list of their failure watchers (the exchanges to fail when the
 * connection is lost) and the subscriber of their transport's frames. A base class, not two fields: a request
 * watches and unwatches the stack itself, and a frame reaches `next` with no call in between.
 *
 * The subscriber part has the shape of an rxjs Subscriber (`next`/`error`/`complete`, `closed`/`add`/`remove`/
 * `unsubscribe`), which rxjs takes as it is instead of wrapping it in two more objects (three calls per frame),
 * without subclassing `Subscriber` (internal in rxjs 8). Should a later rxjs not recognise the shape, it wraps it as
 * any observer: it works the same.
 */
import type { TeardownLogic } from 'rxjs';
import { FailureWatchers } from './failure-watchers';

/** Failure watchers and the Subscriber shape of a stack; the stack adds `next`. */
export abstract class StackBase extends FailureWatchers {
  /** Subscriber shape: true once unsubscribed. */
  closed = false;
  /** The teardown of the frames subscription. */
  #teardown: TeardownLogic = undefined;

  /** @internal Subscriber shape: keeps the frames subscription's teardown. */
  add(teardown: TeardownLogic): void {
    if (teardown === undefined || teardown === null) return;
    if (this.closed) runTeardown(teardown);
    else if (this.#teardown === undefined) this.#teardown = teardown;
    else {
      const previous = this.#teardown;
      this.#teardown = () => {
        runTeardown(previous);
        runTeardown(teardown);
      };
    }
  }

  /** @internal Subscriber shape. */
  remove(): void {}

  /** The transport ended its frames: the connection is gone (its factory reports why). */
  complete(): void {
    this.unsubscribe();
  }

  error(): void {
    this.unsubscribe();
  }

  /** @internal Stops receiving frames. */
  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    const teardown = this.#teardown;
    this.#teardown = undefined;
    if (teardown !== undefined) runTeardown(teardown);
  }
}

function runTeardown(teardown: TeardownLogic): void {
  if (typeof teardown === 'function') teardown();
  else if (teardown !== undefined && teardown !== null) teardown.unsubscribe();
}
