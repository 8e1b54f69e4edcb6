/**
 * The transport contract (`Transport`, `TransportFactory` in rxcoap) as one suite that any transport can run: ours
 * (udp, dtls, tcp, tls, ws, unix and the fake one) and yours. Framework-free: pass your test API
 * (`{ describe, it, beforeEach, afterEach, expect }` of jest, vitest or mocha with an expect library).
 *
 *   import { describeTransportContract, datagramPingContract } from 'rxcoap/testing';
 *   describeTransportContract('my radio', async () => ({ ...datagramPingContract, factory: myRadioTransport(port) }),
 *     { describe, it, beforeEach, afterEach, expect });
 *
 * The round trip is one every CoAP peer answers: on datagrams a CON GET of `/`, answered by an ACK (any code) or an
 * RST with the same message ID (RFC 7252 §4.2; three empty-CON pings in a row over DTLS to libcoap 4.3.1 did not
 * all come back here, a GET always does); on byte streams and WebSockets a 7.02 Ping, answered by a 7.03 Pong with the same token
 * (RFC 8323 §5.4). {@link datagramPingContract}, {@link streamPingContract} and
 * {@link webSocketPingContract} supply them; `setup` adds the factory (connected to such a peer).
 */
import { defer, firstValueFrom, mergeMap, take, toArray, type Observable } from 'rxjs';
import type { PeerAddress } from '../errors';
import { createPdu, MessageType, Method, SignalCode, type CoapPdu } from '../codec/pdu';
import { decodeStreamFrame, encodeStreamFrame, StreamDeframer } from '../codec/stream-codec';
import { decodeDatagram, encodeDatagram } from '../codec/udp-codec';
import { decodeWsMessage, encodeWsMessage } from '../codec/ws-codec';
import type { Transport, TransportFactory } from '../transport/transport';

/** What a transport under test needs around it. */
export interface ContractSetup {
  /** A factory connected to a peer that answers `request`. */
  readonly factory: TransportFactory;
  /** Whether the transport carries datagrams (false) or a byte stream / WS messages (true). */
  readonly reliable: boolean;
  /** The frame of a request with number `id` (a message ID, or a token on reliable transports), as sent. */
  readonly request: (id: number) => Uint8Array;
  /** True when `frame` answers the request with number `id`. */
  readonly isAnswer: (frame: Uint8Array, id: number) => boolean;
  /**
   * Byte streams: `frames$` emits chunks cut anywhere, so the round trips split them into the messages
   * `isAnswer` judges. Called once per subscription; returns a stateful splitter (chunk in, complete messages
   * out), which may also drop messages that are not answers (a peer's CSM). Absent: one frame is one message.
   */
  readonly deframe?: () => (chunk: Uint8Array) => readonly Uint8Array[];
}

/** The assertions the suite makes: a subset of jest's and vitest's `expect`. */
export interface ContractExpect {
  (actual: unknown): {
    toBe(expected: unknown): void;
    toEqual(expected: unknown): void;
    toBeGreaterThanOrEqual(expected: number): void;
    not: { toBe(expected: unknown): void; toThrow(): void };
  };
}

/** The test framework, passed in: jest's, vitest's or mocha's globals. */
export interface ContractTestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void>): void;
  beforeEach(body: () => Promise<void>): void;
  afterEach(body: () => Promise<void>): void;
  readonly expect: ContractExpect;
}

/** The datagram round trip: a CON GET of `/`, answered by an ACK or RST with the same message ID. */
export const datagramPingContract: Omit<ContractSetup, 'factory'> = {
  reliable: false,
  request: (id) => encodeDatagram(createPdu({ type: MessageType.CON, code: Method.GET, messageId: id })),
  isAnswer: (frame, id) => {
    const pdu = safely(decodeDatagram, frame);
    return pdu !== undefined && (pdu.type === MessageType.ACK || pdu.type === MessageType.RST) && pdu.messageId === id;
  },
};

/** The byte-stream round trip (RFC 8323 §5.4): a 7.02 Ping with token `id`, answered by a 7.03 Pong; CSMs dropped. */
export const streamPingContract: Omit<ContractSetup, 'factory'> = {
  reliable: true,
  request: (id) => encodeStreamFrame(signalPing(id)),
  isAnswer: (frame, id) => isPong(safely(decodeStreamFrame, frame), id),
  deframe() {
    const deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
    return (chunk) =>
      deframer
        .push(chunk)
        .filter((pdu) => pdu.code !== SignalCode.CSM)
        .map((pdu) => encodeStreamFrame(pdu));
  },
};

