/**
 * The exchanges to fail when a stack fails (connection lost, session closed), shared by both stacks. The first
 * watcher sits in a slot, further ones in a Set: one request at a time touches no hash table.
 */

/** Something to fail when the stack fails. */
export interface FailureWatcher {
  stackFailed(error: unknown): void;
}

/** Watchers of one stack, and whether (and why) it failed. */
export class FailureWatchers {
  #slot: FailureWatcher | null = null;
  #more: Set<FailureWatcher> | undefined;
  #failure: { error: unknown } | undefined;

  /** True once {@link FailureWatchers.fail} ran. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Registers `watcher`; fails it at once when the stack already failed. */
  watch(watcher: FailureWatcher): void {
    if (this.#failure !== undefined) {
      watcher.stackFailed(this.#failure.error);
      return;
    }
    if (this.#slot === null) this.#slot = watcher;
    else (this.#more ??= new Set()).add(watcher);
  }

  unwatch(watcher: FailureWatcher): void {
    if (this.#slot === watcher) this.#slot = null;
    else this.#more?.delete(watcher);
  }

  /** Drops the Set when empty (idle sessions hold no hash table). */
  compact(): void {
    if (this.#more?.size === 0) this.#more = undefined;
  }

  /** Fails every watcher once, with `error`; returns false when already failed. */
  fail(error: unknown): boolean {
    if (this.#failure !== undefined) return false;
    this.#failure = { error };
    const watchers = [...(this.#more ?? [])];
    if (this.#slot !== null) watchers.unshift(this.#slot);
    this.#slot = null;
    this.#more = undefined;
    for (const watcher of watchers) watcher.stackFailed(error);
    return true;
  }
}
