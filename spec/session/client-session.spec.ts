import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { MessageType, Method, ResponseCode, createPdu, type CoapPdu } from '../../src/codec/pdu';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString } from '../../src/codec/option-values';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { collect, fakeSession } from '../helpers/fake-session';

const setup = fakeSession;

const piggyback = (request: CoapPdu, text = 'hello', code: number = ResponseCode.Content): CoapPdu =>
  createPdu({ type: MessageType.ACK, code, messageId: request.messageId, token: request.token, payload: encodeString(text) });


describe('ClientSession over a datagram transport', () => {
  it('sends nothing before subscribe and one CON GET with an 8-byte token after', () => {
    const { fake, session } = setup((pdu) => piggyback(pdu));
    const request$ = session.get('/sensors/temp');
    expect(fake.sent).toHaveLength(0);
    const result = collect(request$);
    expect(fake.sent).toHaveLength(1);
    const sent = fake.sent[0].pdu!;
    expect(sent.type).toBe(MessageType.CON);
    expect(sent.code).toBe(Method.GET);
    expect(sent.token).toHaveLength(8);
    expect(sent.options.filter((o) => o.number === OptionNumber.UriPath).map((o) => Buffer.from(o.value).toString())).toEqual(['sensors', 'temp']);
    expect(result.values.map((r) => [r.codeText, r.text()])).toEqual([['2.05', 'hello']]);
    expect(result.done).toBe(true);
  });

  it('uses a fresh token and message ID for every subscription', () => {
    const { fake, session } = setup((pdu) => piggyback(pdu));
    const request$ = session.get('/');
    collect(request$);
    collect(request$);
    const [a, b] = fake.sent.map((s) => s.pdu!);
    expect(Buffer.from(a.token).equals(Buffer.from(b.token))).toBe(false);
    expect(b.messageId).toBe((a.messageId + 1) & 0xffff);
  });

  it('retransmits on the RFC 7252 schedule and fails with CoapTimeoutError after 62 s (no jitter)', () => {
    const { scheduler, fake, session, events } = setup();
    scheduler.run(() => {
      const result = collect(session.get('/'));
      scheduler.flush();
      expect(fake.sent.map((s) => s.time)).toEqual([0, 2000, 6000, 14000, 30000]);
      expect(new Set(fake.sent.map((s) => s.pdu!.messageId)).size).toBe(1);
      expect(result.error).toMatchObject({ name: 'CoapTimeoutError', code: 'COAP_ERR_TIMEOUT', attempts: 5, elapsed: 62000 });
      expect(events.filter((e) => e.type === 'retransmitted').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3, 4]);
    });
  });

  it('stops retransmitting when unsubscribed and answers a late response with RST', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(() => {
      const result = collect(session.get('/'));
      scheduler.schedule(() => result.sub!.unsubscribe(), 2500);
      scheduler.flush();
      expect(fake.sent.map((s) => s.time)).toEqual([0, 2000]);
      const request = fake.sent[0].pdu!;
      fake.deliver(createPdu({ type: MessageType.CON, code: ResponseCode.Content, messageId: 0x4242, token: request.token }));
      const reply = fake.sent[2].pdu!;
      expect([reply.type, reply.code, reply.messageId]).toEqual([MessageType.RST, 0, 0x4242]);
      expect(result.values).toEqual([]);
    });
  });

  it('takes a separate response: empty ACK, then a CON response that is ACKed and delivered once', () => {
    const { scheduler, fake, session, events } = setup((pdu) => [
      createPdu({ type: MessageType.ACK, code: 0, messageId: pdu.messageId }),
      { delay: 5000, reply: createPdu({ type: MessageType.CON, code: ResponseCode.Content, messageId: 0x1111, token: pdu.token, payload: encodeString('late') }) },
      { delay: 5100, reply: createPdu({ type: MessageType.CON, code: ResponseCode.Content, messageId: 0x1111, token: pdu.token, payload: encodeString('late') }) },
    ]);
    scheduler.run(() => {
      const result = collect(session.get('/async'));
      scheduler.flush();
      expect(result.values.map((r) => r.text())).toEqual(['late']);
      expect(result.done).toBe(true);
      const acks = fake.sent.slice(1).map((s) => [s.time, s.pdu!.type, s.pdu!.code, s.pdu!.messageId]);
      // The duplicate CON is ACKed again from the deduplication cache.
      expect(acks).toEqual([
        [5000, MessageType.ACK, 0, 0x1111],
        [5100, MessageType.ACK, 0, 0x1111],
      ]);
      expect(events.some((e) => e.type === 'duplicate')).toBe(true);
    });
  });

  it('fails with CoapTimeoutError when a separate response never comes', () => {
    const { scheduler, session } = setup((pdu) => createPdu({ type: MessageType.ACK, code: 0, messageId: pdu.messageId }), {
      transmission: { separateResponseTimeout: 10_000 },
    });
    scheduler.run(() => {
      const result = collect(session.get('/'));
      scheduler.flush();
      expect(result.error).toMatchObject({ code: 'COAP_ERR_TIMEOUT', message: 'no response after the request was acknowledged' });
      expect(scheduler.now()).toBe(10_000);
    });
  });

  it('fails with CoapResetError when the server answers RST', () => {
    const { session } = setup((pdu) => createPdu({ type: MessageType.RST, code: 0, messageId: pdu.messageId }));
    const result = collect(session.get('/'));
    expect(result.error).toMatchObject({ name: 'CoapResetError', code: 'COAP_ERR_RESET' });
  });

  it('ignores an ACK with an unknown message ID and a response with an unknown token', () => {
    const { scheduler, fake, session } = setup((pdu) => [
      createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: (pdu.messageId + 1) & 0xffff, token: pdu.token }),
      createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: pdu.messageId, token: Uint8Array.of(1, 2, 3) }),
    ]);
    scheduler.run(() => {
      const result = collect(session.get('/'));
      scheduler.schedule(() => result.sub!.unsubscribe(), 1000);
      scheduler.flush();
      expect(result.values).toEqual([]);
      expect(fake.sent).toHaveLength(1);
    });
  });

  it('answers an unknown NON with RST and an empty CON (ping) with RST', () => {
    const { fake, session } = setup((pdu) => piggyback(pdu));
    collect(session.get('/'));
    fake.deliver(createPdu({ type: MessageType.NON, code: ResponseCode.Content, messageId: 9, token: Uint8Array.of(9) }));
    fake.deliver(createPdu({ type: MessageType.CON, code: 0, messageId: 10 }));
    expect(fake.sent.slice(1).map((s) => [s.pdu!.type, s.pdu!.messageId])).toEqual([
      [MessageType.RST, 9],
      [MessageType.RST, 10],
    ]);
  });

  it('rejects a response with an unknown critical option (RFC 7252 §5.4.1)', () => {
    const { fake, session } = setup((pdu) => [
      createPdu({ type: MessageType.ACK, code: 0, messageId: pdu.messageId }),
      createPdu({ type: MessageType.CON, code: ResponseCode.Content, messageId: 77, token: pdu.token, options: [{ number: 2049, value: Uint8Array.of(1) }] }),
    ]);
    const result = collect(session.get('/'));
    expect(result.error).toMatchObject({ name: 'CoapOptionError', code: 'COAP_ERR_OPTION', optionNumber: 2049 });
    expect(fake.sent.at(-1)!.pdu).toMatchObject({ type: MessageType.RST, messageId: 77 });
  });

  // NSTART (queued and parallel CONs): spec/session/timing-marbles.spec.ts.
  it('times out a NON request after the NON lifetime', () => {
    const { scheduler, fake, session } = setup(undefined, { transmission: { nonTimeout: 5000 } });
    scheduler.run(() => {
      const result = collect(session.get('/', { confirmable: false }));
      scheduler.flush();
      expect(fake.sent).toHaveLength(1);
      expect(fake.sent[0].pdu!.type).toBe(MessageType.NON);
      expect(result.error).toMatchObject({ code: 'COAP_ERR_TIMEOUT', message: 'no response to the NON request' });
      expect(scheduler.now()).toBe(5000);
    });
  });

  it('reports a malformed datagram as bad-packet, RSTs it when the MID is readable, and keeps working', () => {
    const { fake, session, events } = setup();
    const result = collect(session.get('/'));
    fake.deliver(Uint8Array.of(0x40, 0x45, 0x12, 0x34, 0xff)); // CON, payload marker with no payload
    fake.deliver(Uint8Array.of(0x01));
    expect(events.filter((e) => e.type === 'bad-packet')).toHaveLength(2);
    expect(fake.sent.at(-1)!.pdu).toMatchObject({ type: MessageType.RST, messageId: 0x1234 });
    const request = fake.sent[0].pdu!;
    fake.deliver(piggyback(request, 'still fine'));
    expect(result.values.map((r) => r.text())).toEqual(['still fine']);
  });

  it('fails exchanges in flight with CoapSessionClosedError on release, and later requests too', () => {
    const { fake, session, ctx } = setup();
    const result = collect(session.get('/'));
    expect(session.release()).toBe(0);
    expect(result.error).toMatchObject({ name: 'CoapSessionClosedError', code: 'COAP_ERR_SESSION_CLOSED' });
    expect(fake.open).toBe(false);
    expect(ctx.sessions.size).toBe(0);
    expect(collect(session.get('/')).error).toMatchObject({ code: 'COAP_ERR_SESSION_CLOSED' });
  });

  it('counts references: closes only when the last one is released', () => {
    const { session } = setup((pdu) => piggyback(pdu));
    expect(session.reference()).toBe(2);
    expect(session.release()).toBe(1);
    expect(session.closed).toBe(false);
    expect(session.release()).toBe(0);
    expect(session.closed).toBe(true);
  });

  it('fails exchanges when the transport fails, then reconnects for the next request', () => {
    const { fake, session, events } = setup();
    const result = collect(session.get('/'));
    fake.fail(new Error('boom'));
    expect(result.error).toMatchObject({ message: 'boom' });
    expect(events.some((e) => e.type === 'failed')).toBe(true);
    collect(session.get('/'));
    expect(fake.connections).toBe(2);
  });

  it('emits the round-trip time of a ping (empty CON answered by RST)', () => {
    const { scheduler, session } = setup((pdu) => ({ delay: 42, reply: createPdu({ type: MessageType.RST, code: 0, messageId: pdu.messageId }) }));
    scheduler.run(({ expectObservable }) => {
      expectObservable(session.ping()).toBe('42ms (a|)', { a: 42 });
    });
  });

  it('sends Uri-Host for a name and Uri-Port for a port that is not the default', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const fake = createFakeTransport({ scheduler, respond: (pdu) => piggyback(pdu) });
    const ctx = new CoapContext({ scheduler });
    const session = ctx.newClientSession({ server: 'coap://sensor.example:5700', transport: fake.factory });
    collect(session.get('/x'));
    const options = fake.sent[0].pdu!.options.map((o) => o.number);
    expect(options).toEqual([OptionNumber.UriHost, OptionNumber.UriPort, OptionNumber.UriPath]);
  });

  it('reports maxPduSize as MTU minus overhead minus the 4-byte header, like libcoap', () => {
    const { session } = setup();
    expect(session.maxPduSize()).toBe(1148);
    session.setMtu(300);
    expect(session.maxPduSize()).toBe(296);
    expect(() => session.setMtu(10)).toThrow(expect.objectContaining({ code: 'COAP_ERR_ARGUMENT' }));
  });

  it('says how to get a transport when none is registered and the platform has no WebSocket', () => {
    const ctx = new CoapContext();
    expect(() => ctx.newClientSession({ server: 'coap+ws://127.0.0.1' })).toThrow(/no ws transport is registered and this platform has no global WebSocket: import from 'rxcoap\/node'/);
  });

  it('makes new messages wait, not reuse a MID, once all 65,536 were used within EXCHANGE_LIFETIME', () => {
    const lifetimeParams = { ackTimeout: 100, maxRetransmit: 0, maxLatency: 100, processingDelay: 100, nstart: 100000 };
    // EXCHANGE_LIFETIME = 100 * (2^0 - 1) * 1.5 + 2 * 100 + 100 = 300 ms
    const { scheduler, fake, session, events } = setup((pdu) => piggyback(pdu), { transmission: lifetimeParams });
    scheduler.run(() => {
      for (let i = 0; i < 0x10000 + 1; i++) collect(session.get('/'));
      expect(fake.sent).toHaveLength(0x10000);
      expect(events.filter((e) => e.type === 'mid-exhausted')).toHaveLength(1);
      scheduler.flush();
      expect(fake.sent).toHaveLength(0x10001);
      expect(fake.sent.at(-1)!.time).toBe(300);
      expect(fake.sent.at(-1)!.pdu!.messageId).toBe(fake.sent[0].pdu!.messageId);
    });
  });
});
