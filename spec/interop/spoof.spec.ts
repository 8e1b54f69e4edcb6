/**
 * Spoofing (RFC 7252 §11.4, §4.2, §5.3.2; the motivation of RFC 9175). Two kinds of attacker:
 *
 * - off-path, from another endpoint than the server: a response or an RST with the right token and message ID
 *   sent from another port or address must be ignored, and the real response delivered. The client's local
 *   port is read from the session's 'connected' event, token and message ID from what the test peer received;
 *   the peer answers late so the spoof arrives first.
 * - from the server's own address (a guessed message ID, or a confused server), played by a raw UDP "server"
 *   this spec controls: an ACK with another message ID, or with the request's message ID but another token or
 *   none (issue 16 finding 2), must be ignored, and the real ACK that follows delivered at once, not after
 *   EXCHANGE_LIFETIME; a NON or CON with a token no exchange holds is answered with RST and not delivered.
 */
import * as dgram from 'node:dgram';
import { filter, firstValueFrom, lastValueFrom, toArray, timeout, type Subscription } from 'rxjs';
import {
  CoapContext,
  EMPTY_CODE,
  MessageType,
  ResponseCode,
  createPdu,
  decodeDatagram,
  encodeDatagram,
  encodeString,
  type CoapPdu,
  type CoapResponse,
  type SessionEvent,
} from '../../src/node';
import { startTestPeer, type ReceivedPdu, type TestPeer } from '../../src/testing';
import { ipPeer } from '../helpers/ip-peer';

jest.setTimeout(15_000);

/** Sends one datagram from a fresh socket bound to `from` (port 0 = any) and closes it. */
function sendFrom(from: { address: string; port?: number }, to: { host: string; port: number }, bytes: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind(from.port ?? 0, from.address, () => {
      const sourcePort = socket.address().port;
      socket.send(bytes, to.port, to.host, (error) => {
        socket.close();
        if (error) reject(error);
        else resolve(sourcePort);
      });
    });
  });
}

function connectedEvent(events$: import('rxjs').Observable<SessionEvent>): Promise<Extract<SessionEvent, { type: 'connected' }>> {
  return firstValueFrom(events$.pipe(filter((e): e is Extract<SessionEvent, { type: 'connected' }> => e.type === 'connected')));
}

describe('spoofed responses from another endpoint', () => {
  let peer: TestPeer;
  let context: CoapContext;

  beforeAll(async () => {
    peer = await startTestPeer({ resources: [{ path: '/slow', get: 'real' }] });
    peer.setFault({ path: '/slow', delay: 300 });
  });

  afterAll(async () => {
    await context?.free();
    await peer?.close();
  });

  beforeEach(() => {
    context = new CoapContext();
  });

  afterEach(async () => {
    await context.free();
  });

  /** Starts GET /slow and resolves once the peer saw it, with the client's local endpoint. */
  async function startSlowGet(): Promise<{ seen: ReceivedPdu; local: { host: string; port: number }; responses: Promise<CoapResponse[]> }> {
    const session = context.newClientSession({ server: peer.uri() });
    const connected = connectedEvent(session.events$);
    const request = new Promise<ReceivedPdu>((resolve) => {
      const onRequest = (pdu: ReceivedPdu): void => {
        peer.off('request', onRequest);
        resolve(pdu);
      };
      peer.on('request', onRequest);
    });
    const responses = lastValueFrom(session.get('/slow').pipe(toArray(), timeout(5000)));
    const local = ipPeer((await connected).local);
    const seen = await request;
    expect(ipPeer(seen.source).port).toBe(local.port);
    return { seen, local, responses };
  }

  const sources: Array<[string, (peerPort: number) => { address: string; port?: number }]> = [
    ['from another port of the server address', () => ({ address: '127.0.0.1' })],
    ['from another loopback address with the server port', (peerPort) => ({ address: '127.0.0.2', port: peerPort })],
  ];

  it.each(sources)('ignores a response with the right token and message ID %s and delivers the real one', async (_, spoofSource) => {
    const { seen, local, responses } = await startSlowGet();
    const spoof = encodeDatagram(
      createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: seen.messageId, token: seen.token, payload: encodeString('spoofed') }),
    );
    const spoofPort = await sendFrom(spoofSource(peer.address.port), { host: local.host, port: local.port }, spoof);
    expect(spoofPort).toBeGreaterThan(0);

    const received = await responses;
    expect(received.map((r) => [r.codeText, r.text()])).toEqual([['2.05', 'real']]);
    expect(received[0].remote).toEqual({ host: '127.0.0.1', port: peer.address.port });
  });

  it.each(sources)('ignores an RST with the request message ID %s and delivers the real response', async (_, spoofSource) => {
    const { seen, local, responses } = await startSlowGet();
    const spoof = encodeDatagram(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId: seen.messageId }));
    await sendFrom(spoofSource(peer.address.port), { host: local.host, port: local.port }, spoof);

    const received = await responses;
    expect(received.map((r) => [r.codeText, r.text()])).toEqual([['2.05', 'real']]);
  });
});

/** A datagram the raw server received. */
interface Received {
  readonly pdu: CoapPdu;
  readonly from: { readonly host: string; readonly port: number };
}

/**
 * A UDP "server" under the spec's control: it records what it receives (decoded) and sends exactly what the spec
 * tells it to, from its own address and port, which is the session's peer.
 */
