/**
 * The exchanges to fail when a stack fails (connection lost, session closed), shared by both stacks. An
 * intrusive list: the links are fields of the watchers themselves, so watching and unwatching allocate nothing
 * and touch no hash table (a Set of 0..32 requests rehashes every few add/delete cycles).
 *
 *   head ──► watcher ⇄ watcher ⇄ watcher ◄── tail      (oldest first: they fail in the order they watched)
 */

/** Something to fail when the stack fails. */
export interface FailureWatcher {
  stackFailed(error: unknown): void;
  /**
   * The list's links, owned by {@link FailureWatchers}: create a watcher with both null and leave them alone.
   * A watcher is on at most one stack's list at a time.
   */
  previousWatcher: FailureWatcher | null;
  nextWatcher: FailureWatcher | null;
}

/** A watcher that calls `stackFailed` (for callers without an object of their own to make one). */
export function failureWatcher(stackFailed: (error: unknown) => void): FailureWatcher {
  return { stackFailed, previousWatcher: null, nextWatcher: null };
}

/** Watchers of one stack, and whether (and why) it failed. */
export class FailureWatchers {
  #head: FailureWatcher | null = null;
  #tail: FailureWatcher | null = null;
  #failure: { error: unknown } | undefined;

  /** True once {@link FailureWatchers.failWatchers} ran. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Registers `watcher` (once: a second call changes nothing); fails it at once when the stack already failed. */
  watch(watcher: FailureWatcher): void {
    if (this.#failure !== undefined) {
      watcher.stackFailed(this.#failure.error);
      return;
    }
    if (watcher.previousWatcher !== null || this.#head === watcher) return;
    const tail = this.#tail;
    watcher.previousWatcher = tail;
    watcher.nextWatcher = null;
    if (tail === null) this.#head = watcher;
    else tail.nextWatcher = watcher;
    this.#tail = watcher;
  }

  /** Unregisters `watcher`; nothing happens when it is not registered, or once the stack failed. */
  unwatch(watcher: FailureWatcher): void {
    const previous = watcher.previousWatcher;
    const next = watcher.nextWatcher;
    if (previous === null) {
      // Not on this list (never watched, unwatched, or failing already: fail() walks the list as it was).
      if (this.#head !== watcher) return;
      this.#head = next;
    } else if (this.#failure !== undefined) return;
    else previous.nextWatcher = next;
    if (next === null) this.#tail = previous;
    else next.previousWatcher = previous;
    watcher.previousWatcher = null;
    watcher.nextWatcher = null;
  }

  /**
   * Fails every watcher once, with `error`, oldest first; returns false when already failed. Unwatching is a
   * no-op from now on, so a watcher that unwatches another while failing does not keep that one from failing.
   */
  failWatchers(error: unknown): boolean {
    if (this.#failure !== undefined) return false;
    this.#failure = { error };
    let watcher = this.#head;
    this.#head = null;
    this.#tail = null;
    while (watcher !== null) {
      const next: FailureWatcher | null = watcher.nextWatcher;
      watcher.previousWatcher = null;
      watcher.nextWatcher = null;
      watcher.stackFailed(error);
      watcher = next;
    }
    return true;
  }
}
