/**
 * The test peer's timers. It is a server run beside the code under test, so it uses real timers (not the
 * injected scheduler of the protocol layers); every one is tracked so that `close()` leaves none behind.
 */

/** Every timeout and interval of one test peer. */
export class PeerTimers {
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #intervals = new Map<string, NodeJS.Timeout>();
  #closed = false;

  /** True after {@link PeerTimers.clearAll}: no timer runs or starts any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `work` once after `delay` milliseconds, unless cleared or closed first. */
  set(work: () => void, delay: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) work();
    }, delay);
    this.#timers.add(timer);
    return timer;
  }

  /** Cancels a timer from {@link PeerTimers.set}. */
  clear(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  /** Runs `work` every `every` milliseconds under `key`, replacing an interval of the same key. */
  interval(key: string, work: () => void, every: number): void {
    this.stopInterval(key);
    if (this.#closed) return;
    this.#intervals.set(key, setInterval(work, every));
  }

  /** Stops the interval of `key`, if any. */
  stopInterval(key: string): void {
    const interval = this.#intervals.get(key);
    if (interval === undefined) return;
    clearInterval(interval);
    this.#intervals.delete(key);
  }

  /** Cancels everything, for good. */
  clearAll(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const interval of this.#intervals.values()) clearInterval(interval);
    this.#intervals.clear();
  }
}
