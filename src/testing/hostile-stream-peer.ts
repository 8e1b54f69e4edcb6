/**
 * A hostile CoAP-over-TCP (and, with `tls.psk`, CoAP-over-TLS) peer on loopback (`rxcoap/testing`), RFC 8323:
 * the UDP hostile peer's answers (`createHostileResponder` with {@link streamFraming}: mutated frames, drops,
 * duplicates, late answers, other tokens, notifications, unsolicited frames) plus what only a byte stream
 * allows:
 *
 * - its CSM sometimes mutated, late, missing, preceded by other messages, with Max-Message-Size 0, 2^32-1 or
 *   a value longer than 4 bytes, with garbage options, or sent again later with another Max-Message-Size;
 * - every write cut into random chunks (1 byte .. whole), sometimes several frames coalesced into one write;
 * - frames announcing absurd lengths (Len 13/14/15 with extended lengths up to 2^32-1 + 65805, about 4 GB)
 *   that never come, reserved TKL 15, unknown signals (7.00, 7.06-7.31), Ping floods and unsolicited Pongs,
 *   Release and Abort with garbage options, Empty messages with bodies, requests from the server, trailing
 *   garbage, bursts of duplicate responses, unsolicited responses for tokens the client used;
 * - disconnects mid-frame (FIN, or RST on TCP) and instead of an answer.
 *
 * Every connection draws from its own seed (`hostileStreamConnectionSeed(seed, n)` for the n-th connection,
 * or `seed` itself with `perConnectionSeeds: false`), so a connection that broke a client replays alone:
 * {@link HostileStreamPeer.connectionFor} tells which connection (and seed) a client port had. The decisions
 * about what to send ({@link HostileStreamScript}) are free of sockets and timers; the connection only cuts
 * and times the writes.
 *
 * Node only (`node:net`, `node:tls`); real timers, cleared by `close()`.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { OptionNumber, SignalOption } from '../codec/option-numbers';
import { encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, Method, ResponseCode, SignalCode, type CoapPdu } from '../codec/pdu';
import { StreamDeframer, encodeStreamFrame } from '../codec/stream-codec';
import { ByteWriter, streamFraming, writeRawBody, type RawMessage, type RawOption } from './hostile-framing';
import { createHostileResponder, type HostileDatagram, type HostileResponder, type HostileResponderOptions, type HostileStats } from './hostile-responder';
import { assertLoopback, formatAuthority, type LoopbackHost } from './loopback';
import { chance, mutateResponse, pick, randomBytes, randomInt } from './mutate';
import { seededRandom, type RandomSource } from './seeded-random';
import { TLS_PSK_CIPHERS } from './stream-listener';

/** Options of {@link startHostileStreamPeer}. */
export interface HostileStreamPeerOptions extends Omit<HostileResponderOptions, 'framing' | 'maxEndpoints'> {
  /** Loopback address to bind; anything else is rejected. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
  /**
   * A Unix stream socket path to listen on instead of a TCP port (libcoap `-U coap+tcp -A path`; `host` and `port`
   * are then unused, and connections have no client port, so `connectionFor` cannot tell them apart). The path must
   * be free; the caller removes its directory after `close()`.
   */
  readonly path?: string;
  /**
   * TLS with a pre-shared key (TLS 1.2, the PSK suites libcoap's openssl server takes): the peer speaks
   * `coaps+tcp`. Any identity is accepted unless `identity` is set. Without it the peer speaks plain `coap+tcp`.
   */
  readonly tls?: { readonly psk: { readonly identity?: string; readonly key: string | Uint8Array; readonly hint?: string } };
  /** Milliseconds between ticks (notifications, unsolicited frames). @defaultValue 20 */
  readonly tickInterval?: number;
  /** Share (0..1) of connections whose CSM is not a plain, prompt one. @defaultValue 0.4 */
  readonly csmFaultRate?: number;
  /** Latest a "late" CSM comes, in milliseconds (drawn from 30 up to this). @defaultValue 2500 */
  readonly lateCsmDelay?: number;
  /** Probability (0..1) per request of a stream hazard beside (or instead of) its answer. @defaultValue 0.15 */
  readonly hazardRate?: number;
  /** Longest pause between two chunks of the byte stream, in milliseconds. @defaultValue 3 */
  readonly maxChunkDelay?: number;
  /** Each connection draws from a seed of its own (`hostileStreamConnectionSeed`); false: all from `seed`. @defaultValue true */
  readonly perConnectionSeeds?: boolean;
  /** Writes kept for {@link HostileStreamPeer.recent}. @defaultValue 64 */
  readonly logSize?: number;
}

/** A write (or close) the hostile stream peer made. */
export interface HostileStreamSent {
  /** `Date.now()` when it left. */
  readonly time: number;
  /** The connection (1, 2, ... in accept order). */
  readonly connection: number;
  /** `'csm'`, `'correct'`, a mutation kind, a hazard (`'absurd-length'`, `'ping-flood'`...), `'close-fin'`... */
  readonly kind: string;
  /** The bytes of this chunk (empty for a close). */
  readonly chunk: Uint8Array;
}

