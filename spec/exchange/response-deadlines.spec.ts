/** One timer per queue of equal waits (virtual time). */
import { TestScheduler } from 'rxjs/testing';
import { ResponseDeadlines, type ResponseWaiter } from '../../src/exchange/response-deadlines';

function waiter(deadline: number, log: string[], name: string): ResponseWaiter & { answer(): void } {
  let waiting = true;
  return {
    responseDeadline: deadline,
    get waitingForResponse() {
      return waiting;
    },
    responseTimedOut() {
      waiting = false;
      log.push(name);
    },
    answer() {
      waiting = false;
    },
  };
}

describe('ResponseDeadlines', () => {
  it('times out the waiters not answered, in order, each at its deadline, with one timer at a time', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const timers: number[] = [];
    const schedule = scheduler.schedule.bind(scheduler);
    scheduler.schedule = ((work: never, delay?: number, state?: never) => {
      timers.push(scheduler.now() + (delay ?? 0));
      return schedule(work, delay, state);
    }) as typeof scheduler.schedule;
    const log: string[] = [];
    const deadlines = new ResponseDeadlines(scheduler);
    scheduler.run(({ flush }) => {
      const a = waiter(1000, log, 'a');
      const b = waiter(1500, log, 'b');
      const c = waiter(2000, log, 'c');
      deadlines.add(a);
      deadlines.add(b);
      deadlines.add(c);
      b.answer();
      deadlines.settle();
      const at: Record<string, number> = {};
      scheduler.schedule(() => (at.after1000 = log.length), 1001);
      flush();
      expect(log).toEqual(['a', 'c']);
      expect(at.after1000).toBe(1);
    });
    // armed for a (1000), then straight for c (2000): answered b needs no timer of its own
    expect(timers.filter((t) => t !== 1001)).toEqual([1000, 2000]);
  });

  it('keeps nothing once every waiter is answered, and close() stops the timer', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const log: string[] = [];
    const deadlines = new ResponseDeadlines(scheduler);
    scheduler.run(({ flush }) => {
      const a = waiter(1000, log, 'a');
      deadlines.add(a);
      a.answer();
      deadlines.settle();
      const b = waiter(1200, log, 'b');
      deadlines.add(b);
      deadlines.close();
      flush();
      expect(log).toEqual([]);
    });
  });

  it('keeps the next waiter when a timed-out one settles and adds a new one from its error handler (found by npm run fuzz)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const log: string[] = [];
    const deadlines = new ResponseDeadlines(scheduler);
    const at: Record<string, number> = {};
    scheduler.run(({ flush }) => {
      const a: ResponseWaiter = {
        responseDeadline: 300,
        get waitingForResponse() {
          return !('a' in at);
        },
        responseTimedOut() {
          at.a = scheduler.now();
          deadlines.settle(); // as PendingRequest#finish does
          deadlines.add(waiter(scheduler.now() + 300, log, 'c')); // a retry from the error handler
        },
      };
      deadlines.add(a);
      scheduler.schedule(() => deadlines.add(waiter(400, log, 'b')), 100);
      scheduler.schedule(() => (at.b = log.includes('b') ? -1 : 0), 399);
      scheduler.schedule(() => (at.afterB = log.includes('b') ? scheduler.now() : -1), 401);
      flush();
    });
    expect(at.a).toBe(300);
    expect(at.afterB).toBe(401);
    expect(log).toEqual(['b', 'c']);
  });
});
