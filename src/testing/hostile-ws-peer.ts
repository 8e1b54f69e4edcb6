/**
 * A hostile CoAP-over-WebSockets peer on loopback (`rxcoap/testing`, RFC 8323 §4): the hostile responder's answers
 * in WebSocket framing (`createHostileResponder` with {@link webSocketFraming}: mutated messages, drops,
 * duplicates, late answers, other tokens, notifications, unsolicited messages) plus what only a WebSocket allows:
 *
 * - the upgrade refused (HTTP 400/404/503) or accepted without the coap subprotocol;
 * - its CSM missing, late, mutated, with Max-Message-Size 0 or 2^32-1, or sent as a text message;
 * - text messages, empty binary messages, messages of 70 KB to 2 MB (over the client's Max-Message-Size and its
 *   WebSocket limit), a raw frame header announcing 2^53 - 1 bytes that never come, answers cut into fragments;
 * - raw bytes that break the WebSocket framing (reserved bits, unknown opcodes, a masked server frame);
 * - WebSocket Ping floods and unsolicited Pongs, close frames with odd codes and reasons, connections dropped.
 *
 * Every connection draws from its own seed (`hostileStreamConnectionSeed(seed, n)`), so a connection that broke a
 * client replays alone. With `tls` it is all of that over HTTPS (`coaps+ws://`, PSK or certificates, as the test
 * peer's WSS listener takes them): the raw-byte hazards then break the WebSocket inside TLS, where a client's
 * parser sees them. Node only (`ws`, `node:http`, `node:https`); real timers, cleared by `close()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { SignalOption } from '../codec/option-numbers';
import { encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, SignalCode, type CoapPdu } from '../codec/pdu';
import { decodeWsMessage, encodeWsMessage } from '../codec/ws-codec';
import { webSocketFraming, writeRawBody, type RawOption } from './hostile-framing';
import { createHostileResponder, type HostileDatagram, type HostileResponder, type HostileResponderOptions, type HostileStats } from './hostile-responder';
import { addCounts, addStats, emptyStats, hostileStreamConnectionSeed } from './hostile-stream-peer';
import { assertLoopback, formatAuthority, type LoopbackHost } from './loopback';
import { chance, mutateResponse, pick, randomBytes, randomInt } from './mutate';
import { seededRandom, type RandomSource } from './seeded-random';
import { listenOn, tlsServerOptions } from './stream-listener';
import type { TestTlsOptions } from './test-peer-api';
import { closeWebSocketServer } from './ws-listener';

/** Options of {@link startHostileWsPeer}. */
export interface HostileWsPeerOptions extends Omit<HostileResponderOptions, 'framing' | 'maxEndpoints'> {
  /** Loopback address to bind; anything else is rejected. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** Port; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
  /** Milliseconds between ticks (notifications, unsolicited messages). @defaultValue 20 */
  readonly tickInterval?: number;
  /** Share (0..1) of upgrades refused or accepted without the coap subprotocol. @defaultValue 0.05 */
  readonly handshakeFaultRate?: number;
  /** Share (0..1) of connections whose CSM is not a plain, prompt one. @defaultValue 0.3 */
  readonly csmFaultRate?: number;
  /** Probability (0..1) per request of a WebSocket hazard beside (or instead of) its answer. @defaultValue 0.15 */
  readonly hazardRate?: number;
  /** `coaps+ws`: serve over HTTPS with these credentials (PSK and/or a certificate, as the test peer takes them). */
  readonly tls?: TestTlsOptions;
}

/** Counters of a hostile WS peer. */
export interface HostileWsPeerStats extends HostileStats {
  /** Upgrades accepted. */
  connections: number;
  /** Upgrades refused or accepted without the subprotocol, by kind. */
  readonly handshakes: Record<string, number>;
  /** Connections by CSM plan. */
  readonly csmPlans: Record<string, number>;
  /** WebSocket hazards by kind. */
  readonly hazards: Record<string, number>;
  /** Binary messages sent. */
  messagesSent: number;
  /** Client messages that did not decode (the connection is dropped). */
  clientMalformed: number;
  /** TLS handshakes that failed (`tls` only). */
  tlsFailures: number;
}

