/**
 * Part 4: live sessions over CoAP over TCP and TLS-PSK (RFC 8323) against the hostile stream peer
 * (`startHostileStreamPeer`), and over WebSockets (RFC 8323 §4) against the hostile WebSocket peer
 * (`startHostileWsPeer`: refused upgrades, text and oversized messages, absurd frame lengths, odd closes, on top of
 * the same hostile responder): mutated frames cut into random chunks, absurd lengths, reserved TKL 15,
 * unknown signals, Ping floods, Release and Abort with garbage options, CSMs that are late, missing, mutated
 * or say Max-Message-Size 0 or 2^32-1, disconnects mid-frame, duplicate and unsolicited responses (issue 17,
 * "the hostile peer of the hardening issue over TCP"). The sessions are the ones a user makes
 * (`coap+tcp://` with `newClientSession`, `coaps+tcp://` with `newClientSessionPsk`), many at once, each
 * running a script of request kinds (GET, PUT, Block1, Block2, observe, ping, FETCH...), with real sockets,
 * timers and event loop: a throw out of a socket listener here is a real `uncaughtException`.
 *
 * When is a request "hung"? TCP has no retransmission: a request goes out once (after the server's CSM) and
 * then waits for its response for the transmission parameters' `separateResponseTimeout` (a `confirmable:
 * false` one for `nonTimeout`); before the CSM it waits at most `csmTimeout`, and a Ping waits `csmTimeout`
 * for its Pong. Every one of those is set to at most 3 s here, so a request that has sent nothing new for
 * max(separateResponseTimeout, nonTimeout, csmTimeout) = 3 s, plus 1 s of event-loop slack on two shared CPUs,
 * is hung; so is one that got a response for its latest message (its token, not a byte-for-byte repeat) and
 * did nothing with it for 750 ms. A whole request (block-wise: many messages) is capped at 30 s.
 *
 * A tenth of the sessions speak `coap+tcp://` over a Unix stream socket, to a hostile stream peer on a socket path.
 *
 * Every session's script and its peer connection's choices come from seeds derived from the part's seed and
 * the session number, and a failure prints them with the bytes the session received last (the reproduction).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { CoapContext } from '../src/context';
import { SignalCode, tokenToHex, type CoapPdu } from '../src/codec/pdu';
import { StreamDeframer, decodeStreamFrame, encodeStreamFrame } from '../src/codec/stream-codec';
import { decodeWsMessage, encodeWsMessage } from '../src/codec/ws-codec';
import { tcpTransport, tlsTransport, wsTransport } from '../src/node';
import { DEFAULT_RELIABLE_MAX_MESSAGE_SIZE } from '../src/session/reliable-stack';
import type { ClientSession } from '../src/session/client-session';
import type { TransmissionParameters } from '../src/message-layer/transmission-params';
import type { TransportFactory } from '../src/transport/transport';
import { startHostileStreamPeer, type HostileStreamPeer } from '../src/testing/hostile-stream-peer';
import { startHostileWsPeer } from '../src/testing/hostile-ws-peer';
import { pick, randomInt } from '../src/testing/mutate';
import { seededRandom } from '../src/testing/seeded-random';
import { Observable, defer, finalize, map } from 'rxjs';
import { Deadline, type PartBudget } from './budget';
import { sampleHeap } from './heap';
import type { ProcessGuard } from './process-guard';
import { drawScript } from './request-kinds';
import { SessionDriver, type Clock, type ExchangeLimits } from './session-driver';
import { mixSeed, seededTokens } from './seeds';
import { hex, type PartTally } from './tally';
import { ProbedTransport, TransportProbe } from './transport-probe';

/** How long a session waits for the server's CSM (and a Ping for its Pong), in milliseconds. */
export const STREAM_CSM_TIMEOUT = 2000;

/**
 * On a reliable transport a request waits `separateResponseTimeout` for its response (`nonTimeout` when sent
 * with `confirmable: false`, whose default, NON_LIFETIME, is 145 s): both at 3 s so a hang shows quickly.
 */
export const STREAM_TRANSMISSION: Partial<TransmissionParameters> = { separateResponseTimeout: 3000, nonTimeout: 3000 };