/** What the peer knows of one of its connections (kept a while after it closed). */
export interface HostileStreamConnectionInfo {
  readonly id: number;
  /** The seed every choice of this connection was drawn from. */
  readonly seed: number;
  /** The client's port. */
  readonly remotePort: number;
  /** How the CSM went: `'normal'`, `'late'`, `'missing'`, `'mutated'`, `'mms-zero'`... */
  readonly csm: string;
  /** Kinds of the first frames sent (at most 12): the CSM and what followed it. */
  readonly firstKinds: readonly string[];
  /** Kinds of the latest frames sent, oldest first (at most 32). */
  readonly kinds: readonly string[];
  /** Still open. */
  readonly open: boolean;
}

/** Counters of a hostile stream peer (the responders' counters summed over connections, plus the stream's). */
export interface HostileStreamPeerStats extends HostileStats {
  /** Connections accepted. */
  connections: number;
  /** Frames put on the wire (a Ping flood counts each Ping). */
  framesSent: number;
  /** Bytes put on the wire. */
  bytesSent: number;
  /** `socket.write` calls: the chunks the stream was cut into. */
  writes: number;
  /** Connections by CSM plan. */
  readonly csmPlans: Record<string, number>;
  /** Stream hazards by kind. */
  readonly hazards: Record<string, number>;
  /** Connections the peer closed, by how (`fin`, `reset`). */
  readonly closes: Record<string, number>;
  /** Client streams that did not parse (a client bug or a test mistake: the connection is dropped). */
  clientMalformed: number;
  /** Writes dropped because the client did not read (more than 4 MiB buffered). */
  backpressureDrops: number;
}

/** A running hostile stream peer. Create with {@link startHostileStreamPeer}. */
export interface HostileStreamPeer {
  /** Where it listens. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** `'tcp'`, or `'tls'` with `tls.psk`. */
  readonly transport: 'tcp' | 'tls';
  /** The Unix socket path it listens on, when given one. */
  readonly path: string | undefined;
  /** Counters. */
  readonly stats: Readonly<HostileStreamPeerStats>;
  /** Open connections. */
  readonly openConnections: number;
  /** Live observations, over all connections. */
  readonly observations: number;
  /** `'coap+tcp://127.0.0.1:PORT/path'` (or `coaps+tcp://`; on a Unix path `coap+tcp://%2Ftmp%2F…/path`). */
  uri(path?: string): string;
  /** The last `logSize` chunks written (and closes), oldest first. */
  recent(): readonly HostileStreamSent[];
  /** The latest connection from the client port `remotePort` (open, or among the last 512 closed). */
  connectionFor(remotePort: number): HostileStreamConnectionInfo | undefined;
  /** Stops the ticks and every pending write, destroys every connection and closes the server. */
  close(): Promise<void>;
}

/** The seed of the `index`-th connection (1, 2, ...) of a peer started with `seed` (murmur3's finalizer). */
export function hostileStreamConnectionSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca6b) ^ 0x5eed5eed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Starts a hostile CoAP-over-TCP (or TLS-PSK) peer on a loopback port.
 *
 * @example
 * ```ts
 * const peer = await startHostileStreamPeer({ seed: 42 });
 * const session = ctx.newClientSession({ server: peer.uri(), csmTimeout: 2000, transmission: { separateResponseTimeout: 3000 } });
 * session.get('/large').subscribe({ next: console.log, error: (e) => console.log(e.code) });
 * // ...
 * await peer.close();
 * ```
 * @param options - see {@link HostileStreamPeerOptions}; every choice is drawn from `seed`
 * @returns the running peer, once it listens
 * @throws CoapArgumentError (as a rejection) for a non-loopback host
 */
export async function startHostileStreamPeer(options: HostileStreamPeerOptions = {}): Promise<HostileStreamPeer> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the hostile stream peer host');
  const peer = new StreamPeer(host, options);
  await peer.listen(options.port ?? 0, options.path);
  return peer;
}

// ---- what to send: the socket-free part ------------------------------------------------------------

/** One thing a connection does, `delay` milliseconds from now. */
export type HostileStreamAction =
  | { readonly type: 'write'; readonly bytes: Uint8Array; readonly delay: number; readonly kind: string; readonly frames: number }
  | { readonly type: 'close'; readonly delay: number; readonly how: 'fin' | 'reset'; readonly kind: string };

const CSM_PLANS = [
  ['late', 10],
  ['missing', 3],
  ['mutated', 10],
  ['mms-zero', 4],
  ['mms-huge', 5],
  ['mms-long-value', 3],
  ['garbage-options', 5],
  ['preceded', 7],
  ['twice', 5],
] as const;

const HAZARDS = [
  ['absurd-length', 10],
  ['reserved-tkl', 6],
  ['unknown-signal', 10],
  ['ping-flood', 5],
  ['pong-unsolicited', 4],
  ['release', 5],
  ['abort', 5],
  ['disconnect-mid-frame', 8],
  ['disconnect', 3],
  ['duplicate-burst', 8],
  ['unsolicited-seen-token', 10],
  ['empty-message', 5],
  ['trailing-garbage', 6],
  ['csm-again', 4],
  ['server-request', 3],
] as const;

function weighted<T extends string>(random: RandomSource, table: readonly (readonly [T, number])[]): T {
  let at = random() * table.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [name, weight] of table) if ((at -= weight) < 0) return name;
  return table[table.length - 1][0];
}

/** Options of one {@link HostileStreamScript}. */
export interface HostileStreamScriptOptions extends Omit<HostileResponderOptions, 'framing' | 'seed' | 'maxEndpoints'> {
  readonly csmFaultRate?: number;
  readonly lateCsmDelay?: number;
  readonly hazardRate?: number;
}

