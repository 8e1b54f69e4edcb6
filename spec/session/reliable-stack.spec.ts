/**
 * The reliable stack (RFC 8323) in virtual time, on a scripted byte-stream transport: CSM first and requests
 * held until the server's, Ping/Pong, Release, Abort, a malformed stream, the server's Max-Message-Size,
 * keepalive, and chunks cut anywhere.
 */
import { Observable, Subject, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { SignalOption } from '../../src/codec/option-numbers';
import { decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { Method, ResponseCode, SignalCode, createPdu, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { encodeStreamFrame, StreamDeframer } from '../../src/codec/stream-codec';
import type { Transport, TransportFactory } from '../../src/transport/transport';
import type { SessionEvent } from '../../src/session/session-events';
import { useStreamFraming } from '../../src/session/use-stream-framing';

useStreamFraming(); // the scripted transport is a byte stream: the core leaves stream framing out until asked

interface StreamPeer {
  readonly factory: TransportFactory;
  /** PDUs the client wrote, deframed. */
  readonly received: CoapPdu[];
  /** Writes frames to the client (optionally cut in chunks of `chunk` bytes). */
  write(pdu: CoapPdu, chunk?: number): void;
  writeBytes(bytes: Uint8Array): void;
  fail(error: Error): void;
  readonly open: boolean;
}

function streamPeer(answer?: (pdu: CoapPdu, peer: StreamPeer) => void): StreamPeer {
  let frames: Subject<Uint8Array> | undefined;
  let subscriber: { error(error: unknown): void } | undefined;
  let deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
  const peer: StreamPeer = {
    received: [],
    factory: () =>
      new Observable<Transport>((transportSubscriber) => {
        frames = new Subject<Uint8Array>();
        deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
        subscriber = transportSubscriber;
        transportSubscriber.next({
          frames$: frames.asObservable(),
          send(frame) {
            for (const pdu of deframer.push(frame)) {
              peer.received.push(pdu);
              answer?.(pdu, peer);
            }
          },
          events$: new Subject<never>(),
          maxFrameOverhead: 0,
          reliable: true,
          framing: 'stream',
          local: { host: '127.0.0.1', port: 40000 },
          remote: { host: '127.0.0.1', port: 5683 },
        });
        return () => {
          frames = undefined;
          subscriber = undefined;
        };
      }),
    write(pdu, chunk) {
      const bytes = encodeStreamFrame(pdu);
      if (chunk === undefined) frames?.next(bytes);
      else for (let i = 0; i < bytes.length; i += chunk) frames?.next(bytes.slice(i, i + chunk));
    },
    writeBytes(bytes) {
      frames?.next(bytes);
    },
    fail(error) {
      subscriber?.error(error);
    },
    get open() {
      return frames !== undefined;
    },
  };
  return peer;
}

const csm = (maxMessageSize = 1152, blockWise = false): CoapPdu =>
  createPdu({
    code: SignalCode.CSM,
    options: [
      { number: SignalOption.MaxMessageSize, value: encodeUint(maxMessageSize) },
      ...(blockWise ? [{ number: SignalOption.BlockWiseTransfer, value: new Uint8Array(0) }] : []),
    ],
  });

const content = (request: CoapPdu, text: string, options: CoapOption[] = []): CoapPdu =>
  createPdu({ code: ResponseCode.Content, token: request.token, options, payload: encodeString(text) });

function setup(
  answer?: (pdu: CoapPdu, peer: StreamPeer) => void,
  sessionOptions: { keepalive?: number; csmTimeout?: number; reconnect?: boolean | { initialDelay?: number; maxDelay?: number; maxAttempts?: number } } = {},
  blockMode?: { useLibrary: boolean },
) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const peer = streamPeer(answer);
  const ctx = new CoapContext({ scheduler, ...(blockMode === undefined ? {} : { blockMode }) });
  const session = ctx.newClientSession({ server: 'coap+tcp://127.0.0.1', transport: peer.factory, ...sessionOptions });
  const events: SessionEvent[] = [];
  session.events$.subscribe((event) => events.push(event));
  return { scheduler, peer, ctx, session, events };
}

function collect<T>(source: Observable<T>) {
  const out: { values: T[]; error?: any; done: boolean; sub?: Subscription } = { values: [], done: false };
  out.sub = source.subscribe({ next: (v) => out.values.push(v), error: (e) => (out.error = e), complete: () => (out.done = true) });
  return out;
}

/** Answers GETs with their path, after the CSM exchange. */
const echoPath = (pdu: CoapPdu, peer: StreamPeer): void => {
  if (pdu.code === Method.GET) peer.write(content(pdu, pdu.options.filter((o) => o.number === 11).map((o) => Buffer.from(o.value).toString()).join('/')));
};

describe('reliable stack (RFC 8323) over a byte stream', () => {
  it('sends its CSM first, never empty, and holds requests until the server CSM arrives', () => {
    const { peer, session } = setup(echoPath);
    const result = collect(session.get('/a/b'));
    expect(peer.received.map((pdu) => pdu.code)).toEqual([SignalCode.CSM]);
    const ours = peer.received[0];
    expect(ours.options.find((o) => o.number === SignalOption.MaxMessageSize)).toBeDefined();
    expect(ours.options.some((o) => o.number === SignalOption.BlockWiseTransfer)).toBe(true);
    expect(result.values).toEqual([]);
    peer.write(csm());
    expect(peer.received.map((pdu) => pdu.code)).toEqual([SignalCode.CSM, Method.GET]);
    expect(result.values.map((r) => r.text())).toEqual(['a/b']);
    expect(result.done).toBe(true);
  });

  it('carries many requests outstanding at once, answered in any order, with no message IDs', () => {
    const { peer, session } = setup();
    const results = [collect(session.get('/1')), collect(session.get('/2')), collect(session.get('/3'))];
    peer.write(csm());
    const requests = peer.received.filter((pdu) => pdu.code === Method.GET);
    expect(requests).toHaveLength(3);
    expect(requests.every((pdu) => pdu.messageId === 0)).toBe(true);
    for (const [index, request] of [requests[2], requests[0], requests[1]].entries()) peer.write(content(request, `r${index}`));
    expect(results.map((r) => r.values.map((v) => v.text()))).toEqual([['r1'], ['r2'], ['r0']]);
  });

  it('delivers frames cut into 1-byte chunks', () => {
    const { peer, session } = setup();
    const result = collect(session.get('/x'));
    peer.write(csm(), 1);
    const request = peer.received.find((pdu) => pdu.code === Method.GET)!;
    peer.write(content(request, 'chunked', [{ number: 12, value: encodeUint(0) }]), 1);
    expect(result.values.map((r) => r.text())).toEqual(['chunked']);
  });

  it('fails waiting requests with reason csm-timeout when the server sends no CSM in time', () => {
    const { scheduler, peer, session } = setup(undefined, { csmTimeout: 5000 });
    scheduler.run(({ flush }) => {
      const result = collect(session.get('/x'));
      scheduler.schedule(() => expect(result.error).toBeUndefined(), 4999);
      flush();
      expect(result.error).toMatchObject({ name: 'CoapTransportError', reason: 'csm-timeout' });
      expect(peer.open).toBe(false);
    });
  });

  it('answers a server Ping with a Pong of the same token (Custody echoed)', () => {
    const { peer, session } = setup();
    collect(session.get('/x'));
    peer.write(csm());
    peer.write(createPdu({ code: SignalCode.Ping, token: Uint8Array.from([7, 7]), options: [{ number: SignalOption.Custody, value: new Uint8Array(0) }] }));
    const pong = peer.received.find((pdu) => pdu.code === SignalCode.Pong)!;
    expect([...pong.token]).toEqual([7, 7]);
    expect(pong.options.map((o) => o.number)).toEqual([SignalOption.Custody]);
  });

  it('session.ping() sends a Ping and emits the round trip when the Pong comes', () => {
    const { scheduler, peer, session } = setup((pdu, p) => {
      if (pdu.code === SignalCode.Ping) scheduler.schedule(() => p.write(createPdu({ code: SignalCode.Pong, token: pdu.token })), 30);
    });
    scheduler.run(({ flush }) => {
      const rtt = collect(session.ping());
      peer.write(csm());
      flush();
      expect(rtt.values).toEqual([30]);
      expect(rtt.done).toBe(true);
    });
  });

  it("takes a tokenless Pong as the answer to the oldest Ping (libcoap 4.3.1 and 4.3.4 send one)", () => {
    const { scheduler, peer, session } = setup((pdu, p) => {
      if (pdu.code === SignalCode.Ping) scheduler.schedule(() => p.write(createPdu({ code: SignalCode.Pong })), 5);
    });
    scheduler.run(({ flush }) => {
      const first = collect(session.ping());
      const second = collect(session.ping());
      peer.write(csm());
      flush();
      expect([first.values, first.done, second.values, second.done]).toEqual([[5], true, [5], true]);
    });
  });

  it('fails in-flight work at once with reason released on a Release, with Alternative-Address and Hold-Off', () => {
    const { peer, session } = setup();
    const result = collect(session.get('/x'));
    peer.write(csm());
    const observation = collect(session.observe('/obs'));
    peer.write(
      createPdu({
        code: SignalCode.Release,
        options: [
          { number: SignalOption.AlternativeAddress, value: encodeString('coap+tcp://[::1]:5700') },
          { number: SignalOption.HoldOff, value: encodeUint(30) },
        ],
      }),
    );
    for (const each of [result, observation]) {
      expect(each.error).toMatchObject({ name: 'CoapTransportError', reason: 'released', alternativeAddresses: ['coap+tcp://[::1]:5700'], holdOff: 30 });
    }
    expect(peer.open).toBe(false);
  });

  it('fails everything with reason aborted and the diagnostic on an Abort', () => {
    const { peer, session } = setup();
    const result = collect(session.get('/x'));
    peer.write(csm());
    peer.write(createPdu({ code: SignalCode.Abort, payload: encodeString('going down') }));
    expect(result.error).toMatchObject({ reason: 'aborted', diagnostic: 'going down' });
    expect(result.error.message).toContain('going down');
  });

  it('aborts a malformed stream with a diagnostic, fails the request with a fatal CoapDecodeError and reconnects for the next', () => {
    let answering = false;
    const { peer, session, events } = setup((pdu, p) => answering && echoPath(pdu, p));
    const result = collect(session.get('/x'));
    peer.write(csm());
    peer.writeBytes(Uint8Array.from([0x0f, 0x45])); // TKL 15 is reserved (RFC 8974)
    const abort = peer.received.find((pdu) => pdu.code === SignalCode.Abort);
    expect(abort).toBeDefined();
    expect(Buffer.from(abort!.payload).toString()).toMatch(/invalid CoAP message/);
    expect(result.error).toMatchObject({ name: 'CoapDecodeError', fatal: true });
    expect(events.some((e) => e.type === 'bad-packet')).toBe(true);
    answering = true;
    const next = collect(session.get('/y'));
    peer.write(csm());
    expect(next.values.map((r) => r.text())).toEqual(['y']);
  });

  it('aborts with Bad-CSM-Option when the server CSM carries a critical option it does not understand (RFC 8323 §5.3)', () => {
    const { peer, session } = setup();
    const result = collect(session.get('/x'));
    peer.write(createPdu({ code: SignalCode.CSM, options: [{ number: 9, value: new Uint8Array(0) }] }));
    const abort = peer.received.find((pdu) => pdu.code === SignalCode.Abort)!;
    expect(abort.options.map((o) => [o.number, decodeUint(o.value)])).toEqual([[SignalOption.BadCsmOption, 9]]);
    expect(result.error).toMatchObject({ name: 'CoapTransportError', badCsmOption: 9 });
  });

  it('sends a Release when the session is released, after the deregistration of live observations', () => {
    const { peer, session } = setup();
    const observation = collect(session.observe('/obs'));
    peer.write(csm());
    const registration = peer.received.find((pdu) => pdu.code === Method.GET)!;
    peer.write(content(registration, 'v1', [{ number: 6, value: encodeUint(1) }]));
    session.release();
    const codes = peer.received.map((pdu) => pdu.code);
    expect(codes.slice(-2)).toEqual([Method.GET, SignalCode.Release]);
    const deregistration = peer.received[peer.received.length - 2];
    expect(deregistration.options.find((o) => o.number === 6)?.value).toEqual(encodeUint(1));
    expect([observation.values.length, observation.done, observation.error]).toEqual([1, true, undefined]);
  });

  it("honours the server's Max-Message-Size: block-wise bodies fit, a single message too large fails at once", () => {
    const { peer, session } = setup((pdu, p) => {
      if (pdu.code === Method.PUT) {
        const block1 = pdu.options.find((o) => o.number === 27)!;
        p.write(createPdu({ code: ResponseCode.Continue, token: pdu.token, options: [{ number: 27, value: block1.value }] }));
      }
    });
    expect(session.maxPduSize()).toBe(1146); // RFC 8323 §5.3.1: 1152 until the CSM says otherwise
    collect(session.put('/big', { payload: new Uint8Array(2000) }));
    peer.write(csm(300)); // requests wait for it, so even the first block fits
    expect(session.maxPduSize()).toBe(294);
    const puts = peer.received.filter((pdu) => pdu.code === Method.PUT);
    expect(puts.length).toBeGreaterThan(1);
    expect(puts.every((pdu) => encodeStreamFrame(pdu).length <= 300)).toBe(true);
    expect(decodeUint(puts[0].options.find((o) => o.number === 27)!.value) & 7).toBeLessThanOrEqual(4); // <= 256-byte blocks
  });

  it('refuses a message larger than the server Max-Message-Size when the library does no block-wise', () => {
    const { peer, session } = setup(undefined, {}, { useLibrary: false });
    const result = collect(session.put('/big', { payload: new Uint8Array(2000) }));
    peer.write(csm(300));
    expect(result.error).toMatchObject({ code: 'COAP_ERR_ENCODE' });
    expect(result.error.message).toContain('Max-Message-Size of 300 bytes');
  });

  it('keepalive: pings after each idle interval and fails with reason keepalive after 3 unanswered', () => {
    const { scheduler, peer, session } = setup(undefined, { keepalive: 10 });
    scheduler.run(({ flush }) => {
      let failedAt = -1;
      const observation = collect(session.observe('/obs'));
      observation.sub!.add(() => (failedAt = scheduler.now()));
      peer.write(csm());
      flush();
      expect(peer.received.filter((pdu) => pdu.code === SignalCode.Ping)).toHaveLength(3);
      expect(observation.error).toMatchObject({ name: 'CoapTransportError', reason: 'keepalive' });
      expect(failedAt).toBe(50_000); // the CSM at 0 counts as traffic: idle from 10 s, pings at 20, 30, 40 s
    });
  });

  it('keepalive: a peer that answers keeps the session up', () => {
    const { scheduler, peer, session } = setup((pdu, p) => {
      if (pdu.code === SignalCode.Ping) p.write(createPdu({ code: SignalCode.Pong, token: pdu.token }));
    }, { keepalive: 10 });
    scheduler.run(({ flush }) => {
      const observation = collect(session.observe('/obs'));
      peer.write(csm());
      scheduler.schedule(() => {
        expect(observation.error).toBeUndefined();
        observation.sub!.unsubscribe();
        session.release();
      }, 120_000);
      flush();
      expect(peer.received.filter((pdu) => pdu.code === SignalCode.Ping).length).toBeGreaterThanOrEqual(5);
    });
  });

  it('fails every exchange at once when the connection is lost, and the next request connects again', () => {
    let answering = false;
    const { peer, session } = setup((pdu, p) => answering && echoPath(pdu, p));
    const result = collect(session.get('/x'));
    peer.write(csm());
    const observation = collect(session.observe('/obs'));
    const lost = new Error('ECONNRESET');
    peer.fail(lost);
    answering = true;
    expect(result.error).toBe(lost);
    expect(observation.error).toBe(lost);
    const next = collect(session.get('/again'));
    peer.write(csm());
    expect(next.values.map((r) => r.text())).toEqual(['again']);
  });

  describe('BERT (RFC 8323 §6)', () => {
    it('uploads in BERT messages (SZX 7, multiples of 1024 bytes, NUM in 1024-byte units) when both CSMs carry Block-Wise-Transfer', () => {
      const { peer, session } = setup((pdu, p) => {
        if (pdu.code !== Method.PUT) return;
        const block1 = pdu.options.find((o) => o.number === 27)!;
        const more = (decodeUint(block1.value) & 8) !== 0;
        p.write(createPdu({ code: more ? ResponseCode.Continue : ResponseCode.Changed, token: pdu.token, options: [{ number: 27, value: block1.value }] }));
      });
      const result = collect(session.put('/big', { payload: new Uint8Array(20_000).map((_, i) => i & 0xff) }));
      peer.write(csm(8192, true));
      const puts = peer.received.filter((pdu) => pdu.code === Method.PUT);
      const blocks = puts.map((pdu) => decodeUint(pdu.options.find((o) => o.number === 27)!.value));
      expect(blocks.every((value) => (value & 7) === 7)).toBe(true);
      // 8192 - 6 header - options: 7 blocks (7168 bytes) per message; NUM counts 1024-byte blocks
      expect(puts.map((pdu) => pdu.payload.length)).toEqual([7168, 7168, 20_000 - 2 * 7168]);
      expect(blocks.map((value) => value >> 4)).toEqual([0, 7, 14]);
      expect(Buffer.concat(puts.map((pdu) => Buffer.from(pdu.payload)))).toEqual(Buffer.from(new Uint8Array(20_000).map((_, i) => i & 0xff)));
      expect(result.values.map((r) => r.codeText)).toEqual(['2.04']);
    });

    it('uses 1024-byte blocks when the server CSM has no Block-Wise-Transfer', () => {
      const { peer, session } = setup((pdu, p) => {
        if (pdu.code !== Method.PUT) return;
        const block1 = pdu.options.find((o) => o.number === 27)!;
        const more = (decodeUint(block1.value) & 8) !== 0;
        p.write(createPdu({ code: more ? ResponseCode.Continue : ResponseCode.Changed, token: pdu.token, options: [{ number: 27, value: block1.value }] }));
      });
      collect(session.put('/big', { payload: new Uint8Array(5000) }));
      peer.write(csm(8192, false));
      const puts = peer.received.filter((pdu) => pdu.code === Method.PUT);
      expect(puts.map((pdu) => decodeUint(pdu.options.find((o) => o.number === 27)!.value) & 7)).toEqual([6, 6, 6, 6, 6]);
    });

    it('downloads a body the server sends in BERT blocks and asks for the next at the right NUM', () => {
      const body = Uint8Array.from({ length: 7000 }, (_, i) => (i * 7) & 0xff);
      const { peer, session } = setup((pdu, p) => {
        if (pdu.code !== Method.GET) return;
        const asked = pdu.options.find((o) => o.number === 23);
        const num = asked === undefined ? 0 : decodeUint(asked.value) >> 4;
        const offset = num * 1024;
        const end = Math.min(offset + 3072, body.length);
        const more = end < body.length;
        p.write(
          createPdu({
            code: ResponseCode.Content,
            token: pdu.token,
            options: [{ number: 23, value: encodeUint((num << 4) | (more ? 8 : 0) | 7) }],
            payload: body.subarray(offset, end),
          }),
        );
      });
      const result = collect(session.get('/big'));
      peer.write(csm(8192, true));
      const asked = peer.received.filter((pdu) => pdu.code === Method.GET).map((pdu) => pdu.options.find((o) => o.number === 23));
      expect(asked.map((option) => (option === undefined ? -1 : decodeUint(option.value) >> 4))).toEqual([-1, 3, 6]);
      expect(result.values).toHaveLength(1);
      expect(Buffer.from(result.values[0].payload)).toEqual(Buffer.from(body));
    });
  });

  describe('reconnect (opt-in)', () => {
    /** Registrations get a 2.05 with Observe 1; every later notification the test writes itself. */
    const observing = (pdu: CoapPdu, peer: StreamPeer): void => {
      if (pdu.code === Method.GET) {
        const observe = pdu.options.find((o) => o.number === 6);
        if (observe !== undefined && decodeUint(observe.value) === 0) peer.write(content(pdu, 'registered', [{ number: 6, value: encodeUint(1) }]));
      }
    };

    it('reconnects with back-off, sends its CSM again and re-registers live observations on the same Observable', () => {
      const { scheduler, peer, session, events } = setup(observing, { reconnect: { initialDelay: 1000, maxDelay: 4000 } });
      const states: string[] = [];
      session.state$.subscribe((state) => states.push(state));
      scheduler.run(({ flush }) => {
        const observation = collect(session.observe('/obs'));
        const request = collect(session.get('/pending'));
        peer.write(csm());
        expect(observation.values.map((r) => r.text())).toEqual(['registered']);
        scheduler.schedule(() => peer.fail(new Error('ECONNRESET')), 100);
        // The first reconnect (at 1100 ms) finds no CSM at once; the server answers it 50 ms later.
        scheduler.schedule(() => peer.write(csm()), 1150);
        // Stop before Max-Age (60 s) re-registers: flush would run that forever.
        scheduler.schedule(() => observation.sub!.unsubscribe(), 5000);
        flush();
        expect(request.error).toMatchObject({ message: 'ECONNRESET' }); // requests in flight fail: they may not be safe to repeat
        expect(observation.error).toBeUndefined();
        expect(observation.values.map((r) => r.text())).toEqual(['registered', 'registered']);
        const registrations = peer.received.filter((pdu) => pdu.code === Method.GET && pdu.options.some((o) => o.number === 6 && o.value.length === 0));
        expect(registrations).toHaveLength(2); // Observe=0 on both connections (then Observe=1 at the unsubscribe)
        expect(peer.received.filter((pdu) => pdu.code === SignalCode.CSM)).toHaveLength(2);
        expect(events.filter((e) => e.type.startsWith('reconnect'))).toEqual([
          { type: 'reconnecting', attempt: 1, delay: 1000, error: expect.any(Error) },
          { type: 'reconnected', attempts: 1 },
        ]);
        expect(states).toEqual(['idle', 'connecting', 'connected', 'reconnecting', 'connected']);
      });
    });

    it('gives up after maxAttempts with reconnect-failed, and the observation fails then', () => {
      const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
      let connections = 0;
      const peer = streamPeer(observing);
      // After the first connection every attempt fails at once (nothing listens any more).
      const factory: TransportFactory = () =>
        ++connections === 1 ? peer.factory() : new Observable<Transport>((subscriber) => subscriber.error(new Error('ECONNREFUSED')));
      const session = new CoapContext({ scheduler }).newClientSession({ server: 'coap+tcp://127.0.0.1', transport: factory, reconnect: { initialDelay: 100, maxAttempts: 3 } });
      const events: SessionEvent[] = [];
      session.events$.subscribe((e) => events.push(e));
      scheduler.run(({ flush }) => {
        let failedAt = -1;
        const observation = collect(session.observe('/obs'));
        observation.sub!.add(() => (failedAt = scheduler.now()));
        peer.write(csm());
        scheduler.schedule(() => peer.fail(new Error('ECONNRESET')), 10);
        flush();
        expect(events.filter((e) => e.type === 'reconnecting').map((e) => (e as { delay: number }).delay)).toEqual([100, 200, 400]);
        expect(events.find((e) => e.type === 'reconnect-failed')).toMatchObject({ attempts: 3 });
        expect(observation.error).toMatchObject({ message: 'ECONNREFUSED' });
        expect(failedAt).toBe(10 + 100 + 200 + 400);
        expect(session.state).toBe('idle');
      });
    });

    it('without reconnect, a lost connection fails the observation (the default)', () => {
      const { peer, session } = setup(observing);
      const observation = collect(session.observe('/obs'));
      peer.write(csm());
      peer.fail(new Error('ECONNRESET'));
      expect(observation.error).toMatchObject({ message: 'ECONNRESET' });
      expect(session.state).toBe('idle');
    });

    it('release() while reconnecting stops trying and ends the waiting observation', () => {
      const { scheduler, peer, session } = setup(observing, { reconnect: true });
      scheduler.run(({ flush }) => {
        const observation = collect(session.observe('/obs'));
        peer.write(csm());
        peer.fail(new Error('ECONNRESET'));
        scheduler.schedule(() => session.release(), 500);
        flush();
        expect(observation.error).toMatchObject({ code: 'COAP_ERR_SESSION_CLOSED' });
        expect(session.state).toBe('closed');
      });
    });
  });
});