/** Sessions running at once (each its own connection). */
const CONCURRENCY = 64;
/** Share of sessions over TLS-PSK (a handshake each), and to the gentle TCP peer; the rest go to the harsh one. */
const TLS_SHARE = 0.2;
/** Share of sessions to the hostile WebSocket peers: half `coap+ws://`, half `coaps+ws://` with the PSK. */
const WS_SHARE = 0.2;
const GENTLE_SHARE = 0.2;
/** Share of sessions over a Unix stream socket (taken from the harsh TCP peer's). */
const UNIX_SHARE = 0.1;
/** Share of sessions with `reconnect`, and with `keepalive`. */
const RECONNECT_SHARE = 0.2;
const KEEPALIVE_SHARE = 0.2;
const PSK = { identity: 'fuzz', key: 'hostile-stream-secret' };

const clock: Clock = {
  now: () => performance.now(),
  after(delay, work) {
    const timer = setTimeout(work, delay);
    return () => clearTimeout(timer);
  },
};

/** Reconnect settings some sessions run with (opt-in reconnect: back-off, CSM again, observations re-registered). */
interface Reconnect {
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly maxAttempts: number;
}

/**
 * The watchdog's bounds. A session that reconnects may make a request wait for the reconnection too: every
 * attempt waits at most its back-off delay (<= maxDelay) and then for the new connection's CSM (csmTimeout).
 */
function limits(reconnect: Reconnect | undefined): ExchangeLimits {
  const longestWait = Math.max(STREAM_TRANSMISSION.separateResponseTimeout!, STREAM_TRANSMISSION.nonTimeout!, STREAM_CSM_TIMEOUT);
  const reconnecting = reconnect === undefined ? 0 : reconnect.maxAttempts * (reconnect.maxDelay + STREAM_CSM_TIMEOUT);
  return { exchange: longestWait + reconnecting, slack: 1000, request: 30_000 + reconnecting, notificationWait: 400, checkEvery: 50, answeredWithin: 750 };
}

/** A connection a session opened: its local port names the peer's connection (and that one's seed). */
interface OpenedConnection {
  readonly time: number;
  readonly localPort: number;
  /** Its first chunks (the CSM and what came right after: where a stream that stalls went wrong). */
  readonly firstChunks: { time: number; chunk: Uint8Array }[];
}

/** First chunks of a connection kept for the reproduction. */
const FIRST_CHUNKS = 6;

/**
 * The watchdog's view of one stream session (see transport-probe.ts for the datagram one): progress is a
 * request frame, or the Ping of the script's `ping()`, sent (no retransmissions on TCP, so every one is new;
 * keepalive Pings are not progress); an answer is a response (2.xx-5.xx) with the token of the latest request,
 * or a Pong for the script's Ping, that is not a byte-for-byte repeat of one received before (a duplicate a
 * client rightly drops). It deframes its own copy of the stream
 * with the session's Max-Message-Size, so it stops where the session's deframer stops.
 */