/** A running hostile WS peer. Create with {@link startHostileWsPeer}. */
export interface HostileWsPeer {
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  readonly stats: Readonly<HostileWsPeerStats>;
  readonly openConnections: number;
  /** True with `tls` (`coaps+ws`). */
  readonly secure: boolean;
  /** `'coap+ws://127.0.0.1:PORT/path'` (`coaps+ws` with `tls`). */
  uri(path?: string): string;
  /** Stops the ticks and every pending send, destroys every connection and closes the server. */
  close(): Promise<void>;
}

/**
 * Starts a hostile CoAP-over-WebSockets peer on a loopback port.
 * @throws CoapArgumentError (as a rejection) for a non-loopback host
 */
export async function startHostileWsPeer(options: HostileWsPeerOptions = {}): Promise<HostileWsPeer> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the hostile WS peer host');
  const peer = new WsPeer(host, options);
  await peer.listen(options.port ?? 0);
  return peer;
}

const CSM_PLANS = ['late', 'missing', 'mutated', 'mms-zero', 'mms-huge', 'text', 'empty', 'twice'] as const;
const HAZARDS = [
  'text',
  'empty',
  'oversize',
  'absurd-length',
  'fragmented',
  'raw-garbage',
  'masked-frame',
  'ws-ping-flood',
  'ws-pong',
  'close-odd',
  'terminate',
  'unknown-signal',
  'abort',
  'release',
] as const;
const ODD_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4000, 4999];
const encoder = new TextEncoder();

/** A signal message in WebSocket framing, fields unchecked. */
function signal(code: number, options: RawOption[], payload: Uint8Array | undefined, token: Uint8Array = EMPTY_BYTES): Uint8Array {
  return webSocketFraming.encode({ type: 0, code, messageId: 0, token, body: writeRawBody(options, payload) });
}

