/**
 * Hostile input and careless calls that once crashed the host or hung a request (issue 16 findings 1, 2, 3, 9,
 * 12). Each case failed before its fix. Virtual time with the fake transport, plus one real UDP socket for the
 * remote crash, since that one travelled into the dgram listener.
 */
import * as dgram from 'node:dgram';
import { firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import '../../src/node';
import { MessageType, ResponseCode, createPdu, type CoapPdu } from '../../src/codec/pdu';
import { encodeString } from '../../src/codec/option-values';
import { createFakeTransport } from '../../src/testing/fake-transport';
import { collect, fakeSession } from '../helpers/fake-session';

const setup = fakeSession;


/** A piggybacked 2.05 for `request` with raw option bytes after the token (no encoder checks). */
function rawAck(request: CoapPdu, optionBytes: number[], payload: number[] = []): Uint8Array {
  const token = [...request.token];
  const bytes = [0x60 | token.length, ResponseCode.Content, request.messageId >> 8, request.messageId & 0xff, ...token, ...optionBytes];
  if (payload.length > 0) bytes.push(0xff, ...payload);
  return Uint8Array.from(bytes);
}

/** Block2 (23) with a 4-byte value: d4 = delta 13+ext, length 4; 0a = 23 - 13. The probe's datagram. */
const BLOCK2_OF_FOUR_BYTES = [0xd4, 0x0a, 0x00, 0x00, 0x00, 0x0e];

const piggyback = (request: CoapPdu, text = 'real', token = request.token): CoapPdu =>
  createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: request.messageId, token, payload: encodeString(text) });

