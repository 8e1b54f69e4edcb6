/**
 * The virtual-time scheduler of the virtual part: rxjs's `VirtualTimeScheduler`, but closer to real timers
 * where it matters for hostile input (see {@link ResilientScheduler}).
 */
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';

/**
 * A virtual-time scheduler whose flush goes on after an action throws, as real timers do (each is its own
 * macrotask), reporting the error instead of dropping every other action as rxjs's `flush()` does. Also
 * stops after `actionLimit` actions: a timer that re-arms forever is reported, not waited for.
 */
export class ResilientScheduler extends VirtualTimeScheduler {
  onActionError: (error: unknown) => void = () => undefined;
  /** Called for a delay Node's timers cannot hold (over 2^31 - 1 ms: they fire after 1 ms instead). */
  onTimerOverflow: (delay: number) => void = () => undefined;
  executed = 0;

  constructor(readonly actionLimit: number) {
    super(CheckedAction, Infinity);
  }

  /** Runs every action due up to `until` (virtual ms); returns false when the action limit stopped it. */
  flushUntil(until: number): boolean {
    const actions = this.actions;
    let action;
    while ((action = actions[0]) !== undefined && action.delay <= until) {
      if (this.executed++ >= this.actionLimit) return false;
      actions.shift();
      this.frame = action.delay;
      const error = action.execute(action.state, action.delay);
      if (error) this.onActionError(error);
    }
    return true;
  }

  override flush(): void {
    this.flushUntil(Infinity);
  }
}

/** Largest delay `setTimeout`/`setInterval` honour (rxjs's asyncScheduler uses them). */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** A virtual action that reports delays real timers would turn into 1 ms. */
class CheckedAction<T> extends VirtualAction<T> {
  override schedule(state?: T, delay = 0) {
    if (delay > MAX_TIMER_DELAY) (this.scheduler as ResilientScheduler).onTimerOverflow(delay);
    return super.schedule(state, delay);
  }
}
