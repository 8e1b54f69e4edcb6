import { createTestScheduler } from '../helpers/test-scheduler';
import { retransmit } from '../../src/message-layer/retransmit';
import { DEFAULT_TRANSMISSION } from '../../src/message-layer/transmission-params';
import { CoapTimeoutError } from '../../src/errors';

describe('retransmit', () => {
  it('retransmits a CON after 2 s, 4 s, 8 s and 16 s and gives up 32 s later (62 s) with the smallest jitter', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const sendTimes: number[] = [];
      const source = retransmit({ send: () => sendTimes.push(scheduler.now()), params: DEFAULT_TRANSMISSION, scheduler, random: () => 0 });
      expectObservable(source).toBe('2000ms a 3999ms b 7999ms c 15999ms d 31999ms #', { a: 1, b: 2, c: 3, d: 4 }, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
      scheduler.flush();
      expect(sendTimes).toEqual([0, 2000, 6000, 14000, 30000]);
    });
  });

  it('gives up at MAX_TRANSMIT_WAIT (93 s) with the largest jitter', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const sendTimes: number[] = [];
      const source = retransmit({ send: () => sendTimes.push(scheduler.now()), params: DEFAULT_TRANSMISSION, scheduler, random: () => 1 });
      expectObservable(source).toBe('3000ms a 5999ms b 11999ms c 23999ms d 47999ms #', { a: 1, b: 2, c: 3, d: 4 }, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
      scheduler.flush();
      expect(sendTimes).toEqual([0, 3000, 9000, 21000, 45000]);
    });
  });

  it('reports attempts and elapsed time on the timeout error', () => {
    const scheduler = createTestScheduler();
    scheduler.run(() => {
      let error: CoapTimeoutError | undefined;
      retransmit({ send: () => undefined, params: { ...DEFAULT_TRANSMISSION, maxRetransmit: 1 }, scheduler, random: () => 0, info: { messageId: 7, token: 'ab' } }).subscribe({
        error: (e) => (error = e),
      });
      scheduler.flush();
      expect(error).toBeInstanceOf(CoapTimeoutError);
      expect(error).toMatchObject({ code: 'COAP_ERR_TIMEOUT', attempts: 2, elapsed: 6000, messageId: 7, token: 'ab' });
    });
  });

  it('stops sending when unsubscribed (ACK received)', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const sendTimes: number[] = [];
      const source = retransmit({ send: () => sendTimes.push(scheduler.now()), params: DEFAULT_TRANSMISSION, scheduler, random: () => 0 });
      expectObservable(source, '^ 2500ms !').toBe('2000ms a', { a: 1 });
      scheduler.flush();
      expect(sendTimes).toEqual([0, 2000]);
    });
  });
});
