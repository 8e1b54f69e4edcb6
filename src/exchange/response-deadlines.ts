/**
 * The response deadlines of one stack: requests that were sent (reliable transports, NON) or acknowledged with an
 * empty ACK (RFC 7252 §5.2.2) wait for their response, and fail when it does not come in time. One timer per
 * queue instead of one per request (a request stream over TCP would otherwise set and clear a timer per
 * request): every entry of a queue waits equally long, so deadlines come in the order requests were added, and
 * the timer, armed for the earliest, is never cancelled early; when it fires it ends what expired and re-arms for
 * what is left. Answered requests leave the queue when they reach its head.
 */
import type { SchedulerLike, Subscription } from 'rxjs';

/** A request waiting for its response. */
export interface ResponseWaiter {
  /** `scheduler.now()` at which it gives up. */
  readonly responseDeadline: number;
  /** False once answered or cancelled. */
  readonly waitingForResponse: boolean;
  /** The deadline passed: fail. */
  responseTimedOut(): void;
}

/** Compact the array once this many answered entries sit before the head. */
const COMPACT_AT = 1024;

/** One queue of equal waits. */
export class ResponseDeadlines {
  readonly #scheduler: SchedulerLike;
  #queue: ResponseWaiter[] = [];
  #head = 0;
  #timer: Subscription | undefined;
  #closed = false;
  #expiring = false;

  constructor(scheduler: SchedulerLike) {
    this.#scheduler = scheduler;
  }

  /** Adds `waiter`; its deadline must not be earlier than that of any waiter added before. */
  add(waiter: ResponseWaiter): void {
    if (this.#closed) return;
    if (!this.#expiring && this.#queue.length > 0) this.#dropAnswered();
    this.#queue.push(waiter);
    // While expiring (a timed-out request's error handler sent a new one) the end of #expire arms the timer.
    if (this.#timer === undefined && !this.#expiring) this.#arm(waiter.responseDeadline);
  }

  /** A waiter was answered or cancelled: drops the answered ones at the head. */
  settle(): void {
    if (this.#expiring) return;
    const queue = this.#queue;
    // One waiter, answered (a lockstep client): empty the queue here, without the walk.
    if (queue.length === 1 && !queue[0].waitingForResponse) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    this.#dropAnswered();
  }

  /** Stops the timer and forgets every waiter (the connection is gone; they fail another way). */
  close(): void {
    this.#closed = true;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
  }

  #arm(deadline: number): void {
    this.#timer = this.#scheduler.schedule(() => this.#expire(), Math.max(0, deadline - this.#scheduler.now()));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#scheduler.now();
    // A timed-out waiter's error handlers run here and may settle or add: the queue is only walked, not
    // compacted, until the walk is done.
    this.#expiring = true;
    try {
      while (this.#head < this.#queue.length) {
        const waiter = this.#queue[this.#head];
        if (waiter.waitingForResponse) {
          if (waiter.responseDeadline > now) break;
          this.#head++;
          waiter.responseTimedOut();
        } else this.#head++;
      }
    } finally {
      this.#expiring = false;
    }
    if (this.#closed) return;
    this.#dropAnswered();
    if (this.#timer === undefined && this.#head < this.#queue.length) this.#arm(this.#queue[this.#head].responseDeadline);
  }

  /** Moves the head past answered waiters; compacts when many sit before it (no object kept 247 s after use). */
  #dropAnswered(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && !queue[this.#head].waitingForResponse) this.#head++;
    if (this.#head === queue.length) {
      if (queue.length > 0) {
        this.#queue = [];
        this.#head = 0;
      }
    } else if (this.#head >= COMPACT_AT) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