const RING = 16;

/**
 * What one hostile connection sends, free of sockets and timers: the same seed and the same frames from the
 * client (and ticks in the same places) give the same actions.
 */
export class HostileStreamScript {
  readonly responder: HostileResponder;
  /** How the CSM goes on this connection. */
  readonly csm: string;
  readonly hazards: Record<string, number> = {};
  readonly #random: RandomSource;
  readonly #hazardRate: number;
  readonly #lateCsmDelay: number;
  /** Tokens of the client's requests and Pings, newest last. */
  readonly #tokens: Uint8Array[] = [];
  static readonly endpoint = 'stream';

  constructor(seed: number, options: HostileStreamScriptOptions = {}) {
    this.responder = createHostileResponder({ ...options, seed, framing: streamFraming, maxEndpoints: 1 });
    this.#random = seededRandom(seed ^ 0x6c8e9cf5);
    this.#hazardRate = options.hazardRate ?? 0.15;
    this.#lateCsmDelay = options.lateCsmDelay ?? 2500;
    this.csm = chance(this.#random, options.csmFaultRate ?? 0.4) ? weighted(this.#random, CSM_PLANS) : 'normal';
  }

  /** What goes out when the connection opens: the CSM (RFC 8323 §5.3: first), as the plan says. */
  start(): HostileStreamAction[] {
    const random = this.#random;
    const plain = (): Uint8Array => {
      const options: RawOption[] = [];
      const size = pick(random, [undefined, 1152, 1280, 4096, 65536, 1 << 20]);
      if (size !== undefined) options.push({ number: SignalOption.MaxMessageSize, value: encodeUint(size) });
      if (chance(random, 0.4)) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
      return signal(SignalCode.CSM, EMPTY_BYTES, options, undefined);
    };
    const csm = (options: RawOption[], payload?: Uint8Array): HostileStreamAction => write(signal(SignalCode.CSM, EMPTY_BYTES, options, payload), 0, `csm-${this.csm}`);
    switch (this.csm) {
      case 'normal':
        return [write(plain(), 0, 'csm')];
      case 'late':
        return [write(plain(), randomInt(random, 30, this.#lateCsmDelay), 'csm-late')];
      case 'missing':
        return [];
      case 'mutated':
        return [write(mutateResponse(plain(), undefined, random, streamFraming).frame, 0, 'csm-mutated')];
      case 'mms-zero':
        return [csm([{ number: SignalOption.MaxMessageSize, value: chance(random, 0.5) ? EMPTY_BYTES : Uint8Array.of(0) }])];
      case 'mms-huge':
        return [csm([{ number: SignalOption.MaxMessageSize, value: Uint8Array.of(0xff, 0xff, 0xff, 0xff) }, ...(chance(random, 0.5) ? [{ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES }] : [])])];
      case 'mms-long-value':
        return [csm([{ number: SignalOption.MaxMessageSize, value: randomBytes(random, randomInt(random, 5, 9)).fill(0xff, 0, 1) }])];
      case 'garbage-options': {
        // Unknown critical (odd) and elective options, a Block-Wise-Transfer with a value, a payload.
        const options: RawOption[] = [
          { number: SignalOption.MaxMessageSize, value: encodeUint(randomInt(random, 0, 100_000)) },
          { number: SignalOption.BlockWiseTransfer, value: randomBytes(random, randomInt(random, 0, 3)) },
          { number: pick(random, [1, 3, 5, 7, 9, 65001]), value: randomBytes(random, randomInt(random, 0, 20)) },
          { number: pick(random, [8, 10, 100, 2048]), value: randomBytes(random, randomInt(random, 0, 300)) },
        ];
        return [csm(options.sort((a, b) => a.number - b.number), chance(random, 0.5) ? randomBytes(random, randomInt(random, 1, 40)) : undefined)];
      }
      case 'preceded': {
        // RFC 8323 §5.3: the CSM must come first; here a Ping, a response, an Empty message or a signal come before it.
        const before = pick(random, [
          () => signal(SignalCode.Ping, randomBytes(random, randomInt(random, 0, 8)), [], undefined),
          () => frame(ResponseCode.Content, randomBytes(random, randomInt(random, 0, 8)), [], encoder.encode('too early')),
          () => frame(0, EMPTY_BYTES, [], undefined),
          () => signal(0xe0 | randomInt(random, 6, 31), EMPTY_BYTES, [], randomBytes(random, randomInt(random, 0, 10))),
        ])();
        return [write(before, 0, 'csm-preceded'), write(plain(), randomInt(random, 0, 20), 'csm')];
      }
      case 'twice':
        // A second CSM later: RFC 8323 §5.3 lets it change the settings (here: a tiny or a huge Max-Message-Size).
        return [write(plain(), 0, 'csm'), this.#csmAgain(randomInt(random, 20, 400))];
      default:
        return [write(plain(), 0, 'csm')];
    }
  }

  /** What answers a frame from the client. */
  receive(pdu: CoapPdu): HostileStreamAction[] {
    let encoded: Uint8Array;
    try {
      encoded = encodeStreamFrame(pdu);
    } catch {
      return [];
    }
    const isRequest = pdu.code >= 1 && pdu.code <= 31;
    if ((isRequest || pdu.code === SignalCode.Ping) && pdu.token.length > 0) {
      this.#tokens.push(pdu.token.slice());
      if (this.#tokens.length > RING) this.#tokens.shift();
    }
    // The peer sends its own CSM (start()): the responder's is dropped.
    const answers = this.responder.receive(encoded, HostileStreamScript.endpoint).filter((datagram) => datagram.kind !== 'csm').map(fromDatagram);
    if (!isRequest || !chance(this.#random, this.#hazardRate)) return answers;
    return this.#hazard(pdu, answers);
  }

  /** Notifications and unsolicited frames due now. */
  tick(): HostileStreamAction[] {
    return this.responder.tick().map(fromDatagram);
  }

  #hazard(request: CoapPdu, answers: HostileStreamAction[]): HostileStreamAction[] {
    const random = this.#random;
    const kind = weighted(random, HAZARDS);
    this.hazards[kind] = (this.hazards[kind] ?? 0) + 1;
    const first = answers.find((action): action is Extract<HostileStreamAction, { type: 'write' }> => action.type === 'write');
    const around = (extra: HostileStreamAction[]): HostileStreamAction[] => (chance(random, 0.5) ? [...extra, ...answers] : [...answers, ...extra]);
    switch (kind) {
      case 'absurd-length':
        // Before the answer, which the client then takes for the body of the absurd frame.
        return [write(absurdLength(random), 0, kind), ...answers, ...(chance(random, 0.4) ? [close(randomInt(random, 200, 2500), chance(random, 0.5) ? 'fin' : 'reset', kind)] : [])];
      case 'reserved-tkl': {
        const body = chance(random, 0.5) ? writeRawBody([], encoder.encode('tkl 15')) : randomBytes(random, randomInt(random, 0, 20));
        return around([write(streamFraming.encode({ type: 0, code: pick(random, [ResponseCode.Content, SignalCode.Pong, SignalCode.CSM]), messageId: 0, token: randomBytes(random, randomInt(random, 0, 8)), tokenLength: { nibble: 15, extension: EMPTY_BYTES }, body }), 0, kind)]);
      }
      case 'unknown-signal': {
        const frames: Uint8Array[] = [];
        for (let i = randomInt(random, 1, 4); i > 0; i--) {
          const code = chance(random, 0.2) ? 0xe0 : 0xe0 | randomInt(random, 6, 31);
          const options = chance(random, 0.5) ? [{ number: randomInt(random, 1, 70), value: randomBytes(random, randomInt(random, 0, 12)) }] : [];
          frames.push(signal(code, randomBytes(random, randomInt(random, 0, 8)), options, chance(random, 0.5) ? randomBytes(random, randomInt(random, 1, 50)) : undefined));
        }
        return around([write(concat(frames), randomInt(random, 0, 5), kind, frames.length)]);
      }
      case 'ping-flood': {
        const frames: Uint8Array[] = [];
        for (let i = randomInt(random, 20, 120); i > 0; i--) {
          const options: RawOption[] = [];
          if (chance(random, 0.2)) options.push({ number: SignalOption.Custody, value: EMPTY_BYTES });
          if (chance(random, 0.1)) options.push({ number: pick(random, [3, 9, 65001]), value: randomBytes(random, randomInt(random, 0, 8)) });
          frames.push(signal(SignalCode.Ping, randomBytes(random, randomInt(random, 0, 8)), options, undefined));
        }
        return around([write(concat(frames), 0, kind, frames.length)]);
      }
      case 'pong-unsolicited': {
        const frames: Uint8Array[] = [];
        for (let i = randomInt(random, 1, 5); i > 0; i--) frames.push(signal(SignalCode.Pong, chance(random, 0.5) ? this.#seenToken() : randomBytes(random, randomInt(random, 0, 8)), [], undefined));
        return around([write(concat(frames), 0, kind, frames.length)]);
      }
      case 'release': {
        // RFC 8323 §5.5 with garbage: Alternative-Address not UTF-8 (or 300 bytes), Hold-Off of 0-8 bytes, unknown options.
        const options: RawOption[] = [];
        for (let i = randomInt(random, 0, 3); i > 0; i--) options.push({ number: SignalOption.AlternativeAddress, value: randomBytes(random, pick(random, [0, 1, 7, 40, 300])) });
        if (chance(random, 0.6)) options.push({ number: SignalOption.HoldOff, value: randomBytes(random, randomInt(random, 0, 8)) });
        if (chance(random, 0.4)) options.push({ number: pick(random, [1, 3, 5, 9, 65001]), value: randomBytes(random, randomInt(random, 0, 8)) });
        const body = chance(random, 0.2) ? randomBytes(random, randomInt(random, 1, 30)) : undefined;
        const release = body === undefined ? signal(SignalCode.Release, randomBytes(random, randomInt(random, 0, 2)), options, chance(random, 0.3) ? randomBytes(random, 20) : undefined) : rawSignal(SignalCode.Release, body);
        return [...(chance(random, 0.5) ? answers : []), write(release, 0, kind), ...(chance(random, 0.6) ? [close(randomInt(random, 0, 300), 'fin', kind)] : [])];
      }
      case 'abort': {
        const options: RawOption[] = [];
        if (chance(random, 0.6)) options.push({ number: SignalOption.BadCsmOption, value: randomBytes(random, randomInt(random, 0, 8)) });
        if (chance(random, 0.3)) options.push({ number: pick(random, [1, 3, 5, 9, 65001]), value: randomBytes(random, randomInt(random, 0, 8)) });
        const diagnostic = chance(random, 0.5) ? randomBytes(random, randomInt(random, 1, 2000)) : encoder.encode('hostile abort');
        const abort = chance(random, 0.15) ? rawSignal(SignalCode.Abort, randomBytes(random, randomInt(random, 1, 30))) : signal(SignalCode.Abort, EMPTY_BYTES, options, diagnostic);
        return [...(chance(random, 0.3) ? answers : []), write(abort, 0, kind), ...(chance(random, 0.8) ? [close(randomInt(random, 0, 100), chance(random, 0.5) ? 'fin' : 'reset', kind)] : [])];
      }
      case 'disconnect-mid-frame': {
        // Part of the answer, then the connection ends: the client has a partial frame (RFC 8323 §3: lost).
        const bytes = first?.bytes ?? frame(ResponseCode.Content, request.token, [], encoder.encode('cut short'));
        const cut = bytes.length <= 1 ? 0 : randomInt(random, 1, bytes.length - 1);
        return [write(bytes.subarray(0, cut), first?.delay ?? 0, kind), close((first?.delay ?? 0) + randomInt(random, 0, 20), chance(random, 0.5) ? 'fin' : 'reset', kind)];
      }
      case 'disconnect':
        return [...(chance(random, 0.3) ? answers : []), close(randomInt(random, 0, 50), chance(random, 0.5) ? 'fin' : 'reset', kind)];
      case 'duplicate-burst': {
        if (first === undefined) return answers;
        const copies = randomInt(random, 2, 5);
        return [...answers, write(concat(Array.from({ length: copies }, () => first.bytes)), first.delay, kind, copies)];
      }
      case 'unsolicited-seen-token': {
        // A response for a token the client used before (its exchange may be over), with or without Observe.
        const options: RawOption[] = chance(random, 0.5) ? [{ number: OptionNumber.Observe, value: encodeUint(randomInt(random, 0, 0xffffff)) }] : [];
        const code = pick(random, [ResponseCode.Content, ResponseCode.Valid, ResponseCode.NotFound, ResponseCode.Changed, 0xa3]);
        const unsolicited = frame(code, this.#seenToken(), options, encoder.encode('unsolicited'));
        return around([write(unsolicited, randomInt(random, 0, 30), kind)]);
      }
      case 'empty-message': {
        // RFC 8323 §3.4: Empty messages are ignored; these carry a token, options or a payload.
        const empty = frame(0, chance(random, 0.5) ? randomBytes(random, randomInt(random, 1, 8)) : EMPTY_BYTES, chance(random, 0.5) ? [{ number: OptionNumber.ContentFormat, value: Uint8Array.of(0) }] : [], chance(random, 0.5) ? randomBytes(random, 10) : undefined);
        return around([write(empty, 0, kind)]);
      }
      case 'trailing-garbage':
        return [...answers, write(randomBytes(random, randomInt(random, 1, 32)), first?.delay ?? 0, kind, 0)];
      case 'csm-again':
        return around([this.#csmAgain(0)]);
      case 'server-request': {
        // A request from the server: this client serves no resources.
        const request = frame(pick(random, [Method.GET, Method.POST, Method.FETCH]), randomBytes(random, randomInt(random, 0, 8)), [{ number: OptionNumber.UriPath, value: encoder.encode('client') }], chance(random, 0.5) ? randomBytes(random, 20) : undefined);
        return around([write(request, 0, kind)]);
      }
    }
  }

  /** A later CSM that changes the settings: Max-Message-Size tiny, zero or huge, Block-Wise-Transfer on or off. */
  #csmAgain(delay: number): HostileStreamAction {
    const random = this.#random;
    const size = pick(random, [0, 16, 64, 200, 1152, 0xffffffff]);
    const options: RawOption[] = [{ number: SignalOption.MaxMessageSize, value: encodeUint(size) }];
    if (chance(random, 0.5)) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
    return write(signal(SignalCode.CSM, EMPTY_BYTES, options, undefined), delay, 'csm-again');
  }

  #seenToken(): Uint8Array {
    return this.#tokens.length > 0 ? pick(this.#random, this.#tokens) : randomBytes(this.#random, 8);
  }
}

const encoder = new TextEncoder();

function write(bytes: Uint8Array, delay: number, kind: string, frames = 1): HostileStreamAction {
  return { type: 'write', bytes, delay, kind, frames };
}

function close(delay: number, how: 'fin' | 'reset', kind: string): HostileStreamAction {
  return { type: 'close', delay, how, kind };
}

function fromDatagram(datagram: HostileDatagram): HostileStreamAction {
  return write(datagram.frame, datagram.delay, datagram.kind);
}

/** A frame with a code, token, options (in order) and payload, written raw. */
function frame(code: number, token: Uint8Array, options: readonly RawOption[], payload: Uint8Array | undefined): Uint8Array {
  return streamFraming.encode({ type: 0, code, messageId: 0, token, body: writeRawBody(options, payload) });
}

const signal = frame;

/** A signal whose body is raw bytes (options that may not parse). */
function rawSignal(code: number, body: Uint8Array): Uint8Array {
  const message: RawMessage = { type: 0, code, messageId: 0, token: EMPTY_BYTES, body };
  return streamFraming.encode(message);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new ByteWriter();
  for (const part of parts) out.pushBytes(part);
  return out.toBytes();
}

/**
 * RFC 8323 §3.2: a frame header whose Len (13, 14, 15 with 1, 2 or 4 bytes of extended length) announces far
 * more than follows: up to 0xffffffff + 65805 bytes (about 4 GB), or a length the client would accept whose
 * body never (or only much later) comes.
 */
function absurdLength(random: RandomSource): Uint8Array {
  const out = new ByteWriter();
  const tkl = randomInt(random, 0, 8);
  const choice = randomInt(random, 0, 5);
  if (choice <= 1) {
    out.push(0xf0 | tkl);
    const ext = choice === 0 ? 0xffffffff : Math.floor(random() * 0x100000000);
    out.pushBytes([Math.floor(ext / 0x1000000) & 0xff, (ext >>> 16) & 0xff, (ext >>> 8) & 0xff, ext & 0xff]);
  } else if (choice === 2) {
    out.push(0xe0 | tkl);
    out.pushBytes([0xff, 0xff]); // 65535 + 269
  } else if (choice === 3) {
    out.push(0xe0 | tkl);
    const ext = randomInt(random, 0, 4000);
    out.pushBytes([ext >> 8, ext & 0xff]);
  } else if (choice === 4) {
    out.push(0xd0 | tkl);
    out.push(randomInt(random, 0, 255));
  } else {
    // A 32-bit length of a few hundred bytes: well within Max-Message-Size, yet 4 bytes of extension.
    out.push(0xf0 | tkl);
    out.pushBytes([0, 0, 0, randomInt(random, 0, 255)]);
  }
  out.push(pick(random, [ResponseCode.Content, SignalCode.Pong, SignalCode.Release, 0x00]));
  out.pushBytes(randomBytes(random, tkl));
  out.pushBytes(randomBytes(random, randomInt(random, 0, 48)));
  return out.toBytes();
}

// ---- the sockets -----------------------------------------------------------------------------------

/** More buffered than this for one client and further writes are dropped (a client that does not read). */
const MAX_BUFFERED = 4 * 1024 * 1024;
/** Closed connections whose info is kept for {@link HostileStreamPeer.connectionFor}. */
const KEPT_CONNECTIONS = 512;

interface Pending {
  readonly bytes: Uint8Array;
  offset: number;
  readonly kind: string;
  readonly frames: number;
  /** Counted in `framesSent` (when its first piece left). */
  counted: boolean;
}

class HostileConnection {
  readonly id: number;
  readonly seed: number;
  readonly script: HostileStreamScript;
  readonly remotePort: number;
  readonly kinds: string[] = [];
  readonly firstKinds: string[] = [];
  readonly #socket: Socket;
  readonly #peer: StreamPeer;
  readonly #deframer = new StreamDeframer({ maxMessageSize: 16 * 1024 * 1024 });
  readonly #chunkRandom: RandomSource;
  readonly #maxChunkDelay: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #queue: (Pending | { readonly close: 'fin' | 'reset'; readonly kind: string })[] = [];
  #pumping = false;
  #immediate: NodeJS.Immediate | undefined;
  closed = false;

  constructor(socket: Socket, id: number, seed: number, peer: StreamPeer, options: HostileStreamPeerOptions) {
    this.id = id;
    this.seed = seed;
    this.#socket = socket;
    this.#peer = peer;
    this.remotePort = socket.remotePort ?? 0;
    this.script = new HostileStreamScript(seed, options);
    this.#chunkRandom = seededRandom(seed ^ 0x3c6ef372);
    this.#maxChunkDelay = options.maxChunkDelay ?? 3;
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // a client that resets: nothing to do but close
    socket.on('close', () => this.#cleanup());
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  start(): void {
    this.#run(this.script.start());
  }

  tick(): void {
    if (!this.closed) this.#run(this.script.tick());
  }

  destroy(): void {
    this.#socket.destroy();
    this.#cleanup();
  }

  #onData(chunk: Buffer): void {
    if (this.closed) return;
    let pdus: CoapPdu[];
    try {
      pdus = this.#deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    } catch {
      this.#peer.counters.clientMalformed++;
      this.destroy();
      return;
    }
    for (const pdu of pdus) {
      if (this.closed) return;
      this.#run(this.script.receive(pdu));
    }
  }

  #run(actions: readonly HostileStreamAction[]): void {
    for (const action of actions) {
      const enqueue = (): void => {
        if (this.closed) return;
        this.#queue.push(action.type === 'write' ? { bytes: action.bytes, offset: 0, kind: action.kind, frames: action.frames, counted: false } : { close: action.how, kind: action.kind });
        this.#pump();
      };
      if (action.delay <= 0) enqueue();
      else this.#after(action.delay, enqueue);
    }
  }

  #after(delay: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      work();
    }, delay);
    this.#timers.add(timer);
  }

  #pump(): void {
    if (this.#pumping || this.closed) return;
    this.#pumping = true;
    this.#step();
  }

  /** Writes the next piece of the queue, then waits a little (or not at all) before the next one. */
  #step(): void {
    this.#immediate = undefined;
    const random = this.#chunkRandom;
    const head = this.#queue[0];
    if (head === undefined || this.closed) {
      this.#pumping = false;
      return;
    }
    if ('close' in head) {
      this.#queue.length = 0;
      this.#end(head.close, head.kind);
      return;
    }
    let piece: Uint8Array;
    if (chance(random, 0.3)) {
      // Coalesced: what is queued (up to a close) goes out in one write.
      const parts: Uint8Array[] = [];
      while (this.#queue.length > 0 && !('close' in this.#queue[0])) {
        const item = this.#queue.shift() as Pending;
        parts.push(item.bytes.subarray(item.offset));
        this.#account(item);
      }
      piece = concat(parts);
    } else {
      // Cut: 1 byte, a few, any length, or the rest; large frames in few big pieces.
      const remaining = head.bytes.length - head.offset;
      let size: number;
      if (remaining > 2048) size = chance(random, 0.5) ? remaining : randomInt(random, Math.ceil(remaining / 4), remaining);
      else {
        const choice = randomInt(random, 0, 3);
        size = choice === 0 ? 1 : choice === 1 ? randomInt(random, 1, Math.min(8, remaining)) : choice === 2 ? randomInt(random, 1, remaining) : remaining;
      }
      piece = head.bytes.subarray(head.offset, head.offset + size);
      head.offset += size;
      this.#account(head);
      if (head.offset >= head.bytes.length) this.#queue.shift();
    }
    this.#writeChunk(piece, head.kind);
    if (this.closed) return;
    if (this.#queue.length === 0) {
      this.#pumping = false;
      return;
    }
    const delay = chance(random, 0.5) ? 0 : randomInt(random, 1, Math.max(1, this.#maxChunkDelay));
    if (delay === 0) this.#immediate = setImmediate(() => this.#step());
    else this.#after(delay, () => this.#step());
  }

  /** Counts a frame once, when its first piece leaves. */
  #account(item: Pending): void {
    if (item.counted) return;
    item.counted = true;
    this.#peer.counters.framesSent += item.frames;
    if (this.firstKinds.length < 12) this.firstKinds.push(item.kind);
    this.kinds.push(item.kind);
    if (this.kinds.length > 32) this.kinds.shift();
  }

  #writeChunk(piece: Uint8Array, kind: string): void {
    if (piece.length === 0) return;
    const socket = this.#socket;
    const counters = this.#peer.counters;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.writableLength > MAX_BUFFERED) {
      counters.backpressureDrops++;
      return;
    }
    socket.write(piece);
    counters.writes++;
    counters.bytesSent += piece.length;
    this.#peer.log({ time: Date.now(), connection: this.id, kind, chunk: piece });
  }

  #end(how: 'fin' | 'reset', kind: string): void {
    const counters = this.#peer.counters;
    counters.closes[how] = (counters.closes[how] ?? 0) + 1;
    this.#peer.log({ time: Date.now(), connection: this.id, kind: `close-${how} (${kind})`, chunk: EMPTY_BYTES });
    this.kinds.push(`close-${how}`);
    const socket = this.#socket;
    if (how === 'reset' && typeof (socket as { resetAndDestroy?: unknown }).resetAndDestroy === 'function' && !this.#peer.tls) {
      try {
        socket.resetAndDestroy();
      } catch {
        socket.destroy();
      }
    } else if (how === 'reset') socket.destroy();
    else {
      socket.end();
      // A client that never closes its side: destroyed soon after (or when the peer closes).
      this.#peer.linger(socket);
    }
    this.#cleanup();
  }

  #cleanup(): void {
    if (this.closed) {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#timers.clear();
      return;
    }
    this.closed = true;
    // Pending writes and ticks stop; only the FIN grace timer (set just before) may stay.
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#queue.length = 0;
    this.#peer.closed(this);
  }
}

class StreamPeer implements HostileStreamPeer {
  address: { host: LoopbackHost; port: number };
  readonly transport: 'tcp' | 'tls';
  readonly tls: boolean;
  path: string | undefined;
  readonly counters = {
    connections: 0,
    framesSent: 0,
    bytesSent: 0,
    writes: 0,
    clientMalformed: 0,
    backpressureDrops: 0,
    csmPlans: {} as Record<string, number>,
    closes: {} as Record<string, number>,
  };
  readonly #options: HostileStreamPeerOptions;
  readonly #server: Server;
  readonly #open = new Map<number, HostileConnection>();
  /** Sockets ended with a FIN, and the timer that destroys them. */
  readonly #lingering = new Map<Socket, NodeJS.Timeout>();
  /** Closed connections: info, and the responder counters they reached. */
  readonly #kept = new Map<number, HostileStreamConnectionInfo>();
  readonly #finished: HostileStats = emptyStats();
  readonly #finishedHazards: Record<string, number> = {};
  readonly #recent: HostileStreamSent[] = [];
  readonly #logSize: number;
  readonly #seed: number;
  readonly #perConnectionSeeds: boolean;
  #nextId = 0;
  #ticker: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(host: LoopbackHost, options: HostileStreamPeerOptions) {
    this.address = { host, port: 0 };
    this.#options = options;
    this.#seed = options.seed ?? 1;
    this.#perConnectionSeeds = options.perConnectionSeeds ?? true;
    this.#logSize = options.logSize ?? 64;
    const psk = options.tls?.psk;
    this.tls = psk !== undefined;
    this.transport = this.tls ? 'tls' : 'tcp';
    if (psk === undefined) {
      this.#server = createTcpServer({ noDelay: true }, (socket) => this.#accept(socket));
    } else {
      const key = typeof psk.key === 'string' ? Buffer.from(psk.key, 'utf8') : Buffer.from(psk.key);
      const tlsOptions: TlsOptions = {
        ALPNProtocols: ['coap'],
        minVersion: 'TLSv1.2',
        // Node's TLS-PSK is TLS 1.2's; its default cipher list ends in !PSK.
        maxVersion: 'TLSv1.2',
        ciphers: TLS_PSK_CIPHERS,
        pskCallback: (_socket, identity) => (psk.identity !== undefined && identity !== psk.identity ? null : key),
      };
      if (psk.hint !== undefined) tlsOptions.pskIdentityHint = psk.hint;
      const server = createTlsServer(tlsOptions);
      server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket));
      server.on('tlsClientError', () => undefined);
      this.#server = server;
    }
  }

