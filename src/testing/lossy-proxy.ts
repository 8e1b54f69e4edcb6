/**
 * A loopback UDP proxy that loses, duplicates, reorders and delays datagrams, reproducibly: every
 * decision comes from a seeded random source, so a failing run can be replayed with the same seed.
 *
 *   client ──► proxy socket ──(toServer loss)──► upstream socket (one per client) ──► target
 *   client ◄── proxy socket ◄──(toClient loss)── upstream socket ◄──────────────────── target
 *
 * Each client endpoint gets its own upstream socket, so the target sees as many distinct clients as
 * there are (the target keeps per-endpoint state: MIDs, observers, block transfers).
 *
 * Node-only (`node:dgram`), real timers; `close()` clears every timer and closes every socket.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { IpPeerAddress } from '../errors';
import { assertLoopback, bindLoopbackSocket, formatAuthority, socketTypeFor, type LoopbackHost } from './loopback';
import { randomInRange, seededRandom, type RandomSource } from './seeded-random';

/** What happens to datagrams in one direction. Every probability is in 0..1. */
export interface LossSpec {
  /** Probability of dropping a datagram. @defaultValue 0 */
  readonly drop?: number;
  /** Probability of sending a datagram twice. @defaultValue 0 */
  readonly duplicate?: number;
  /** Probability of holding a datagram back and releasing it after the next one of the same flow. @defaultValue 0 */
  readonly reorder?: number;
  /** A held datagram is released after this many milliseconds when no other comes. @defaultValue 50 */
  readonly reorderTimeout?: number;
  /** Delay of every datagram, in milliseconds, fixed or drawn from `[min, max]`. @defaultValue 0 */
  readonly delay?: number | readonly [number, number];
}

/** Options of {@link startLossyProxy}. */
export interface LossyProxyOptions {
  /** The server datagrams are forwarded to (loopback only). */
  readonly target: { readonly host: string; readonly port: number };
  /** Seed of the random source; the same seed and traffic give the same losses. */
  readonly seed: number;
  /** Loss from the clients to the target. @defaultValue no loss */
  readonly toServer?: LossSpec;
  /** Loss from the target back to the clients. @defaultValue no loss */
  readonly toClient?: LossSpec;
  /** Loopback address the proxy listens on. @defaultValue `'127.0.0.1'` */
  readonly host?: LoopbackHost;
  /** Port the proxy listens on; 0 picks a free one. @defaultValue 0 */
  readonly port?: number;
}

/** Counters of one direction. */
export interface LossStats {
  /** Datagrams that arrived at the proxy. */
  received: number;
  /** Datagrams passed on (not dropped), counted once even when duplicated. */
  forwarded: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Extra copies sent. */
  duplicated: number;
  /** Datagrams held back and sent after a later one. */
  reordered: number;
}

/** A running lossy proxy. Create with {@link startLossyProxy}. */
export interface LossyProxy {
  /** Where clients send to. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** Counters per direction. */
  readonly stats: { readonly toServer: Readonly<LossStats>; readonly toClient: Readonly<LossStats> };
  /** Client endpoints seen so far (each has its own upstream socket). */
  readonly clientCount: number;
  /** `'coap://127.0.0.1:PORT/path'` pointing at the proxy. */
  uri(path?: string): string;
  /** Changes the loss at runtime; a direction left out keeps its spec. `setLoss({ toServer: { drop: 1 } })` cuts the path. */
  setLoss(loss: { readonly toServer?: LossSpec; readonly toClient?: LossSpec }): void;
  /** Clears every timer (held and delayed datagrams are discarded) and closes every socket. */
  close(): Promise<void>;
}

/**
 * Starts a lossy UDP proxy on loopback in front of `target`.
 *
 * @example
 * ```ts
 * const proxy = await startLossyProxy({ target: peer.address, seed: 42, toServer: { drop: 0.2 } });
 * // ... send requests to proxy.uri('/hello') ...
 * await proxy.close();
 * ```
 * @throws CoapArgumentError (as a rejection) when the listening address or the target is not loopback
 */
export async function startLossyProxy(options: LossyProxyOptions): Promise<LossyProxy> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the lossy proxy host');
  const targetHost = assertLoopback(options.target.host, 'the lossy proxy target');
  const proxy = new UdpLossyProxy(host, { host: targetHost, port: options.target.port }, options);
  await proxy.bind(options.port ?? 0);
  return proxy;
}

type Direction = 'toServer' | 'toClient';

/** One direction of one client's traffic: the datagram held back for reordering, as its delivery. */
interface Flow {
  held: (() => void) | undefined;
  heldTimer: NodeJS.Timeout | undefined;
}

interface Client {
  readonly address: IpPeerAddress;
  readonly upstream: Socket;
  readonly toServer: Flow;
  readonly toClient: Flow;
}

function emptyStats(): LossStats {
  return { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };
}

class UdpLossyProxy implements LossyProxy {
  address: { host: LoopbackHost; port: number };
  readonly stats = { toServer: emptyStats(), toClient: emptyStats() };

