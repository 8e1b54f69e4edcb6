/**
 * The retransmission clock: one timer for every message layer on a scheduler, not one set and cleared per CON.
 * The RFC 7252 §4.2 schedule must stay exact through early wake-ups, and an idle or closed layer holds no timer.
 */
import { TestScheduler } from 'rxjs/testing';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { MessageLayer } from '../../src/message-layer/message-layer';
import { DEFAULT_TRANSMISSION } from '../../src/message-layer/transmission-params';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { Method, MessageType, createPdu } from '../../src/codec/pdu';

/** A TestScheduler that counts what is scheduled on it and how many of those are still pending. */
function countingScheduler(): { scheduler: SchedulerLike; test: TestScheduler; scheduled: () => number; pending: () => number } {
  const test = new TestScheduler((a, b) => expect(a).toEqual(b));
  let scheduled = 0;
  const live = new Set<Subscription>();
  const scheduler: SchedulerLike = {
    now: () => test.now(),
    schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
      scheduled++;
      const subscription: Subscription = test.schedule(function (this: SchedulerAction<T>, s?: T) {
        live.delete(subscription);
        work.call(this, s);
      }, delay, state);
      live.add(subscription);
      subscription.add(() => live.delete(subscription));
      return subscription;
    },
  };
  return { scheduler, test, scheduled: () => scheduled, pending: () => live.size };
}

function layerOn(scheduler: SchedulerLike, sent: { time: number; messageId: number; layer: string }[], name: string, firstMessageId: number, idle?: () => void): MessageLayer {
  return new MessageLayer({
    transport: { send: (frame) => sent.push({ time: scheduler.now(), messageId: decodeDatagram(frame).messageId, layer: name }) },
    router: { route: () => true },
    params: DEFAULT_TRANSMISSION,
    scheduler,
    random: () => 0, // first timeout exactly ACK_TIMEOUT (2 s)
    firstMessageId,
    onEvent: () => undefined,
    peer: { host: '127.0.0.1', port: 5683 },
    idleListener: idle === undefined ? undefined : { messagesIdle: idle },
  });
}

const get = { code: Method.GET, token: Uint8Array.of(1), options: [], payload: new Uint8Array(0) };
const ackFor = (messageId: number): Uint8Array => encodeDatagram(createPdu({ type: MessageType.ACK, code: 0, messageId }));
const noop = { acknowledged: () => undefined, failed: () => undefined };

describe('RetransmitClock (through MessageLayer)', () => {
  it('arms one timer for a lockstep stream of 100 CONs, each answered at once, instead of one per CON', () => {
    const { scheduler, test, scheduled } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    const layer = layerOn(scheduler, sent, 'a', 1);
    test.run(() => {
      let answered = 0;
      const next = (): void => {
        const messageId = 1 + answered;
        layer.sendConfirmable(get, {
          acknowledged: () => {
            if (++answered < 100) test.schedule(next, 1);
          },
          failed: () => undefined,
        });
        test.schedule(() => layer.receive(ackFor(messageId)), 0);
      };
      next();
      test.flush();
      expect(answered).toBe(100);
    });
    // 100 CONs within 200 ms: one wake-up armed (it lapsed at 2 s and found nothing); the steps of the test
    // itself go to the TestScheduler directly.
    expect(scheduled()).toBe(1);
    expect(sent).toHaveLength(100); // and nothing retransmitted
  });

  it('keeps the schedule exact after an early wake-up: a CON sent at 500 ms is retransmitted at 2.5 s, not 2 s', () => {
    const { scheduler, test } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    const layer = layerOn(scheduler, sent, 'a', 10);
    test.run(() => {
      layer.sendConfirmable(get, noop); // MID 10: deadline 2000, arms the clock
      test.schedule(() => layer.receive(ackFor(10)), 10); // answered: the clock stays armed for 2000
      test.schedule(() => layer.sendConfirmable({ ...get, token: Uint8Array.of(2) }, noop), 500); // MID 11: 2500
      test.schedule(() => layer.receive(ackFor(11)), 7000); // after two retransmissions
      test.flush();
    });
    expect(sent.map((s) => [s.time, s.messageId])).toEqual([
      [0, 10],
      [500, 11],
      [2500, 11],
      [6500, 11],
    ]);
  });

  it('serves several layers on one scheduler with one timer, each on its own schedule', () => {
    const { scheduler, test } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    const a = layerOn(scheduler, sent, 'a', 100);
    const b = layerOn(scheduler, sent, 'b', 200);
    test.run(() => {
      a.sendConfirmable(get, noop);
      test.schedule(() => b.sendConfirmable(get, noop), 300);
      test.schedule(() => a.receive(ackFor(100)), 2100); // after one retransmission
      test.schedule(() => b.receive(ackFor(200)), 2400); // after one retransmission
      test.flush();
    });
    expect(sent.map((s) => [s.time, s.layer])).toEqual([
      [0, 'a'],
      [300, 'b'],
      [2000, 'a'],
      [2300, 'b'],
    ]);
  });

  it('re-arms at once for a deadline earlier than the armed one (a layer with a shorter ACK_TIMEOUT)', () => {
    const { scheduler, test } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    const slow = layerOn(scheduler, sent, 'slow', 1);
    const fast = new MessageLayer({
      transport: { send: (frame) => sent.push({ time: scheduler.now(), messageId: decodeDatagram(frame).messageId, layer: 'fast' }) },
      router: { route: () => true },
      params: { ...DEFAULT_TRANSMISSION, ackTimeout: 100 },
      scheduler,
      random: () => 0,
      firstMessageId: 50,
      onEvent: () => undefined,
      peer: { host: '127.0.0.1', port: 5684 },
    });
    test.run(() => {
      slow.sendConfirmable(get, noop); // deadline 2000
      test.schedule(() => fast.sendConfirmable(get, noop), 10); // deadline 110: earlier than the armed 2000
      test.schedule(() => fast.receive(ackFor(50)), 150);
      test.schedule(() => slow.receive(ackFor(1)), 1000);
      test.flush();
    });
    expect(sent.map((s) => [s.time, s.layer])).toEqual([
      [0, 'slow'],
      [10, 'fast'],
      [110, 'fast'],
    ]);
  });

  it('holds no timer once the last layer closes, and tells an idle layer to drop its tables at once', () => {
    const { scheduler, test, pending } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    let idle = 0;
    const layer = layerOn(scheduler, sent, 'a', 1, () => idle++);
    test.run(() => {
      layer.sendConfirmable(get, noop);
      layer.receive(ackFor(1));
      expect(idle).toBe(1); // at the answer, not when the clock next wakes
      expect(pending()).toBe(1); // the clock stays armed (it lapses by itself)...
      layer.close();
      expect(pending()).toBe(0); // ...unless nobody is left
    });
  });

  it('fails a CON after MAX_RETRANSMIT with the clock shared, and goes idle once', () => {
    const { scheduler, test, pending } = countingScheduler();
    const sent: { time: number; messageId: number; layer: string }[] = [];
    let idle = 0;
    let failedAt = -1;
    const layer = layerOn(scheduler, sent, 'a', 1, () => idle++);
    test.run(() => {
      layer.sendConfirmable(get, { acknowledged: () => undefined, failed: () => (failedAt = test.now()) });
      test.flush();
    });
    expect(sent.map((s) => s.time)).toEqual([0, 2000, 6000, 14000, 30000]);
    expect(failedAt).toBe(62000);
    expect(idle).toBe(1);
    expect(pending()).toBe(0);
  });
});
