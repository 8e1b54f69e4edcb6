/**
 * A CoAP server on loopback for specs, examples and users' tests (`rxcoap/testing`): scripted resources,
 * `/.well-known/core`, Observe (RFC 7641), block-wise transfers (RFC 7959), message deduplication and
 * separate responses (RFC 7252), over UDP and, on request, TCP and TLS (RFC 8323, PSK or certificates), with
 * faults to inject: drop, delay, 5.03, RST, Echo challenges (RFC 9175 §2), and on TCP/TLS no or late CSM,
 * Release, Abort, dropped connections, oversize frames and stalls.
 *
 * Node-only (`node:dgram`, `node:net`, `node:tls`). Unlike the library's protocol layers it uses real timers,
 * since it is a server run beside the code under test; `close()` clears every timer and closes every socket.
 *
 * The parts, one concern each: resources and request processing (`test-peer-resources.ts`), observers
 * (`test-peer-observers.ts`), faults (`test-peer-faults.ts`), the UDP message layer (`test-peer-reliability.ts`),
 * and one listener per transport (`udp-listener.ts`, `stream-listener.ts` with `stream-connection.ts`).
 */
import { sizeToSzx } from '../codec/block';
import { CoapArgumentError } from '../errors';
import { Block1Assembler } from './block1-assembler';
import { assertLoopback, formatAuthority, type LoopbackHost } from './loopback';
import { seededRandom } from './seeded-random';
import { StreamListener } from './stream-listener';
import { WsListener } from './ws-listener';
import type { StreamConnection, StreamContext } from './stream-connection';
import type {
  ReceivedPdu,
  TestConnection,
  TestFault,
  TestPeer,
  TestPeerEvents,
  TestPeerOptions,
  TestPeerStats,
  TestStreamFault,
  TestTransport,
} from './test-peer-api';
import { PeerLog, errorResponse, type Observer } from './test-peer-core';
import { RequestFaults, StreamFaults } from './test-peer-faults';
import { ObserverRegistry } from './test-peer-observers';
import { ResourceServer } from './test-peer-resources';
import { PeerTimers } from './test-peer-timers';
import { ResponseCode } from '../codec/pdu';
import { normalizePath, type TestHandler, type TestResource } from './test-resource';
import { UdpListener } from './udp-listener';
import { UnixDatagramSocket } from './unix-dgram-listener';
import { defaultLocalPath } from '../transport/unix-path';

export type {
  ReceivedPdu,
  SentPdu,
  TestConnection,
  TestFault,
  TestPeer,
  TestPeerEvents,
  TestPeerOptions,
  TestPeerStats,
  TestStreamFault,
  TestStreamTransport,
  TestTlsOptions,
  TestTransport,
} from './test-peer-api';

/**
 * Starts a CoAP server on loopback: UDP by default, TCP and TLS when listed in `transports`.
 *
 * @example
 * ```ts
 * const peer = await startTestPeer({ resources: [{ path: '/hello', get: 'world' }] });
 * // ... GET peer.uri('/hello') ...
 * await peer.close();
 * ```
 * @example
 * ```ts
 * const peer = await startTestPeer({
 *   transports: ['tcp', 'tls'],
 *   tls: { psk: { identity: 'client', key: 'secret' } },
 *   resources: [{ path: '/hello', get: 'world' }],
 * });
 * peer.uri('/hello', 'tls'); // 'coaps+tcp://127.0.0.1:PORT/hello'
 * ```
 * @param options - see {@link TestPeerOptions}
 * @returns the running peer, once every listener is bound
 * @throws CoapArgumentError (as a rejection) for a non-loopback host, a bad block size, an unknown transport
 *   or TLS without credentials
 */
export async function startTestPeer(options: TestPeerOptions = {}): Promise<TestPeer> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the test peer host');
  const peer = new CoapTestPeer(host, options);
  await peer.listen(options);
  return peer;
}

const SCHEMES: { readonly [T in TestTransport]: string } = { udp: 'coap', tcp: 'coap+tcp', tls: 'coaps+tcp', 'unix-dgram': 'coap', 'unix-stream': 'coap+tcp', ws: 'coap+ws', wss: 'coaps+ws' };

/** The transports served, checked. */
function transportsOf(options: TestPeerOptions): TestTransport[] {
  const transports = options.transports ?? ['udp'];
  if (transports.length === 0) throw new CoapArgumentError('the test peer needs at least one transport', { field: 'transports' });
  for (const transport of transports) {
    if (!(transport in SCHEMES)) throw new CoapArgumentError(`unknown test peer transport '${String(transport)}' (udp, tcp, tls, unix-dgram, unix-stream, ws or wss)`, { field: 'transports' });
  }
  return [...new Set(transports)];
}