  readonly #socket: Socket;
  readonly #target: { host: LoopbackHost; port: number };
  readonly #clients = new Map<string, Client>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #random: Record<Direction, RandomSource>;
  readonly #loss: Record<Direction, LossSpec>;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(host: LoopbackHost, target: { host: LoopbackHost; port: number }, options: LossyProxyOptions) {
    this.address = { host, port: 0 };
    this.#target = target;
    // Independent streams per direction, so traffic in one direction never shifts the other's decisions.
    this.#random = { toServer: seededRandom(options.seed), toClient: seededRandom(options.seed ^ 0x5bd1e995) };
    this.#loss = { toServer: options.toServer ?? {}, toClient: options.toClient ?? {} };
    this.#socket = createSocket({ type: socketTypeFor(host) });
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  async bind(port: number): Promise<void> {
    try {
      const bound = await bindLoopbackSocket(this.#socket, this.address.host as LoopbackHost, port, (message, remote) => this.#fromClient(message, remote));
      this.address = { host: this.address.host, port: bound };
    } catch (error) {
      this.#closed = true;
      throw error;
    }
  }


  uri(path = '/'): string {
    return `coap://${formatAuthority(this.address.host, this.address.port)}${path.startsWith('/') ? path : '/' + path}`;
  }

  setLoss(loss: { readonly toServer?: LossSpec; readonly toClient?: LossSpec }): void {
    if (loss.toServer !== undefined) this.#loss.toServer = loss.toServer;
    if (loss.toClient !== undefined) this.#loss.toClient = loss.toClient;
  }

  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const sockets = [this.#socket, ...[...this.#clients.values()].map((client) => client.upstream)];
    this.#clients.clear();
    this.#closing = Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve())))).then(() => undefined);
    return this.#closing;
  }

  #fromClient(message: Buffer, remote: RemoteInfo): void {
    if (this.#closed) return;
    const key = `${remote.address}|${remote.port}`;
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = this.#openUpstream({ host: remote.address, port: remote.port });
      this.#clients.set(key, client);
    }
    const upstream = client.upstream;
    this.#pass('toServer', client.toServer, new Uint8Array(message), (bytes) => upstream.send(bytes, this.#target.port, this.#target.host));
  }

  #openUpstream(address: IpPeerAddress): Client {
    const upstream = createSocket({ type: socketTypeFor(this.#target.host) });
    const client: Client = { address, upstream, toServer: { held: undefined, heldTimer: undefined }, toClient: { held: undefined, heldTimer: undefined } };
    upstream.on('error', () => undefined);
    upstream.on('message', (message, remote) => {
      if (this.#closed || remote.port !== this.#target.port || remote.address !== this.#target.host) return;
      this.#pass('toClient', client.toClient, new Uint8Array(message), (bytes) => this.#socket.send(bytes, address.port, address.host));
    });
    // Bound implicitly by the first send, on an ephemeral loopback port.
    upstream.bind({ address: this.#target.host, port: 0 });
    return client;
  }

  /**
   * Applies one direction's loss spec to a datagram. Every datagram draws the same four numbers (drop,
   * duplicate, reorder, delay) whatever the spec, so changing one probability does not shift the others.
   */
  #pass(direction: Direction, flow: Flow, bytes: Uint8Array, send: (bytes: Uint8Array) => void): void {
    const spec = this.#loss[direction];
    const stats = this.stats[direction];
    const random = this.#random[direction];
    const dropDraw = random();
    const duplicateDraw = random();
    const reorderDraw = random();
    const delayDraw = random();
    stats.received++;
    if (dropDraw < (spec.drop ?? 0)) {
      stats.dropped++;
      return;
    }
    stats.forwarded++;
    const copies = duplicateDraw < (spec.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    const deliver = (): void => {
      for (let i = 0; i < copies; i++) this.#later(delayOf(spec.delay, delayDraw), () => send(bytes));
    };
    if (flow.held === undefined && reorderDraw < (spec.reorder ?? 0)) {
      // Hold this one; it goes out right after the next datagram of the flow (or after a timeout).
      stats.reordered++;
      flow.held = deliver;
      flow.heldTimer = this.#later(Math.max(1, spec.reorderTimeout ?? 50), () => this.#releaseHeld(flow));
      return;
    }
    deliver();
    this.#releaseHeld(flow);
  }

  #releaseHeld(flow: Flow): void {
    const deliver = flow.held;
    if (deliver === undefined) return;
    if (flow.heldTimer !== undefined) {
      clearTimeout(flow.heldTimer);
      this.#timers.delete(flow.heldTimer);
    }
    flow.held = undefined;
    flow.heldTimer = undefined;
    deliver();
  }

  /** Runs `work` after `delay` ms (tracked so close() can cancel it), or now when the delay is 0. */
  #later(delay: number, work: () => void): NodeJS.Timeout | undefined {
    if (this.#closed) return undefined;
    if (delay <= 0) {
      work();
      return undefined;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) work();
    }, delay);
    this.#timers.add(timer);
    return timer;
  }
}

function delayOf(delay: LossSpec['delay'], draw: number): number {
  if (delay === undefined) return 0;
  if (typeof delay === 'number') return delay;
  return randomInRange(() => draw, delay[0], delay[1]);
}