describe('hostile responses (issue 16 finding 1: remote crash)', () => {
  it('fails the request with a typed CoapDecodeError and a bad-packet event when Block2 is 4 bytes; the session lives on', () => {
    const { fake, session, events } = setup();
    const first = collect(session.get('/x'));
    expect(() => fake.deliver(rawAck(fake.sent[0].pdu!, BLOCK2_OF_FOUR_BYTES))).not.toThrow();
    expect(first.error).toMatchObject({ name: 'CoapDecodeError', code: 'COAP_ERR_DECODE', reason: 'BAD_OPTION_VALUE' });
    expect(events.filter((e) => e.type === 'bad-packet')).toHaveLength(1);
    const second = collect(session.get('/y'));
    fake.deliver(piggyback(fake.sent[fake.sent.length - 1].pdu!, 'fine'));
    expect(second.values.map((r) => r.text())).toEqual(['fine']);
  });

  it('ignores an elective option with a bad value (Size2 of 5 bytes) and delivers the response without it', () => {
    const { fake, session } = setup();
    const result = collect(session.get('/x'));
    // Size2 = 28: delta 13 + 15, length 5
    fake.deliver(rawAck(fake.sent[0].pdu!, [0xd5, 0x0f, 1, 2, 3, 4, 5], [0x6f, 0x6b]));
    expect(result.values.map((r) => [r.text(), r.options.some((o) => o.number === 28)])).toEqual([['ok', false]]);
  });

  it('fails an observation with a typed error when a notification carries a 4-byte Block2', () => {
    const { fake, session } = setup();
    const observation = collect(session.observe('/obs'));
    const registration = fake.sent[0].pdu!;
    fake.deliver(rawAck(registration, BLOCK2_OF_FOUR_BYTES));
    expect(observation.error).toMatchObject({ code: 'COAP_ERR_DECODE' });
  });

  it('survives the probe datagram over a real UDP socket: no uncaught exception, the request errors, the next one works', async () => {
    const server = dgram.createSocket('udp4');
    let hostile = true;
    server.on('message', (message, rinfo) => {
      const tkl = message[0] & 0x0f;
      const request = { messageId: message.readUInt16BE(2), token: message.subarray(4, 4 + tkl) } as unknown as CoapPdu;
      const reply = hostile ? rawAck(request, BLOCK2_OF_FOUR_BYTES) : rawAck(request, [], [0x6f, 0x6b]);
      server.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const ctx = new CoapContext();
    try {
      const session = ctx.newClientSession({ server: { host: '127.0.0.1', port: server.address().port } });
      await expect(firstValueFrom(session.get('/x'))).rejects.toMatchObject({ code: 'COAP_ERR_DECODE' });
      hostile = false;
      await expect(firstValueFrom(session.get('/x'))).resolves.toMatchObject({ codeText: '2.05' });
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await ctx.free();
      server.close();
    }
  });
});

describe('spoofed ACKs (issue 16 finding 2)', () => {
  it.each([
    ['another token', (request: CoapPdu) => piggyback(request, 'spoof', Uint8Array.from([1, 2, 3, 4]))],
    ['an empty token', (request: CoapPdu) => piggyback(request, 'spoof', new Uint8Array(0))],
  ])('ignores a piggybacked ACK with the right MID and %s; the real ACK that follows is delivered at once', (_, spoof) => {
    const { scheduler, fake, session, events } = setup();
    const result = collect(session.get('/x'));
    const request = fake.sent[0].pdu!;
    fake.deliver(spoof(request));
    expect(result.values).toEqual([]);
    expect(events.filter((e) => e.type === 'mismatched-ack')).toEqual([{ type: 'mismatched-ack', messageId: request.messageId }]);
    fake.deliver(piggyback(request));
    expect(result.values.map((r) => r.text())).toEqual(['real']);
    expect(result.done).toBe(true);
  });

  it('keeps retransmitting after a spoofed ACK (the CON is still outstanding)', () => {
    const { scheduler, fake, session } = setup();
    scheduler.run(({ flush }) => {
      const result = collect(session.get('/x'));
      const request = fake.sent[0].pdu!;
      fake.deliver(piggyback(request, 'spoof', Uint8Array.from([9])));
      scheduler.schedule(() => fake.deliver(piggyback(request)), 2500);
      flush();
      expect(fake.sent.filter((s) => s.pdu?.type === MessageType.CON && s.pdu.messageId === request.messageId)).toHaveLength(2);
      expect(result.values.map((r) => r.text())).toEqual(['real']);
    });
  });
});

describe('failures while starting a request (issue 16 finding 3)', () => {
  it.each([
    ['option number -1', { number: -1, value: 'x' }],
    ['option number 70000', { number: 70000, value: 'x' }],
    ['option value null', { number: 2048, value: null }],
    ['a 70,000-byte option', { number: 2048, value: new Uint8Array(70_000) }],
  ])('errors the first request of a session that is still connecting when it has %s (nothing escapes, nothing hangs)', (_, option) => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const fake = createFakeTransport({ scheduler, connectDelay: 10 });
    const session = new CoapContext({ scheduler }).newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const result = collect(session.request({ path: '/x', options: [option as never] }));
      scheduler.flush();
      expect(result.error).toMatchObject({ code: expect.stringMatching(/^COAP_ERR_/) });
      expect(fake.sent).toHaveLength(0);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('errors the first request when its message cannot be encoded by the message layer (a 9-byte token)', () => {
    const { fake, session } = setup();
    const result = collect(session.request({ path: '/x', token: new Uint8Array(9) }));
    expect(result.error).toMatchObject({ code: expect.stringMatching(/^COAP_ERR_/) });
    expect(fake.sent).toHaveLength(0);
  });
});

describe('messages larger than the path allows (issue 16 finding 9)', () => {
  it('refuses a 100 KB PUT at once with useLibrary: false, naming the maximum PDU size', () => {
    const { fake, session } = setup(undefined, { blockMode: { useLibrary: false } });
    const result = collect(session.put('/big', { payload: new Uint8Array(100_000) }));
    expect(fake.sent).toHaveLength(0);
    expect(result.error).toMatchObject({ code: 'COAP_ERR_ENCODE' });
    expect(result.error.message).toContain(`maximum PDU size of ${session.maxPduSize()} bytes`);
  });

  it('sends a message of exactly the maximum PDU size', () => {
    const { fake, session } = setup(undefined, { blockMode: { useLibrary: false } });
    collect(session.request({ method: 'PUT', payload: new Uint8Array(session.maxPduSize() - 8 - 1) }));
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0].frame.length).toBe(session.maxPduSize() + 4);
  });
});

describe('first message IDs (issue 16 finding 12)', () => {
  it('come from the CSPRNG, not from the jitter source', () => {
    const firsts = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const { fake, session } = setup(undefined, { random: () => 0 });
      collect(session.get('/'));
      firsts.add(fake.sent[0].pdu!.messageId);
    }
    // With Math.floor(random() * 65536) and random = () => 0 every session started at MID 0.
    expect(firsts.size).toBeGreaterThan(1);
  });
});

