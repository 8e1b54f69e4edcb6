/**
 * The reliable stack with WebSocket framing (RFC 8323 §4), in virtual time, on a scripted transport that carries
 * one message per frame (`framing: 'websocket'`): what libcoap 4.3.4's WebSocket server needs (no message of 2
 * bytes or less: a CSM with Max-Message-Size, Pings with a token; nothing over the server's Max-Message-Size), our
 * own Max-Message-Size on receive, Abort for a malformed message, keepalive Pings.
 */
import { Observable, Subject, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CoapContext } from '../../src/context';
import { SignalOption } from '../../src/codec/option-numbers';
import { decodeString, decodeUint, encodeString, encodeUint } from '../../src/codec/option-values';
import { Method, ResponseCode, SignalCode, createPdu, getOption, type CoapPdu } from '../../src/codec/pdu';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';
import type { Transport, TransportFactory } from '../../src/transport/transport';

interface WsPeer {
  readonly factory: TransportFactory;
  /** Messages the client sent, raw. */
  readonly frames: Uint8Array[];
  /** The same, decoded. */
  readonly received: CoapPdu[];
  write(pdu: CoapPdu): void;
  writeBytes(bytes: Uint8Array): void;
  readonly open: boolean;
}

function wsPeer(answer?: (pdu: CoapPdu, peer: WsPeer) => void): WsPeer {
  let frames$: Subject<Uint8Array> | undefined;
  const peer: WsPeer = {
    frames: [],
    received: [],
    factory: () =>
      new Observable<Transport>((subscriber) => {
        frames$ = new Subject<Uint8Array>();
        subscriber.next({
          frames$: frames$.asObservable(),
          send(frame) {
            peer.frames.push(frame.slice());
            const pdu = decodeWsMessage(frame);
            peer.received.push(pdu);
            answer?.(pdu, peer);
          },
          events$: new Subject<never>(),
          maxFrameOverhead: 0,
          reliable: true,
          framing: 'websocket',
          local: { host: '127.0.0.1', port: 40000 },
          remote: { host: '127.0.0.1', port: 80 },
        });
        return () => {
          frames$ = undefined;
        };
      }),
    write(pdu) {
      frames$?.next(encodeWsMessage(pdu));
    },
    writeBytes(bytes) {
      frames$?.next(bytes);
    },
    get open() {
      return frames$ !== undefined;
    },
  };
  return peer;
}

const csm = (maxMessageSize: number, blockWise = true): CoapPdu =>
  createPdu({
    code: SignalCode.CSM,
    options: [
      { number: SignalOption.MaxMessageSize, value: encodeUint(maxMessageSize) },
      ...(blockWise ? [{ number: SignalOption.BlockWiseTransfer, value: new Uint8Array(0) }] : []),
    ],
  });

function setup(answer?: (pdu: CoapPdu, peer: WsPeer) => void, sessionOptions: { keepalive?: number } = {}) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  const peer = wsPeer(answer);
  const ctx = new CoapContext({ scheduler });
  const session = ctx.newClientSession({ server: 'coap+ws://127.0.0.1', transport: peer.factory, ...sessionOptions });
  return { scheduler, peer, ctx, session };
}

function collect<T>(source: Observable<T>) {
  const out: { values: T[]; error?: any; done: boolean; sub?: Subscription } = { values: [], done: false };
  out.sub = source.subscribe({ next: (v) => out.values.push(v), error: (e) => (out.error = e), complete: () => (out.done = true) });
  return out;
}