class HostileWsConnection {
  readonly id: number;
  readonly responder: HostileResponder;
  readonly hazards: Record<string, number> = {};
  readonly csm: string;
  closed = false;
  readonly #webSocket: WebSocket;
  readonly #socket: Socket;
  readonly #random: RandomSource;
  readonly #hazardRate: number;
  readonly #peer: WsPeer;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(webSocket: WebSocket, socket: Socket, id: number, seed: number, peer: WsPeer, options: HostileWsPeerOptions) {
    this.id = id;
    this.#webSocket = webSocket;
    this.#socket = socket;
    this.#peer = peer;
    this.#random = seededRandom(seed ^ 0x2545f491);
    this.#hazardRate = options.hazardRate ?? 0.15;
    this.responder = createHostileResponder({ ...options, seed, framing: webSocketFraming, maxEndpoints: 1 });
    this.csm = chance(this.#random, options.csmFaultRate ?? 0.3) ? pick(this.#random, CSM_PLANS) : 'normal';
    webSocket.on('error', () => undefined);
    webSocket.on('close', () => this.#cleanup());
    webSocket.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
  }

  start(): void {
    const random = this.#random;
    const plain = (): Uint8Array => {
      const options: RawOption[] = [];
      const size = pick(random, [undefined, 1152, 4096, 65536]);
      if (size !== undefined) options.push({ number: SignalOption.MaxMessageSize, value: encodeUint(size) });
      if (chance(random, 0.5)) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
      return signal(SignalCode.CSM, options, undefined);
    };
    switch (this.csm) {
      case 'normal':
        return this.#send(plain());
      case 'late':
        return this.#after(randomInt(random, 30, 1500), () => this.#send(plain()));
      case 'missing':
        return;
      case 'mutated':
        return this.#send(mutateResponse(plain(), undefined, random, webSocketFraming).frame);
      case 'mms-zero':
        return this.#send(signal(SignalCode.CSM, [{ number: SignalOption.MaxMessageSize, value: chance(random, 0.5) ? EMPTY_BYTES : Uint8Array.of(0) }], undefined));
      case 'mms-huge':
        return this.#send(signal(SignalCode.CSM, [{ number: SignalOption.MaxMessageSize, value: Uint8Array.of(0xff, 0xff, 0xff, 0xff) }], undefined));
      case 'text':
        this.#webSocket.send(Buffer.from(plain()).toString('latin1'));
        return;
      case 'empty':
        return this.#send(EMPTY_BYTES);
      case 'twice':
        this.#send(plain());
        return this.#after(randomInt(random, 20, 300), () => this.#send(signal(SignalCode.CSM, [{ number: SignalOption.MaxMessageSize, value: encodeUint(pick(random, [0, 16, 1152, 0xffffffff])) }], undefined)));
    }
  }

  tick(): void {
    if (!this.closed) this.#run(this.responder.tick());
  }

  destroy(): void {
    this.#webSocket.terminate();
    this.#cleanup();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed || !isBinary) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
    let pdu: CoapPdu;
    try {
      pdu = decodeWsMessage(bytes);
    } catch {
      this.#peer.counters.clientMalformed++;
      this.destroy();
      return;
    }
    const answers = this.responder.receive(bytes, 'ws').filter((answer) => answer.kind !== 'csm');
    const isRequest = pdu.code >= 1 && pdu.code <= 31;
    if (isRequest && chance(this.#random, this.#hazardRate)) this.#hazard(answers);
    else this.#run(answers);
  }

  #run(answers: readonly HostileDatagram[]): void {
    for (const answer of answers) {
      if (answer.delay <= 0) this.#send(answer.frame);
      else this.#after(answer.delay, () => this.#send(answer.frame));
    }
  }

  #hazard(answers: readonly HostileDatagram[]): void {
    const random = this.#random;
    const kind = pick(random, HAZARDS);
    this.hazards[kind] = (this.hazards[kind] ?? 0) + 1;
    const withAnswers = (): void => this.#run(answers);
    switch (kind) {
      case 'text':
        // RFC 8323 §4.2: CoAP goes in binary messages; this one is text.
        this.#webSocket.send(chance(random, 0.5) ? 'hello' : Buffer.from(answers[0]?.frame ?? randomBytes(random, 8)).toString('latin1'));
        return withAnswers();
      case 'empty':
        this.#send(EMPTY_BYTES);
        return withAnswers();
      case 'oversize': {
        // Over the client's Max-Message-Size (64 KiB by default) or over its WebSocket limit (1 MiB by default).
        const size = pick(random, [70_000, 200_000, 1_100_000, 2_000_000]);
        const big = new Uint8Array(size);
        big.set(answers[0]?.frame.subarray(0, Math.min(size, answers[0].frame.length)) ?? [0x00, 0x45]);
        this.#send(big);
        return withAnswers();
      }
      case 'absurd-length': {
        // A binary frame announcing 2^53 - 1 bytes (RFC 6455 §5.2: 127, then 64 bits), then a few of them.
        const header = Uint8Array.of(0x82, 0x7f, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
        this.#raw(Buffer.concat([header, randomBytes(random, randomInt(random, 0, 40))]));
        return;
      }
      case 'fragmented': {
        // One message in several WebSocket fragments: still one CoAP message (RFC 6455 §5.4).
        for (const answer of answers) {
          const frame = answer.frame;
          const cut = frame.length <= 1 ? frame.length : randomInt(random, 1, frame.length - 1);
          this.#webSocket.send(frame.subarray(0, cut), { binary: true, fin: false });
          this.#webSocket.send(frame.subarray(cut), { binary: true, fin: true });
        }
        return;
      }
      case 'raw-garbage': {
        // Reserved bits, unknown opcodes, or noise where a frame header should be.
        const first = pick(random, [0xf2, 0x83, 0x8b, 0x0f, randomInt(random, 0, 255)]);
        this.#raw(Buffer.concat([Uint8Array.of(first, randomInt(random, 0, 125)), randomBytes(random, randomInt(random, 0, 60))]));
        return;
      }
      case 'masked-frame': {
        // RFC 6455 §5.1: a server must not mask its frames; this one does.
        const payload = answers[0]?.frame ?? Uint8Array.of(0x00, 0x45);
        const length = Math.min(payload.length, 125);
        this.#raw(Buffer.concat([Uint8Array.of(0x82, 0x80 | length), randomBytes(random, 4), payload.subarray(0, length)]));
        return;
      }
      case 'ws-ping-flood':
        for (let i = randomInt(random, 10, 80); i > 0; i--) this.#webSocket.ping(randomBytes(random, randomInt(random, 0, 125)));
        return withAnswers();
      case 'ws-pong':
        this.#webSocket.pong(randomBytes(random, randomInt(random, 0, 20)));
        return withAnswers();
      case 'close-odd': {
        const reason = Buffer.from(randomBytes(random, randomInt(random, 0, 60))).toString('hex').slice(0, 120);
        if (chance(random, 0.5)) withAnswers();
        this.#webSocket.close(pick(random, ODD_CLOSE_CODES), reason);
        return;
      }
      case 'terminate':
        if (chance(random, 0.3)) withAnswers();
        this.#after(randomInt(random, 0, 30), () => this.destroy());
        return;
      case 'unknown-signal':
        this.#send(signal(0xe0 | randomInt(random, 6, 31), [{ number: randomInt(random, 1, 70), value: randomBytes(random, randomInt(random, 0, 12)) }], randomBytes(random, randomInt(random, 0, 30))));
        return withAnswers();
      case 'abort':
        this.#send(signal(SignalCode.Abort, chance(random, 0.5) ? [{ number: SignalOption.BadCsmOption, value: randomBytes(random, randomInt(random, 0, 8)) }] : [], chance(random, 0.5) ? randomBytes(random, randomInt(random, 1, 300)) : encoder.encode('hostile abort')));
        if (chance(random, 0.7)) this.#after(randomInt(random, 0, 50), () => this.destroy());
        return;
      case 'release': {
        const options: RawOption[] = [];
        if (chance(random, 0.5)) options.push({ number: SignalOption.AlternativeAddress, value: randomBytes(random, pick(random, [0, 7, 300])) });
        if (chance(random, 0.5)) options.push({ number: SignalOption.HoldOff, value: randomBytes(random, randomInt(random, 0, 8)) });
        if (chance(random, 0.5)) withAnswers();
        this.#send(signal(SignalCode.Release, options, undefined));
        return;
      }
    }
  }

  #send(frame: Uint8Array): void {
    if (this.closed || this.#webSocket.readyState !== this.#webSocket.OPEN) return;
    this.#webSocket.send(frame, { binary: true });
    this.#peer.counters.messagesSent++;
  }

  /** Bytes straight onto the socket, under the WebSocket framing. */
  #raw(bytes: Uint8Array): void {
    if (this.closed || this.#socket.destroyed) return;
    this.#socket.write(bytes);
  }

  #after(delay: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.closed) work();
    }, delay);
    this.#timers.add(timer);
  }

  #cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#peer.closed(this);
  }
}