class StreamProbe extends TransportProbe {
  /** A byte stream of RFC 8323 §3.2 frames, or one RFC 8323 §4 message per WebSocket message. */
  readonly #framing: 'stream' | 'websocket';
  /** The latest chunks received (for the reproduction). */
  readonly chunks: { time: number; chunk: Uint8Array }[] = [];
  readonly connections: OpenedConnection[] = [];
  #deframer: StreamDeframer | undefined;
  #latest: { token: string; ping: boolean } | undefined;
  /** A `session.ping()` of the script is under way and its Ping not yet sent (other Pings are keepalives). */
  #userPing = false;
  readonly #firstSent = new Map<string, number>();
  readonly #answers: string[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock, framing: 'stream' | 'websocket') {
    super(clock);
    this.#clock = clock;
    this.#framing = framing;
  }

  #decode(frame: Uint8Array): CoapPdu {
    return this.#framing === 'stream' ? decodeStreamFrame(frame) : decodeWsMessage(frame);
  }

  /** A new connection: a new stream to deframe. */
  opened(localPort: number): void {
    this.#deframer = this.#framing === 'stream' ? new StreamDeframer({ maxMessageSize: DEFAULT_RELIABLE_MAX_MESSAGE_SIZE }) : undefined;
    this.connections.push({ time: this.#clock.now(), localPort, firstChunks: [] });
    if (this.connections.length > 8) this.connections.shift();
  }

  /** The script's `session.ping()` was subscribed: the next Ping sent is its own. */
  expectPing(): void {
    this.#userPing = true;
  }

  /** The script's ping ended (perhaps before its Ping was sent: the Max-Message-Size did not allow it). */
  pingEnded(): void {
    this.#userPing = false;
  }

  override recordSent(frame: Uint8Array): void {
    const now = this.#clock.now();
    ring(this.sent, { time: now, frame }, 6);
    let pdu: CoapPdu;
    try {
      pdu = this.#decode(frame);
    } catch {
      return;
    }
    const ping = pdu.code === SignalCode.Ping;
    if (!ping && !(pdu.code >= 1 && pdu.code <= 31)) return; // CSM, Pong, Release, Abort: not progress
    if (ping) {
      // A keepalive Ping is the session's own business: neither progress of the script's request nor a request
      // whose Pong the script's request must act upon.
      if (!this.#userPing) return;
      this.#userPing = false;
    }
    const token = tokenToHex(pdu.token);
    if (!this.#firstSent.has(token)) {
      this.#firstSent.set(token, now);
      if (this.#firstSent.size > 64) this.#firstSent.delete(this.#firstSent.keys().next().value as string);
    }
    this.#latest = { token, ping };
    this.lastRequestAt = now;
    this.lastRequestSequence = this.next();
  }

  override recordReceived(chunk: Uint8Array): void {
    const now = this.#clock.now();
    ring(this.chunks, { time: now, chunk }, 12);
    const connection = this.connections[this.connections.length - 1];
    if (connection !== undefined && connection.firstChunks.length < FIRST_CHUNKS) connection.firstChunks.push({ time: now, chunk });
    this.onReceive?.(chunk);
    let pdus: CoapPdu[];
    if (this.#framing === 'websocket') {
      // One message per WebSocket message: a bad one ends the connection for the session too, nothing to follow.
      if (chunk.length > DEFAULT_RELIABLE_MAX_MESSAGE_SIZE) return;
      try {
        pdus = [decodeWsMessage(chunk)];
      } catch {
        return;
      }
    } else {
      const deframer = this.#deframer;
      if (deframer === undefined) return;
      try {
        pdus = deframer.push(chunk);
      } catch {
        this.#deframer = undefined; // the session aborts this connection too
        return;
      }
    }
    for (const pdu of pdus) {
      const latest = this.#latest;
      if (latest === undefined) continue;
      const token = tokenToHex(pdu.token);
      const codeClass = pdu.code >> 5;
      const answers = latest.ping ? pdu.code === SignalCode.Pong && (token === latest.token || pdu.token.length === 0) : codeClass >= 2 && codeClass <= 5 && token === latest.token;
      if (!answers) continue;
      let frame: Uint8Array;
      try {
        frame = this.#framing === 'stream' ? encodeStreamFrame(pdu) : encodeWsMessage(pdu);
      } catch {
        continue;
      }
      const key = Buffer.from(frame.buffer, frame.byteOffset, frame.length).toString('hex');
      if (this.#answers.includes(key)) continue;
      ring(this.#answers, key, 32);
      this.lastMatched = { time: now, sequence: this.next(), tokenFirstSent: this.#firstSent.get(token) ?? now, afterEmptyAck: false, frame };
    }
  }

  /** Peer connection descriptions by local port, set by the part. */
  describeConnection: ((localPort: number) => string) | undefined;

  override describe(start: number): string {
    const at = (time: number): string => `${time - start >= 0 ? '+' : ''}${Math.round(time - start)} ms`;
    const lines: string[] = [];
    for (const connection of this.connections) {
      lines.push(`    connection from :${connection.localPort} at ${at(connection.time)}: ${this.describeConnection?.(connection.localPort) ?? '?'}`);
      for (const entry of connection.firstChunks) lines.push(`      first chunks: recv ${at(entry.time)} (${entry.chunk.length} bytes): ${hex(entry.chunk, 96)}`);
    }
    for (const entry of this.sent) lines.push(`    sent ${at(entry.time)}: ${hex(entry.frame, 48)}`);
    for (const entry of this.chunks) lines.push(`    recv ${at(entry.time)} (${entry.chunk.length} bytes): ${hex(entry.chunk, 96)}`);
    return lines.join('\n');
  }
}

function ring<T>(items: T[], value: T, size: number): void {
  items.push(value);
  if (items.length > size) items.shift();
}


function probed(factory: TransportFactory, probe: StreamProbe): TransportFactory {
  return () => factory().pipe(map((transport) => new ProbedTransport(transport, probe)));
}

/**
 * The session as the script sees it: the same object, except that `ping()` tells the probe which Ping is the
 * script's (sessions with `keepalive` send Pings of their own).
 */
function withMarkedPings(session: ClientSession, probe: StreamProbe): ClientSession {
  const ping = (): Observable<number> =>
    defer(() => {
      probe.expectPing();
      return session.ping();
    }).pipe(finalize(() => probe.pingEnded()));
  return new Proxy(session, {
    get(target, property) {
      if (property === 'ping') return ping;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Runs the stream part. */
export async function runStreamPart(tally: PartTally, guard: ProcessGuard, seed: number, budget: PartBudget, verbose: boolean): Promise<void> {
  tally.heap.start = await sampleHeap();
  await runSessions(tally, guard, seed, new Deadline(budget), verbose);
  guard.enter(tally, () => `stream part (seed ${seed}), after its sessions were freed`);
  tally.heap.end = await sampleHeap();
}

async function runSessions(tally: PartTally, guard: ProcessGuard, seed: number, deadline: Deadline, verbose: boolean): Promise<void> {
  // A harsh TCP peer (broken frames end most connections early), a gentle one (mostly correct: block-wise
  // transfers and observations get to their end, where other bugs hide) and a TLS-PSK one.
  const common = { tickInterval: 20, lateDelay: 60, blockSize: 256, lateCsmDelay: 2500 };
  const harsh = await startHostileStreamPeer({ ...common, seed: mixSeed(seed, 0x7c9), correctRate: 0.5, hazardRate: 0.2 });
  const gentle = await startHostileStreamPeer({ ...common, seed: mixSeed(seed, 0x9e7), correctRate: 0.9, hazardRate: 0.03, csmFaultRate: 0.1 });
  const tlsPeer = await startHostileStreamPeer({ ...common, seed: mixSeed(seed, 0x715), correctRate: 0.6, hazardRate: 0.15, tls: { psk: PSK } });
  const wsCommon = { tickInterval: 20, lateDelay: 60, blockSize: 256, correctRate: 0.6, hazardRate: 0.15 };
  const wsPeer = await startHostileWsPeer({ ...wsCommon, seed: mixSeed(seed, 0x3e5) });
  const wssPeer = await startHostileWsPeer({ ...wsCommon, seed: mixSeed(seed, 0x3e6), tls: { psk: PSK } });
  const wsPeers = [wsPeer, wssPeer] as const;
  const unixDir = mkdtempSync('/tmp/rxs');
  const unixPath = `${unixDir}/t`;
  const unixPeer = await startHostileStreamPeer({ ...common, seed: mixSeed(seed, 0x5b1), correctRate: 0.6, hazardRate: 0.15, path: unixPath });
  const peers: readonly HostileStreamPeer[] = [harsh, gentle, tlsPeer, unixPeer];
  const names = new Map<HostileStreamPeer, string>([
    [harsh, 'tcp harsh'],
    [gentle, 'tcp gentle'],
    [tlsPeer, 'tls'],
    [unixPeer, 'unix stream'],
  ]);
  const context = new CoapContext({ transmission: STREAM_TRANSMISSION, random: seededRandom(seed ^ 0x51ea), tokenGenerator: seededTokens(seed ^ 0x7c9, 8) });
  const wsFramesSent = (): number => wsPeers.reduce((total, ws) => total + Object.values(ws.stats.sent).reduce((sum, count) => sum + count, 0), 0);
  const inputs = (): number => peers.reduce((sum, peer) => sum + peer.stats.framesSent, 0) + wsFramesSent();

  // The latest chunks any session received: what an uncaught exception (reported a tick late) was about.
  const inbound: { session: number; time: number; chunk: Uint8Array }[] = [];
  const started = clock.now();
  guard.enter(tally, () => {
    const lines = inbound.map((entry) => `    session ${entry.session} +${Math.round(entry.time - started)} ms: ${hex(entry.chunk, 64)}`);
    const sent = peers.flatMap((peer) => peer.recent().slice(-4).map((entry) => `    ${names.get(peer)} connection ${entry.connection} ${entry.kind}: ${hex(entry.chunk, 64)}`));
    return `stream part (seed ${seed}); latest chunks received by sessions:\n${lines.join('\n')}\n  latest written by the hostile stream peers:\n${sent.join('\n')}`;
  });

  let sessions = 0;
  const running = new Set<SessionDriver>();
  const runOne = (): Promise<void> =>
    new Promise((resolve) => {
      const number = ++sessions;
      const sessionSeed = mixSeed(seed, number);
      const random = seededRandom(sessionSeed);
      const draw = random();
      const tls = draw < TLS_SHARE;
      const ws = !tls && draw < TLS_SHARE + WS_SHARE;
      const wss = ws && draw >= TLS_SHARE + WS_SHARE / 2;
      const wsServer = wss ? wssPeer : wsPeer;
      const unix = draw >= 1 - UNIX_SHARE;
      const peer = tls ? tlsPeer : unix ? unixPeer : draw < TLS_SHARE + WS_SHARE + GENTLE_SHARE ? gentle : harsh;
      const port = ws ? wsServer.address.port : peer.address.port;
      const peerName = wss ? 'wss' : ws ? 'ws' : names.get(peer);
      const probe = new StreamProbe(clock, ws ? 'websocket' : 'stream');
      probe.describeConnection = (localPort) => {
        if (ws) return `the hostile ${wss ? 'WSS' : 'WebSocket'} peer (its seed ${mixSeed(seed, wss ? 0x3e6 : 0x3e5)}), connection from :${localPort}`;
        // Unix stream connections have no client port to tell them apart by.
        if (unix) return `the hostile Unix stream peer on ${unixPath} (its seed ${mixSeed(seed, 0x5b1)}, a seed per connection)`;
        const info = peer.connectionFor(localPort);
        if (info === undefined) return 'not known to the peer';
        return `peer ${names.get(peer)} connection ${info.id}, seed ${info.seed}, CSM ${info.csm}${info.open ? '' : ', closed'}; it sent first: ${info.firstKinds.join(', ')}; last: ${info.kinds.join(', ')}`;
      };
      probe.onReceive = (chunk) => {
        ring(inbound, { session: number, time: clock.now(), chunk }, 8);
      };
      const server = unix ? `coap+tcp://${encodeURIComponent(unixPath)}` : `${tls ? 'coaps+tcp' : wss ? 'coaps+ws' : ws ? 'coap+ws' : 'coap+tcp'}://127.0.0.1:${port}`;
      const factory = tls
        ? tlsTransport({ host: '127.0.0.1', port, psk: PSK })
        : ws
          ? wsTransport(wss ? { host: '127.0.0.1', port, secure: true, psk: PSK } : { host: '127.0.0.1', port })
          : unix
            ? tcpTransport({ path: unixPath })
            : tcpTransport({ host: '127.0.0.1', port });
      const transport = probed(factory, probe);
      // Some sessions reconnect by themselves, some send keepalive Pings (seconds, libcoap's unit).
      const reconnect: Reconnect | undefined = random() < RECONNECT_SHARE ? { initialDelay: randomInt(random, 10, 100), maxDelay: 300, maxAttempts: randomInt(random, 1, 3) } : undefined;
      const keepalive = random() < KEEPALIVE_SHARE ? pick(random, [0.2, 0.5, 1]) : undefined;
      const options = { server, csmTimeout: STREAM_CSM_TIMEOUT, transport, reconnect, keepalive };
      let session: ClientSession;
      try {
        session = tls || wss ? context.newClientSessionPsk({ ...options, psk: PSK }) : context.newClientSession(options);
      } catch (error) {
        tally.checkError(error, () => `newClientSession(${server}) threw (stream session ${number}, seed ${seed})`);
        resolve();
        return;
      }
      tally.note(`sessions ${peerName}`);
      if (reconnect !== undefined) tally.note('sessions with reconnect');
      if (keepalive !== undefined) tally.note('sessions with keepalive');
      const settings = `${reconnect === undefined ? '' : `, reconnect ${JSON.stringify(reconnect)}`}${keepalive === undefined ? '' : `, keepalive ${keepalive} s`}`;
      const where = `stream session ${number} over ${tls ? 'TLS-PSK' : wss ? 'WebSocket over TLS-PSK' : ws ? 'WebSocket' : unix ? 'a Unix stream socket' : 'TCP'} to the ${peerName} peer${settings} (part seed ${seed}, session seed ${sessionSeed})`;
      const driver = new SessionDriver(withMarkedPings(session, probe), probe, drawScript(random, randomInt(random, 2, 8)), { clock, limits: limits(reconnect), tally, random, where }, () => {
        running.delete(driver);
        resolve();
      });
      running.add(driver);
      driver.start();
    });

  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && !deadline.reached(inputs())) await runOne();
  };
  const workers = Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  // Out of budget: the running scripts end where they are (their requests are unsubscribed, not counted), so
  // the part keeps to its share of the time instead of waiting for every script to run out.
  const stopper = (async () => {
    let halfway = false;
    while (!stopped) {
      if (!halfway && deadline.halfway(inputs())) {
        halfway = true;
        tally.heap.middle = await sampleHeap();
      }
      if (deadline.reached(inputs())) {
        stopped = true;
        for (const driver of [...running]) driver.abort();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const progress = verbose ? setInterval(() => console.log(`  stream: ${inputs()} frames, ${sessions} sessions, ${peers.reduce((sum, peer) => sum + peer.openConnections, 0)} connections open`), 2000) : undefined;
  await workers;
  stopped = true;
  await stopper;
  if (progress !== undefined) clearInterval(progress);
  tally.inputs = inputs();

  tally.note('peer ws frames', wsFramesSent());
  for (const ws of wsPeers) {
    const stats = ws.stats;
    const name = ws.secure ? 'wss' : 'ws';
    tally.note(`peer ${name} connections`, stats.connections);
    tally.note(`peer ${name} requests`, stats.requests);
    tally.note(`peer ${name} notifications`, stats.notifications);
    tally.note(`peer ${name} highest Block2 number`, stats.maxBlock2);
    if (ws.secure) tally.note('peer wss failed TLS handshakes', stats.tlsFailures);
    for (const [kind, count] of Object.entries(stats.handshakes)) tally.note(`${name} handshake ${kind}`, count);
    for (const [kind, count] of Object.entries(stats.hazards)) tally.note(`${name} hazard ${kind}`, count);
  }
  for (const peer of peers) {
    const stats = peer.stats;
    const name = `peer ${names.get(peer)}`;
    tally.note(`${name} connections`, stats.connections);
    tally.note(`${name} frames`, stats.framesSent);
    tally.note(`${name} chunks written`, stats.writes);
    tally.note(`${name} requests`, stats.requests);
    tally.note(`${name} notifications`, stats.notifications);
    tally.note(`${name} highest Block2 number`, stats.maxBlock2);
    tally.note(`${name} Block1 uploads completed`, stats.block1Completed);
    if (stats.clientMalformed > 0) tally.note(`${name} malformed streams FROM THE CLIENT`, stats.clientMalformed);
    for (const [kind, count] of Object.entries(stats.csmPlans)) tally.note(`CSM ${kind}`, count);
    for (const [kind, count] of Object.entries(stats.hazards)) tally.note(`hazard ${kind}`, count);
  }
  tally.note('sessions', sessions);
  await context.free();
  await Promise.all([...peers.map((peer) => peer.close()), ...wsPeers.map((ws) => ws.close())]);
  rmSync(unixDir, { recursive: true, force: true });
}