describe('reliable stack over WebSockets (one message per frame)', () => {
  it('is a ws session on port 80 whose first message is a CSM with Max-Message-Size (never 2 bytes or less)', () => {
    const { peer, session } = setup();
    expect(session.proto).toBe('ws');
    collect(session.get('/x'));
    expect(peer.received.map((pdu) => pdu.code)).toEqual([SignalCode.CSM]);
    expect(peer.frames[0][0] >> 4).toBe(0); // RFC 8323 §4.2: Len is 0
    expect(peer.frames[0].length).toBeGreaterThan(2);
    expect(decodeUint(getOption(peer.received[0], SignalOption.MaxMessageSize)!)).toBe(65536);
  });

  it('holds requests until the server CSM, then sends each as one message', () => {
    const { peer, session } = setup((pdu, p) => {
      if (pdu.code === Method.GET) p.write(createPdu({ code: ResponseCode.Content, token: pdu.token, payload: encodeString('ok') }));
    });
    const result = collect(session.get('/x'));
    expect(result.values).toEqual([]);
    peer.write(csm(1152));
    expect(peer.received.map((pdu) => pdu.code)).toEqual([SignalCode.CSM, Method.GET]);
    expect(result.values.map((r) => r.text())).toEqual(['ok']);
  });

  it('pings with a token, so no Ping is a 2-byte message', () => {
    const { scheduler, peer, session } = setup((pdu, p) => {
      if (pdu.code === SignalCode.Ping) p.write(createPdu({ code: SignalCode.Pong }));
    });
    scheduler.run(({ flush }) => {
      const rtt = collect(session.ping());
      peer.write(csm(1152));
      flush();
      expect(rtt.done).toBe(true);
    });
    const ping = peer.frames[peer.received.findIndex((pdu) => pdu.code === SignalCode.Ping)];
    expect(ping.length).toBeGreaterThan(2);
  });

  it("uploads in messages that fit the server's Max-Message-Size of 1152 (libcoap -X 1152)", () => {
    const stored: number[] = [];
    const { peer, session } = setup((pdu, p) => {
      if (pdu.code !== Method.PUT) return;
      stored.push(...pdu.payload);
      const block1 = getOption(pdu, 27);
      const more = block1 !== undefined && (block1[block1.length - 1] & 0x08) !== 0;
      p.write(createPdu({ code: more ? ResponseCode.Continue : ResponseCode.Changed, token: pdu.token, options: block1 === undefined ? [] : [{ number: 27, value: block1 }] }));
    });
    const result = collect(session.put('/up', { payload: new Uint8Array(5000).fill(7) }));
    peer.write(csm(1152));
    expect(result.error).toBeUndefined();
    expect(result.values.map((r) => r.codeText)).toEqual(['2.04']);
    expect(stored).toHaveLength(5000);
    expect(Math.max(...peer.frames.map((frame) => frame.length))).toBeLessThanOrEqual(1152);
  });

  it('aborts a message larger than our Max-Message-Size and fails with MESSAGE_TOO_LARGE', () => {
    const { peer, session } = setup();
    const result = collect(session.get('/x'));
    peer.write(csm(1152));
    const request = peer.received.find((pdu) => pdu.code === Method.GET)!;
    peer.write(createPdu({ code: ResponseCode.Content, token: request.token, payload: new Uint8Array(70_000) }));
    expect(result.error).toMatchObject({ code: 'COAP_ERR_DECODE', reason: 'MESSAGE_TOO_LARGE', fatal: true });
    const abort = peer.received.find((pdu) => pdu.code === SignalCode.Abort);
    expect(decodeString(abort!.payload)).toMatch(/WebSocket message of \d+ bytes exceeds the maximum message size 65536/);
    expect(peer.open).toBe(false);
  });

  it('aborts a message with a Len field (RFC 8323 §4.2: it must be 0) and one shorter than its header', () => {
    for (const bytes of [Uint8Array.of(0x10, 0x45, 0x00), Uint8Array.of(0x00)]) {
      const { peer, session } = setup();
      const result = collect(session.get('/x'));
      peer.write(csm(1152));
      peer.writeBytes(bytes);
      expect(result.error).toMatchObject({ code: 'COAP_ERR_DECODE', fatal: true });
      expect(peer.received.some((pdu) => pdu.code === SignalCode.Abort)).toBe(true);
    }
  });

  it('sends keepalive Pings with a token when the server is silent', () => {
    const { scheduler, peer, session } = setup(undefined, { keepalive: 10 });
    scheduler.run(({ flush }) => {
      collect(session.get('/x'));
      peer.write(csm(1152));
      scheduler.schedule(() => session.release(), 25_000);
      flush();
    });
    const pings = peer.received.filter((pdu) => pdu.code === SignalCode.Ping);
    expect(pings.length).toBeGreaterThan(0);
    expect(pings.every((pdu) => pdu.token.length > 0)).toBe(true);
  });
});
