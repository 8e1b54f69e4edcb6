/**
 * The user-visible timing rules of a datagram session as marbles, with the helpers of rxcoap/testing: the
 * retransmission schedule (RFC 7252 §4.2), NSTART (§4.7), message-ID back-pressure (§4.4) and observe
 * re-registration after Max-Age (RFC 7641 §3.3.1). Frames in the frame notation (`describePdu`), exact timings
 * (`scheduler.contextOptions()`: no jitter, `ackRandomFactor: 1`, tokens 01, 02, ...).
 */
import { filter, map } from 'rxjs';
import { CoapTimeoutError } from '../../src/errors';
import { MessageType } from '../../src/codec/pdu';
import { CoapContext } from '../../src/context';
import type { CoapContextOptions } from '../../src/session/session-options';
import { createFakeTransport, type FakeTransportOptions } from '../../src/testing/fake-transport';
import { piggybackedResponse } from '../../src/testing/fake-replies';
import { createCoapTestScheduler, sentFrames } from '../../src/testing/marbles';

/** A session on a fake transport whose server answers requests (not our ACKs and RSTs) with `respond`. */
function setup(respond?: FakeTransportOptions['respond'], options: CoapContextOptions = {}) {
  const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
  const fake = createFakeTransport({ scheduler, respond: respond && ((pdu, sent) => (pdu.type === MessageType.ACK || pdu.type === MessageType.RST ? undefined : respond(pdu, sent))) });
  const ctx = new CoapContext(scheduler.contextOptions(options));
  const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
  return { scheduler, fake, ctx, session };
}

describe('datagram session timing, as marbles', () => {
  describe('retransmission (RFC 7252 §4.2)', () => {
    it('sends a CON at 0, 2, 6, 14 and 30 s and errors with CoapTimeoutError at 62 s (MAX_TRANSMIT_WAIT with factor 1)', () => {
      const { scheduler, fake, session } = setup();
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake)).toBe('a 1999ms a 3999ms a 7999ms a 15999ms a', { a: 'CON GET [01] /x' });
        expectObservable(session.get('/x')).toBe('62s #', undefined, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
      });
    });

    it('keeps that schedule whatever the random source says once ackRandomFactor is 1 (the explicit part of exact timings)', () => {
      const { scheduler, fake, session } = setup(undefined, { random: () => 0.75 });
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake)).toBe('a 1999ms a 3999ms a 7999ms a 15999ms a', { a: 'CON GET [01] /x' });
        expectObservable(session.get('/x')).toBe('62s #', undefined, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
      });
    });

    it('with the default ackRandomFactor 1.5 the random source moves it: 0.5 gives a first timeout of 2.5 s', () => {
      const { scheduler, fake, session } = setup(undefined, { random: () => 0.5, transmission: { ackRandomFactor: 1.5 } });
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake)).toBe('a 2499ms a 4999ms a 9999ms a 19999ms a', { a: 'CON GET [01] /x' });
        expectObservable(session.get('/x')).toBe('77500ms #', undefined, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
      });
    });

    it('stops at the ACK: a server answering after 3 s sees two transmissions', () => {
      const { scheduler, fake, session } = setup((request, sent) => (sent.time === 2000 ? { delay: 1000, reply: piggybackedResponse(request, { payload: 'ok' }) } : undefined));
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake)).toBe('a 1999ms a', { a: 'CON GET [01] /x' });
        expectObservable(session.get('/x').pipe(map((r) => r.text()))).toBe('3s (a|)', { a: 'ok' });
      });
    });
  });

  describe('NSTART (RFC 7252 §4.7)', () => {
    it('holds a second CON until the first is answered (NSTART 1)', () => {
      const { scheduler, fake, session } = setup((request) => ({ delay: 100, reply: piggybackedResponse(request) }));
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake)).toBe('a 99ms b', { a: 'CON GET [01] /a', b: 'CON GET [02] /b' });
        expectObservable(session.get('/a').pipe(map((r) => r.codeText))).toBe('100ms (a|)', { a: '2.05' });
        expectObservable(session.get('/b').pipe(map((r) => r.codeText))).toBe('200ms (a|)', { a: '2.05' });
      });
    });

    it('runs CONs in parallel up to a raised NSTART, the rest as slots free', () => {
      const { scheduler, fake, session } = setup((request) => ({ delay: 100, reply: piggybackedResponse(request) }), { transmission: { nstart: 4 } });
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake).pipe(map(() => 'c'))).toBe('(cccc) 94ms (cc)');
        for (let i = 0; i < 6; i++) expectObservable(session.get('/').pipe(map((r) => r.codeText))).toBe(i < 4 ? '100ms (a|)' : '200ms (a|)', { a: '2.05' });
      });
    });
  });

  describe('message IDs (RFC 7252 §4.4)', () => {
    it('makes the 65,537th message wait for the first MID to leave EXCHANGE_LIFETIME, and says so', () => {
      // EXCHANGE_LIFETIME = 100 ms * (2^0 - 1) * 1 + 2 * 100 ms + 100 ms = 300 ms.
      const transmission = { ackTimeout: 100, maxRetransmit: 0, maxLatency: 100, processingDelay: 100, nstart: 100_000 };
      const { scheduler, fake, session } = setup((request) => piggybackedResponse(request), { transmission });
      scheduler.run(({ expectObservable }) => {
        expectObservable(session.events$.pipe(filter((event) => event.type === 'mid-exhausted'), map((event) => event.type))).toBe('a', { a: 'mid-exhausted' });
        for (let i = 0; i < 0x10000; i++) session.get('/').subscribe();
        expectObservable(session.get('/').pipe(map((r) => r.codeText))).toBe('300ms (a|)', { a: '2.05' });
      });
      expect(fake.sent).toHaveLength(0x10001);
      expect(fake.sent.at(-1)!.pdu!.messageId).toBe(fake.sent[0].pdu!.messageId);
    });
  });

  describe('observe re-registration (RFC 7641 §3.3.1)', () => {
    it('registers again with the same token after Max-Age plus the 2 s margin of silence', () => {
      let sequence = 1;
      const { scheduler, fake, session } = setup((request) => piggybackedResponse(request, { observe: sequence++, maxAge: 10, payload: 'v' }));
      scheduler.run(({ expectObservable }) => {
        expectObservable(sentFrames(fake), '^ 30s !').toBe('a 11999ms a 11999ms a', { a: 'CON GET [01] /temp Observe=0' });
        expectObservable(session.observe('/temp').pipe(map((r) => r.observe)), '^ 30s !').toBe('a 11999ms b 11999ms c', { a: 1, b: 2, c: 3 });
      });
    });
  });
});