class RawServer {
  readonly received: Received[] = [];
  readonly #waiters = new Set<() => void>();

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (message, remote) => {
      try {
        this.received.push({ pdu: decodeDatagram(new Uint8Array(message)), from: { host: remote.address, port: remote.port } });
      } catch {
        return;
      }
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static start(): Promise<RawServer> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new RawServer(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The first datagram received (before or after now) that matches, within `limit` ms. */
  next(matches: (pdu: CoapPdu) => boolean, limit = 3000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.received.find((r) => matches(r.pdu));
        if (found === undefined) return false;
        this.#waiters.delete(wake);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`no matching datagram within ${limit} ms`));
      }, limit);
      this.#waiters.add(wake);
      check();
    });
  }

  send(pdu: CoapPdu, to: { host: string; port: number }): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(encodeDatagram(pdu), to.port, to.host, (error) => (error ? reject(error) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

describe('spoofed messages from the server address (a raw server plays the attacker and the server)', () => {
  let server: RawServer;
  let context: CoapContext;
  const subscriptions: Subscription[] = [];

  beforeEach(async () => {
    server = await RawServer.start();
    context = new CoapContext();
  });

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    await context.free();
    await server.close();
  });

  /** What the client delivered for one request, with the time of each delivery. */
  interface Delivery {
    readonly responses: Array<{ response: CoapResponse; at: number }>;
    error: unknown;
    events: SessionEvent[];
  }

  /** Starts GET /x and resolves with the request as the server received it. */
  async function startGet(): Promise<{ request: Received; delivery: Delivery }> {
    const session = context.newClientSession({ server: `coap://127.0.0.1:${server.port}` });
    const delivery: Delivery = { responses: [], error: undefined, events: [] };
    subscriptions.push(session.events$.subscribe((event) => delivery.events.push(event)));
    subscriptions.push(
      session.get('/x').subscribe({
        next: (response) => delivery.responses.push({ response, at: performance.now() }),
        error: (error: unknown) => (delivery.error = error),
      }),
    );
    const request = await server.next((pdu) => pdu.type === MessageType.CON && pdu.code === 1);
    return { request, delivery };
  }

  /** Sends the real piggybacked response after `delay` ms and resolves with the time it was sent. */
  async function answerLater(request: Received, delay: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, delay));
    const sentAt = performance.now();
    await server.send(
      createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: request.pdu.messageId, token: request.pdu.token, payload: encodeString('real') }),
      request.from,
    );
    return sentAt;
  }

  /** Waits until the request delivered something or failed, at most `limit` ms. */
  async function settled(delivery: Delivery, limit: number): Promise<void> {
    const deadline = performance.now() + limit;
    while (delivery.responses.length === 0 && delivery.error === undefined && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  function otherToken(token: Uint8Array): Uint8Array {
    const other = Uint8Array.from(token);
    other[0] ^= 0xff;
    return other.length > 0 ? other : Uint8Array.of(0xbe, 0xef);
  }

  const spoofedAcks: Array<[string, (request: CoapPdu) => CoapPdu]> = [
    [
      'another message ID and the right token',
      (request) => createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: (request.messageId + 1) & 0xffff, token: request.token, payload: encodeString('spoofed') }),
    ],
    [
      'the right message ID and another token',
      (request) => createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: request.messageId, token: otherToken(request.token), payload: encodeString('spoofed') }),
    ],
    [
      'the right message ID and an empty token',
      (request) => createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: request.messageId, token: new Uint8Array(0), payload: encodeString('spoofed') }),
    ],
  ];

  it.each(spoofedAcks)('ignores a piggybacked ACK with %s and delivers the real ACK that follows at once (issue 16 finding 2)', async (_, spoofOf) => {
    const { request, delivery } = await startGet();
    expect(request.pdu.token.length).toBeGreaterThan(0);
    const spoof = spoofOf(request.pdu);
    await server.send(spoof, request.from);

    const realSentAt = await answerLater(request, 300);
    await settled(delivery, 2000);

    expect(delivery.error).toBeUndefined();
    expect(delivery.responses.map(({ response }) => [response.codeText, response.text()])).toEqual([['2.05', 'real']]);
    // At once: not after a retransmission (>= 2 s), nor EXCHANGE_LIFETIME (247 s) later.
    expect(delivery.responses[0].at - realSentAt).toBeLessThan(1000);
    // RFC 7252 §4.2: an ACK is never answered with RST, whatever it holds; it is silently ignored.
    expect(server.received.filter((r) => r.pdu.type === MessageType.RST)).toEqual([]);
  });

  const unknownTokens: Array<['NON' | 'CON', MessageType]> = [
    ['NON', MessageType.NON],
    ['CON', MessageType.CON],
  ];

  it.each(unknownTokens)('answers a %s response with a token no exchange holds with RST and does not deliver it', async (_, type) => {
    const { request, delivery } = await startGet();
    const strayMessageId = (request.pdu.messageId + 0x8000) & 0xffff;
    await server.send(
      createPdu({ type, code: ResponseCode.Content, messageId: strayMessageId, token: otherToken(request.pdu.token), payload: encodeString('stray') }),
      request.from,
    );
    const rst = await server.next((pdu) => pdu.type === MessageType.RST && pdu.messageId === strayMessageId, 1000);
    expect(rst.pdu.code).toBe(EMPTY_CODE);
    expect(rst.pdu.token.length).toBe(0);
    expect(delivery.responses).toEqual([]);

    const realSentAt = await answerLater(request, 50);
    await settled(delivery, 2000);
    expect(delivery.error).toBeUndefined();
    expect(delivery.responses.map(({ response }) => [response.codeText, response.text()])).toEqual([['2.05', 'real']]);
    expect(delivery.responses[0].at - realSentAt).toBeLessThan(1000);
    expect(delivery.events).toContainEqual({ type: 'rejected', messageId: strayMessageId });
  });
});
