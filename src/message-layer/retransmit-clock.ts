/**
 * One wake-up for the retransmissions of every message layer on a scheduler (RFC 7252 §4.2 timeouts).
 *
 * A message layer with CONs outstanding is registered here; the clock's one timer fires no later than the
 * earliest of their deadlines, and is not cancelled when a layer's last CON is answered. It lapses by itself,
 * finds nothing due and stays unarmed until the next CON. So a request stream that runs one CON at a time (a
 * block-wise download: one request per block, each answered in microseconds) arms a timer about once per
 * ACK_TIMEOUT instead of setting and clearing one per request, and an idle session holds no timer at all (heap
 * per idle session). Deadlines stay exact: an early wake-up re-arms for the earliest deadline left, and a
 * deadline earlier than the armed one re-arms at once.
 */
import type { SchedulerLike, Subscription } from 'rxjs';

/** What the clock wakes: a message layer. */
export interface RetransmitClient {
  /**
   * Retransmits (or fails) what is due at `now`. The client is out of the clock while this runs, and
   * {@link RetransmitClock.add}s itself again for the earliest deadline it has left, if any.
   */
  retransmitDue(now: number): void;
}

export class RetransmitClock {
  readonly #scheduler: SchedulerLike;
  readonly #clients = new Set<RetransmitClient>();
  #timer: Subscription | undefined;
  #at = Infinity;

  constructor(scheduler: SchedulerLike) {
    this.#scheduler = scheduler;
  }

  /** `client` has a CON outstanding until `deadline`: the timer fires no later than that. */
  add(client: RetransmitClient, deadline: number): void {
    this.#clients.add(client);
    if (deadline < this.#at) this.#arm(deadline);
  }

  /** `client` has nothing outstanding; returns whether it had. The timer stays: it lapses by itself. */
  remove(client: RetransmitClient): boolean {
    return this.#clients.delete(client);
  }

  /** `client` is closed: forgotten, and with nobody left the timer stops (a freed context leaves no timer). */
  close(client: RetransmitClient): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0) {
      this.#timer?.unsubscribe();
      this.#timer = undefined;
      this.#at = Infinity;
    }
  }

  #arm(deadline: number): void {
    this.#timer?.unsubscribe();
    this.#at = deadline;
    this.#timer = this.#scheduler.schedule(() => this.#fire(), Math.max(0, deadline - this.#scheduler.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#at = Infinity;
    const now = this.#scheduler.now();
    // Every client leaves and adds itself back for what it has left, which arms the timer for the earliest of
    // those deadlines. A copy: a client's callbacks may start or end CONs of other clients too.
    for (const client of [...this.#clients]) {
      this.#clients.delete(client);
      client.retransmitDue(now);
    }
  }
}

/** One clock per scheduler (the injected one in tests, asyncScheduler otherwise). */
const clocks = new WeakMap<SchedulerLike, RetransmitClock>();

export function retransmitClock(scheduler: SchedulerLike): RetransmitClock {
  let clock = clocks.get(scheduler);
  if (clock === undefined) clocks.set(scheduler, (clock = new RetransmitClock(scheduler)));
  return clock;
}