/** The WebSocket round trip (RFC 8323 §4, §5.4): one message per frame, Ping and Pong as on streams. */
export const webSocketPingContract: Omit<ContractSetup, 'factory'> = {
  reliable: true,
  request: (id) => encodeWsMessage(signalPing(id)),
  isAnswer: (frame, id) => isPong(safely(decodeWsMessage, frame), id),
  deframe() {
    return (frame) => (safely(decodeWsMessage, frame)?.code === SignalCode.CSM ? [] : [frame]);
  },
};

function signalPing(id: number): CoapPdu {
  return createPdu({ code: SignalCode.Ping, token: Uint8Array.of(id >> 8, id & 0xff) });
}

function isPong(pdu: CoapPdu | undefined, id: number): boolean {
  return pdu !== undefined && pdu.code === SignalCode.Pong && pdu.token.length === 2 && pdu.token[0] === id >> 8 && pdu.token[1] === (id & 0xff);
}

function safely(decode: (bytes: Uint8Array) => CoapPdu, bytes: Uint8Array): CoapPdu | undefined {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}

/** True for a well-formed peer address: an IP host and port, or a socket path (an id of a custom link). */
function isPeerAddress(address: PeerAddress | undefined, local = false): boolean {
  if (address === undefined || address === null) return false;
  // A Unix stream client's own side may be unnamed: the empty path.
  if ('path' in address) return typeof address.path === 'string' && (local || address.path.length > 0);
  return typeof address.host === 'string' && Number.isInteger(address.port) && address.port >= 0 && address.port <= 65535;
}

/**
 * Registers the contract cases for one transport under `describe('transport contract: <name>')`. `setup` runs before
 * each case (start a peer, return the factory and the round trip), `teardown` after it.
 */
export function describeTransportContract(
  name: string,
  setup: () => Promise<ContractSetup> | ContractSetup,
  test: ContractTestApi,
  teardown: () => Promise<void> | void = () => undefined,
): void {
  const { describe, it, beforeEach, afterEach, expect } = test;
  describe(`transport contract: ${name}`, () => {
    let context: ContractSetup;

    beforeEach(async () => {
      context = await setup();
    });

    afterEach(async () => {
      await teardown();
    });

    /** The messages of `frames$`: the frames themselves, or the chunks split by `deframe`. */
    const messages = (transport: Transport): Observable<Uint8Array> => {
      const deframe = context.deframe;
      if (deframe === undefined) return transport.frames$;
      return defer(() => {
        const split = deframe();
        return transport.frames$.pipe(mergeMap((chunk) => split(chunk)));
      });
    };

    const open = (): Promise<{ transport: Transport; close: () => void }> =>
      new Promise((resolve, reject) => {
        const subscription = context.factory().subscribe({
          next: (transport) => resolve({ transport, close: () => subscription.unsubscribe() }),
          error: reject,
        });
      });

    it('is cold: nothing happens until subscribed, and each subscription opens its own connection', async () => {
      const factory$: Observable<Transport> = context.factory();
      const a = await firstValueFrom(factory$);
      const b = await firstValueFrom(factory$);
      expect(a).not.toBe(b);
    });

    it('emits one transport with both addresses and its kind', async () => {
      const { transport, close } = await open();
      try {
        expect(transport.reliable).toBe(context.reliable);
        expect(isPeerAddress(transport.remote)).toBe(true);
        expect(isPeerAddress(transport.local, true)).toBe(true);
        expect(transport.maxFrameOverhead).toBeGreaterThanOrEqual(0);
        expect(transport.framing === undefined || ['datagram', 'stream', 'websocket'].includes(transport.framing)).toBe(true);
      } finally {
        close();
      }
    });

    it('carries a frame to the peer and the answer back on frames$', async () => {
      const { transport, close } = await open();
      try {
        const answer = firstValueFrom(messages(transport).pipe(take(1)));
        transport.send(context.request(0x1234));
        expect(context.isAnswer(await answer, 0x1234)).toBe(true);
      } finally {
        close();
      }
    });

    it('keeps the count of several round trips and answers each', async () => {
      const { transport, close } = await open();
      try {
        const answers = firstValueFrom(messages(transport).pipe(take(3), toArray()));
        for (const id of [1, 2, 3]) transport.send(context.request(id));
        const frames = await answers;
        expect([1, 2, 3].every((id) => frames.some((frame) => context.isAnswer(frame, id)))).toBe(true);
      } finally {
        close();
      }
    });

    it('stops delivering frames once unsubscribed, and sending after that is a no-op', async () => {
      const { transport, close } = await open();
      const seen: Uint8Array[] = [];
      transport.frames$.subscribe((frame) => seen.push(frame));
      close();
      expect(() => transport.send(context.request(9))).not.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([]);
    });
  });
}