  get stats(): HostileStreamPeerStats {
    const total = emptyStats();
    addStats(total, this.#finished);
    const hazards: Record<string, number> = { ...this.#finishedHazards };
    for (const connection of this.#open.values()) {
      addStats(total, connection.script.responder.stats);
      addCounts(hazards, connection.script.hazards);
    }
    const counters = this.counters;
    return { ...total, ...counters, csmPlans: { ...counters.csmPlans }, closes: { ...counters.closes }, hazards };
  }

  get openConnections(): number {
    return this.#open.size;
  }

  get observations(): number {
    let count = 0;
    for (const connection of this.#open.values()) count += connection.script.responder.observations;
    return count;
  }

  listen(port: number, path: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = this.#server;
      const onError = (error: Error): void => {
        server.close();
        reject(error);
      };
      server.once('error', onError);
      server.listen(path !== undefined ? { path, exclusive: true } : { host: this.address.host, port, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', () => undefined);
        const address = server.address();
        this.path = path;
        this.address = { host: this.address.host, port: typeof address === 'object' && address !== null ? address.port : 0 };
        this.#ticker = setInterval(() => {
          for (const connection of this.#open.values()) connection.tick();
        }, this.#options.tickInterval ?? 20);
        resolve();
      });
    });
  }

  uri(path = '/'): string {
    const authority = this.path !== undefined ? encodeURIComponent(this.path) : formatAuthority(this.address.host, this.address.port);
    return `${this.tls ? 'coaps+tcp' : 'coap+tcp'}://${authority}${path.startsWith('/') ? path : '/' + path}`;
  }

  recent(): readonly HostileStreamSent[] {
    return [...this.#recent];
  }

  connectionFor(remotePort: number): HostileStreamConnectionInfo | undefined {
    let found: HostileStreamConnectionInfo | undefined;
    for (const connection of this.#open.values()) if (connection.remotePort === remotePort && (found === undefined || connection.id > found.id)) found = infoOf(connection);
    if (found !== undefined) return found;
    for (const info of this.#kept.values()) if (info.remotePort === remotePort && (found === undefined || info.id > found.id)) found = info;
    return found;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#closing = new Promise((resolve) => {
      for (const connection of [...this.#open.values()]) connection.destroy();
      for (const [socket, timer] of this.#lingering) {
        clearTimeout(timer);
        socket.destroy();
      }
      this.#lingering.clear();
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }

  /** A socket the peer ended (FIN): destroyed 500 ms later unless the client closed it first. */
  linger(socket: Socket): void {
    if (this.#lingering.has(socket) || socket.destroyed) return;
    const timer = setTimeout(() => {
      this.#lingering.delete(socket);
      socket.destroy();
    }, 500);
    this.#lingering.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      this.#lingering.delete(socket);
    });
  }

  log(entry: HostileStreamSent): void {
    this.#recent.push(entry);
    if (this.#recent.length > this.#logSize) this.#recent.shift();
  }

  closed(connection: HostileConnection): void {
    if (!this.#open.delete(connection.id)) return;
    addStats(this.#finished, connection.script.responder.stats);
    addCounts(this.#finishedHazards, connection.script.hazards);
    this.#kept.set(connection.id, infoOf(connection));
    if (this.#kept.size > KEPT_CONNECTIONS) this.#kept.delete(this.#kept.keys().next().value as number);
  }

  #accept(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const id = ++this.#nextId;
    const seed = this.#perConnectionSeeds ? hostileStreamConnectionSeed(this.#seed, id) : this.#seed;
    const connection = new HostileConnection(socket, id, seed, this, this.#options);
    this.counters.connections++;
    this.counters.csmPlans[connection.script.csm] = (this.counters.csmPlans[connection.script.csm] ?? 0) + 1;
    this.#open.set(id, connection);
    connection.start();
  }
}

function infoOf(connection: HostileConnection): HostileStreamConnectionInfo {
  return { id: connection.id, seed: connection.seed, remotePort: connection.remotePort, csm: connection.script.csm, firstKinds: [...connection.firstKinds], kinds: [...connection.kinds], open: !connection.closed };
}

/** @internal */
export function emptyStats(): HostileStats {
  return { received: 0, malformed: 0, requests: 0, sent: {}, behaviours: {}, notifications: 0, maxBlock2: 0, block1Completed: 0 };
}

/** @internal */
export function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

/** @internal */
export function addStats(into: HostileStats, from: HostileStats): void {
  into.received += from.received;
  into.malformed += from.malformed;
  into.requests += from.requests;
  into.notifications += from.notifications;
  into.block1Completed += from.block1Completed;
  into.maxBlock2 = Math.max(into.maxBlock2, from.maxBlock2);
  addCounts(into.sent, from.sent);
  addCounts(into.behaviours, from.behaviours);
}
