/**
 * rxjs reports an error thrown inside a subscriber's callback with `setTimeout(() => { throw error })`
 * (`reportUnhandledError`): an uncaught exception one tick later, when the input that caused it is long gone.
 * While {@link captureRxjsReports} is active, those reports are queued instead and {@link RxjsReports.drain}
 * throws them at once, right after the input, so the virtual part charges each uncaught exception to the
 * datagram that caused it. (`TestScheduler.run` hooks the same `timeoutProvider` for the same reason.)
 */

interface TimeoutProvider {
  delegate: { setTimeout(handler: () => void, timeout?: number): unknown; clearTimeout(handle: unknown): void } | undefined;
}

/** Queued rxjs error reports (see the file comment). */
export interface RxjsReports {
  /** Runs the queued reports; each one that throws (all do, unless `config.onUnhandledError` is set) is passed to `onError`. */
  drain(onError: (error: unknown) => void): void;
  /** Restores rxjs's own timer. */
  restore(): void;
}

/** Queues rxjs's error reports until drained (for synchronous, in-process runs). */
export function captureRxjsReports(): RxjsReports {
  // rxjs's internal hook (as TestScheduler uses it); the package exports `./internal/*`.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { timeoutProvider } = require('rxjs/internal/scheduler/timeoutProvider') as { timeoutProvider: TimeoutProvider };
  const previous = timeoutProvider.delegate;
  let queue: (() => void)[] = [];
  timeoutProvider.delegate = {
    setTimeout(handler) {
      queue.push(handler);
      return queue.length;
    },
    clearTimeout() {
      // reportUnhandledError never clears its timer
    },
  };
  return {
    drain(onError) {
      while (queue.length > 0) {
        const handlers = queue;
        queue = [];
        for (const handler of handlers) {
          try {
            handler();
          } catch (error) {
            onError(error);
          }
        }
      }
    },
    restore() {
      timeoutProvider.delegate = previous;
      const left = queue;
      queue = [];
      for (const handler of left) setTimeout(handler, 0);
    },
  };
}