class CoapTestPeer implements TestPeer {
  address: { host: LoopbackHost; port: number };
  readonly ports: { [T in TestTransport]?: number } = {};
  readonly paths: { 'unix-dgram'?: string; 'unix-stream'?: string } = {};

  readonly #host: LoopbackHost;
  readonly #transports: TestTransport[];
  readonly #log: PeerLog;
  readonly #timers = new PeerTimers();
  readonly #block1: Block1Assembler;
  readonly #observers: ObserverRegistry;
  readonly #faults: RequestFaults;
  readonly #streamFaults = new StreamFaults();
  readonly #resources: ResourceServer;
  readonly #udp: UdpListener | undefined;
  /** The Unix datagram listener: the UDP listener's message layer on a socket path. */
  readonly #unixDgram: UdpListener | undefined;
  readonly #streams: (StreamListener | WsListener)[] = [];
  #connectionIds = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(host: LoopbackHost, options: TestPeerOptions) {
    this.#host = host;
    this.address = { host, port: 0 };
    this.#transports = transportsOf(options);
    const maxBlock2Szx = sizeToSzx(options.blockSize ?? 1024);
    const maxBlock1Szx = sizeToSzx(options.maxBlock1Size ?? 1024);
    this.#block1 = new Block1Assembler(options.maxBodySize ?? 1_048_576, maxBlock1Szx);
    this.#log = new PeerLog(options.logSize ?? 1000);
    this.#observers = new ObserverRegistry(options.observeSequenceStart ?? 1);
    // One seeded source for drop faults, Echo values and message IDs, drawn in that order since the UDP-only peer.
    const random = seededRandom(options.seed ?? 1);
    const firstMessageId = Math.floor(random() * 0x10000);
    this.#faults = new RequestFaults(random);
    const isClosed = (): boolean => this.#closed;
    this.#resources = new ResourceServer({ maxBlock2Szx, maxBlock1Szx, block1: this.#block1, observers: this.#observers, faults: this.#faults, isClosed });
    const shared = { log: this.#log, timers: this.#timers, resources: this.#resources, observers: this.#observers, faults: this.#faults, isClosed };
    const datagramOptions = {
      notifyType: options.notifyType ?? 'NON',
      confirmableEvery: options.confirmableEvery ?? 0,
      ackTimeout: options.ackTimeout ?? 2000,
      maxRetransmit: options.maxRetransmit ?? 4,
      dedupLifetime: options.dedupLifetime ?? 247_000,
      firstMessageId,
    } as const;
    if (this.#transports.includes('udp')) this.#udp = new UdpListener({ ...shared, host }, datagramOptions);
    if (this.#transports.includes('unix-dgram')) {
      const path = options.unixPath ?? defaultLocalPath();
      this.#unixDgram = new UdpListener({ ...shared, host }, { ...datagramOptions, unix: new UnixDatagramSocket(path) });
      this.paths['unix-dgram'] = path;
    }
    const streamContext: StreamContext = {
      ...shared,
      streamFaults: this.#streamFaults,
      maxMessageSize: options.maxMessageSize ?? 1152,
      blockWiseTransfer: options.blockWiseTransfer ?? true,
    };
    const hooks = {
      nextId: () => ++this.#connectionIds,
      onConnect: (connection: StreamConnection) => this.#log.emit('connect', connection),
      onDisconnect: (connection: StreamConnection) => this.#log.emit('disconnect', connection),
    };
    for (const transport of this.#transports) {
      if (transport === 'ws' || transport === 'wss') this.#streams.push(new WsListener(transport, streamContext, options.tls, hooks));
      else if (transport !== 'udp' && transport !== 'unix-dgram') this.#streams.push(new StreamListener(transport, streamContext, options.tls, hooks));
    }
    if (this.#transports.includes('unix-stream')) this.paths['unix-stream'] = options.unixStreamPath ?? defaultLocalPath();
    if (options.streamFault !== undefined) this.#streamFaults.set(options.streamFault);
    for (const resource of options.resources ?? []) this.addResource(resource);
  }

  /** Binds every listener; on a failure, closes what was bound and rethrows. */
  async listen(options: TestPeerOptions): Promise<void> {
    try {
      for (const transport of this.#transports) {
        let port: number;
        if (transport === 'udp') port = await (this.#udp as UdpListener).bind(options.port ?? 0);
        else if (transport === 'unix-dgram') port = await (this.#unixDgram as UdpListener).bind(0);
        else if (transport === 'unix-stream') port = await (this.#streams.find((listener) => listener.transport === transport) as StreamListener).listenPath(this.paths['unix-stream']!);
        else {
          const listener = this.#streams.find((candidate) => candidate.transport === transport) as StreamListener | WsListener;
          const ports: { readonly [T in TestTransport]?: number } = { tcp: options.tcpPort, tls: options.tlsPort, ws: options.wsPort, wss: options.wssPort };
          port = await listener.listen(this.#host, ports[transport] ?? 0);
        }
        this.ports[transport] = port;
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    this.address = { host: this.#host, port: this.ports.udp ?? (this.ports[this.#transports[0]] as number) };
  }

  get received(): readonly ReceivedPdu[] {
    return this.#log.received;
  }

  get stats(): Readonly<TestPeerStats> {
    return this.#log.stats;
  }

  get connections(): readonly TestConnection[] {
    return this.#streams.flatMap((listener) => listener.connections);
  }

  uri(path = '/', transport: TestTransport = this.#transports[0]): string {
    const resource = path.startsWith('/') ? path : '/' + path;
    // libcoap's form of a Unix socket as a URI host: the percent-encoded path (coap://%2Ftmp%2Fs/res).
    if (transport === 'unix-dgram' || transport === 'unix-stream') {
      const socketPath = this.paths[transport];
      if (socketPath === undefined) throw new CoapArgumentError(`the test peer does not serve ${transport}`, { field: 'transport' });
      return `${SCHEMES[transport]}://${encodeURIComponent(socketPath)}${resource}`;
    }
    const port = this.ports[transport];
    if (port === undefined) throw new CoapArgumentError(`the test peer does not serve ${transport}`, { field: 'transport' });
    return `${SCHEMES[transport]}://${formatAuthority(this.#host, port)}${path.startsWith('/') ? path : '/' + path}`;
  }

  addResource(resource: TestResource): void {
    const path = normalizePath(resource.path);
    this.#timers.stopInterval(path);
    this.#resources.set({ ...resource, path });
    const every = resource.notifyEvery;
    if (every !== undefined && every > 0 && !this.#closed) this.#timers.interval(path, () => this.notify(path), every);
  }

  removeResource(path: string): void {
    const key = normalizePath(path);
    this.#timers.stopInterval(key);
    this.#resources.delete(key);
    for (const observer of this.#observers.ofPath(key)) {
      // RFC 7641 §3.2: a non-2.xx notification (here 4.04) ends the observation.
      observer.client.channel.deliver(observer, errorResponse(ResponseCode.NotFound, 'resource removed'), undefined);
      this.#observers.remove(observer);
    }
  }

  update(path: string, representation: TestHandler | Uint8Array | string): void {
    const key = normalizePath(path);
    const resource = this.#resources.get(key);
    if (resource === undefined) throw new Error(`no resource at ${key}`);
    this.#resources.set({ ...resource, get: representation });
    this.notify(key);
  }

  notify(path: string): number {
    if (this.#closed) return 0;
    const observers = this.#observers.ofPath(normalizePath(path));
    for (const observer of observers) this.#notifyObserver(observer);
    return observers.length;
  }

  observerCount(path: string): number {
    return this.#observers.count(normalizePath(path));
  }

  setFault(fault: TestFault | null): void {
    this.#faults.set(fault);
  }

  setStreamFault(fault: TestStreamFault | null): void {
    this.#streamFaults.set(fault);
  }

  on<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this {
    this.#log.on(event, listener);
    return this;
  }

  off<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): this {
    this.#log.off(event, listener);
    return this;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#timers.clearAll();
    this.#observers.clear();
    this.#block1.clear();
    const closing: Promise<void>[] = [];
    if (this.#udp !== undefined) closing.push(this.#udp.close());
    if (this.#unixDgram !== undefined) closing.push(this.#unixDgram.close());
    for (const listener of this.#streams) closing.push(listener.close());
    this.#closing = Promise.all(closing).then(() => undefined);
    return this.#closing;
  }

  #notifyObserver(observer: Observer): void {
    const { parts, resource, final } = this.#resources.notification(observer);
    observer.client.channel.deliver(observer, parts, resource);
    if (final) this.#observers.remove(observer);
  }
}