class WsPeer implements HostileWsPeer {
  address: { host: LoopbackHost; port: number };
  readonly counters = {
    connections: 0,
    messagesSent: 0,
    clientMalformed: 0,
    tlsFailures: 0,
    handshakes: {} as Record<string, number>,
    csmPlans: {} as Record<string, number>,
  };
  readonly secure: boolean;
  readonly #options: HostileWsPeerOptions;
  readonly #server: Server;
  readonly #webSockets: WebSocketServer;
  readonly #open = new Map<number, HostileWsConnection>();
  readonly #finished: HostileStats = emptyStats();
  readonly #finishedHazards: Record<string, number> = {};
  readonly #seed: number;
  readonly #handshakeRandom: RandomSource;
  #nextId = 0;
  #ticker: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(host: LoopbackHost, options: HostileWsPeerOptions) {
    this.address = { host, port: 0 };
    this.#options = options;
    this.#seed = options.seed ?? 1;
    this.#handshakeRandom = seededRandom(this.#seed ^ 0x68e31da4);
    const faultRate = options.handshakeFaultRate ?? 0.05;
    const notFound = (_request: IncomingMessage, response: ServerResponse): void => void response.writeHead(404).end();
    this.secure = options.tls !== undefined;
    if (options.tls === undefined) this.#server = createServer(notFound);
    else {
      // Throws CoapArgumentError without credentials. Over HTTPS, ALPN (when offered) is http/1.1, not coap.
      const server = createHttpsServer({ ...tlsServerOptions(options.tls, new WeakMap<TLSSocket, string>()), ALPNProtocols: ['http/1.1'] }, notFound);
      server.on('tlsClientError', () => this.counters.tlsFailures++);
      // https.Server is a tls.Server: the listen, upgrade and close calls made on it are http.Server's.
      this.#server = server as unknown as Server;
    }
    this.#server.on('clientError', (_error, socket: Socket) => socket.destroy());
    this.#webSockets = new WebSocketServer({
      server: this.#server,
      path: '/.well-known/coap',
      perMessageDeflate: false,
      maxPayload: 1 << 20,
      verifyClient: (_info, done) => {
        if (!chance(this.#handshakeRandom, faultRate / 2)) return done(true);
        const status = pick(this.#handshakeRandom, [400, 404, 503]);
        this.#count(`refused ${status}`);
        done(false, status);
      },
      handleProtocols: (protocols) => {
        if (chance(this.#handshakeRandom, faultRate / 2)) {
          this.#count('no subprotocol');
          return false;
        }
        return protocols.has('coap') ? 'coap' : false;
      },
    });
    this.#webSockets.on('error', () => undefined);
    this.#webSockets.on('connection', (webSocket: WebSocket, request: IncomingMessage) => this.#accept(webSocket, request.socket));
  }

  get stats(): HostileWsPeerStats {
    const total = emptyStats();
    addStats(total, this.#finished);
    const hazards: Record<string, number> = { ...this.#finishedHazards };
    for (const connection of this.#open.values()) {
      addStats(total, connection.responder.stats);
      addCounts(hazards, connection.hazards);
    }
    const counters = this.counters;
    return { ...total, ...counters, handshakes: { ...counters.handshakes }, csmPlans: { ...counters.csmPlans }, hazards };
  }

  get openConnections(): number {
    return this.#open.size;
  }

  async listen(port: number): Promise<void> {
    this.address = { host: this.address.host, port: await listenOn(this.#server, this.address.host, port) };
    this.#ticker = setInterval(() => {
      for (const connection of this.#open.values()) connection.tick();
    }, this.#options.tickInterval ?? 20);
  }

  uri(path = '/'): string {
    return `${this.secure ? 'coaps+ws' : 'coap+ws'}://${formatAuthority(this.address.host, this.address.port)}${path.startsWith('/') ? path : '/' + path}`;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const connection of [...this.#open.values()]) connection.destroy();
    this.#closing = closeWebSocketServer(this.#server, this.#webSockets);
    return this.#closing;
  }

  closed(connection: HostileWsConnection): void {
    if (!this.#open.delete(connection.id)) return;
    addStats(this.#finished, connection.responder.stats);
    addCounts(this.#finishedHazards, connection.hazards);
  }

  #count(kind: string): void {
    this.counters.handshakes[kind] = (this.counters.handshakes[kind] ?? 0) + 1;
  }

  #accept(webSocket: WebSocket, socket: Socket): void {
    if (this.#closing !== undefined) {
      webSocket.terminate();
      return;
    }
    const id = ++this.#nextId;
    const connection = new HostileWsConnection(webSocket, socket, id, hostileStreamConnectionSeed(this.#seed, id), this, this.#options);
    this.counters.connections++;
    this.counters.csmPlans[connection.csm] = (this.counters.csmPlans[connection.csm] ?? 0) + 1;
    this.#open.set(id, connection);
    connection.start();
  }
}
