/**
 * CoAP over TCP and TLS-PSK (RFC 8323): GET throughput on ONE connection against libcoap 4.3.4, rxcoap vs a raw
 * client (bench/peers/raw-net.ts, raw-tls.ts: our CSM, the server's CSM, pre-encoded GET frames with a distinct
 * token each, corked writes, responses counted by a minimal length parser).
 * - TCP: `coap-server-notls` (it serves UDP and TCP on port P); TLS-PSK: `coap-server-openssl -k KEY` (TLS on
 *   P + 1; TLS 1.2, the raw client offers PSK-AES128-GCM-SHA256). libcoap sends its CSM at once and holds every
 *   response until it has the client's: both clients send theirs first and wait for the server's.
 * - 1 outstanding: client and server pinned to CPU 0 (a lockstep round trip across CPUs costs ~40 µs of wake-up);
 *   32 outstanding on the one connection: client on CPU 0, server on CPU 1.
 * - a fresh server per figure; in the measuring child each contender: setup (connect, CSM, one GET), warm-up,
 *   then 7 windows interleaved with the other's; medians of wall-time rates.
 *
 * Beside the rate, each window records the client's CPU time, the server's (from /proc/PID/stat), and how many
 * writes and reads the client's sockets did (`net.Socket#_write`/`_writev` calls and data chunks pushed; over TLS
 * these are the cleartext side of the TLSWrap): the notes give requests per client CPU-second, writes and reads
 * per request and server CPU per request for both, which tell whether rxcoap's cost is CPU per request or wire
 * behaviour (writes not coalesced, more and smaller segments for the server to handle).
 */
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { CoapContext, type ClientSession } from '../src/node';
import { runChild } from './children';
import { startLibcoapServer, type RunningServer } from './libcoap-server';
import { closedLoop, DEFAULT_MEASURE, measureInterleaved, median, type Contender, type Measured } from './measure';
import { getOnce } from './rxcoap-contender';
import { rawStreamGetContender, tcpConnector } from './peers/raw-net';
import { rawTlsGetContender } from './peers/raw-tls';
import type { TableRow } from './table';

const IDENTITY = 'rxcoap-bench';
const KEY = 'bench-secret-key';

export type StreamProto = 'tcp' | 'tls';

/** What the measuring child gets. */
export interface StreamGetArgs {
  readonly proto: StreamProto;
  /** The server's TCP (or TLS) port. */
  readonly port: number;
  readonly path: string;
  readonly inFlight: number;
  /** The server's pid, to read its CPU time from /proc (Linux). */
  readonly serverPid?: number;
}

/** Per-window side measurements of one contender (medians over the windows). */
export interface SideFigures {
  /** Requests per client CPU-second. */
  readonly perCpuSecond: number;
  /** Socket writes per request. */
  readonly writesPerRequest: number;
  /** Chunks the client's socket delivered ('data' events) per request. */
  readonly readsPerRequest: number;
  /** Server CPU microseconds per request (NaN without /proc). */
  readonly serverMicrosPerRequest: number;
}

export interface StreamGetResult {
  readonly rxcoap: Measured;
  readonly raw: Measured;
  readonly rxcoapSide: SideFigures;
  readonly rawSide: SideFigures;
  /** The raw TLS connection's version and suite. */
  readonly rawInfo: string;
  /** rxcoap's TLS connection's version and suite (seen on its socket). */
  readonly rxcoapInfo: string;
  /** Set when rxcoap/node had no tcp transport registered and the bench passed tcpTransport itself. */
  readonly explicitTransport: boolean;
}

/** Socket-layer writes and reads of this process so far (both contenders share them; windows do not overlap). */
let socketWrites = 0;
let socketReads = 0;

/**
 * Counts calls of `net.Socket#_write` and `#_writev` (each is one write request to libuv: one syscall, or one
 * TLS write) and of `push` with data (one chunk read, one 'data' event; on TLS, one decrypted chunk).
 */
export function countSocketCalls(): void {
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev' | 'push', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]) {
      socketWrites++;
      return original.apply(this, args);
    };
  }
  const push = proto.push;
  proto.push = function (this: unknown, ...args: unknown[]) {
    if (args[0] !== null) socketReads++;
    return push.apply(this, args);
  };
}

/** CPU time of process `pid` in microseconds (utime + stime from /proc), or NaN. */
function processCpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5) (utime, stime), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return NaN;
  }
}

/** Wraps a contender so that each window also records CPU time (client and server) and socket calls. */
export function withSideFigures(contender: Contender, serverPid: number | undefined): Contender & { side(): SideFigures } {
  const perCpu: number[] = [];
  const writes: number[] = [];
  const reads: number[] = [];
  const server: number[] = [];
  let measuring = false;
  return {
    name: contender.name,
    setup: contender.setup?.bind(contender),
    teardown: contender.teardown?.bind(contender),
    async window(ms) {
      const cpu0 = process.cpuUsage();
      const writes0 = socketWrites;
      const reads0 = socketReads;
      const server0 = processCpuMicros(serverPid);
      const ops = await contender.window(ms);
      const cpu = process.cpuUsage(cpu0);
      const serverMicros = processCpuMicros(serverPid) - server0;
      // The first call is the warm-up.
      if (measuring && ops > 0) {
        perCpu.push(ops / ((cpu.user + cpu.system) / 1e6));
        writes.push((socketWrites - writes0) / ops);
        reads.push((socketReads - reads0) / ops);
        server.push(serverMicros / ops);
      }
      measuring = true;
      return ops;
    },
    side: () => ({ perCpuSecond: median(perCpu), writesPerRequest: median(writes), readsPerRequest: median(reads), serverMicrosPerRequest: median(server) }),
  };
}

function newSession(context: CoapContext, proto: StreamProto, port: number): { session: ClientSession; explicit: boolean } {
  if (proto === 'tls') return { session: context.newClientSessionPsk({ server: `coaps+tcp://127.0.0.1:${port}`, psk: { identity: IDENTITY, key: KEY } }), explicit: false };
  const server = `coap+tcp://127.0.0.1:${port}`;
  try {
    return { session: context.newClientSession(server), explicit: false };
  } catch (error) {
    if (!/no tcp transport is registered/.test((error as Error).message)) throw error;
    // Not wired into rxcoap/node yet: the same transport, handed over through the `transport` option.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { tcpTransport } = require('../src/transport/tcp') as typeof import('../src/transport/tcp');
    return { session: context.newClientSession({ server, transport: tcpTransport({ host: '127.0.0.1', port }) }), explicit: true };
  }
}

/** Version and suite of every live TLS socket of this process (set up first, rxcoap's is the only one then). */
function negotiatedSuites(): string {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  const suites = handles
    .map((handle) => (handle as { getCipher?: () => { name: string; version: string } | undefined }).getCipher?.())
    .filter((cipher): cipher is { name: string; version: string } => cipher !== undefined)
    .map((cipher) => `${cipher.version} ${cipher.name}`);
  return [...new Set(suites)].join(', ');
}

/** rxcoap: one session (one connection), `inFlight` GETs outstanding on it. */
function rxcoapStreamContender(args: StreamGetArgs): Contender & { explicit(): boolean; info(): string } {
  let context: CoapContext | undefined;
  let session: ClientSession | undefined;
  let explicit = false;
  let info = '';
  const get = (done: (ok: boolean) => void): void => getOnce(session!, args.path, done);
  return {
    name: 'rxcoap',
    explicit: () => explicit,
    info: () => info,
    async setup() {
      context = new CoapContext();
      ({ session, explicit } = newSession(context, args.proto, args.port));
      // Connect, exchange CSMs, one GET, before the windows.
      await new Promise<void>((resolve, reject) => get((ok) => (ok ? resolve() : reject(new Error(`rxcoap: the first GET over ${args.proto} failed`)))));
      if (args.proto === 'tls') info = negotiatedSuites();
    },
    window: (ms) => closedLoop(ms, args.inFlight, get),
    async teardown() {
      await context?.free();
    },
  };
}

/** Child side: rxcoap and the raw client against the server on `port`. */
export async function streamGetChild(args: StreamGetArgs): Promise<StreamGetResult> {
  countSocketCalls();
  const host = '127.0.0.1';
  const rx = rxcoapStreamContender(args);
  const rawClient =
    args.proto === 'tcp'
      ? rawStreamGetContender({ name: 'raw node:net', connect: tcpConnector(host, args.port), path: args.path, inFlight: args.inFlight })
      : rawTlsGetContender({ host, port: args.port, identity: IDENTITY, key: KEY, path: args.path, inFlight: args.inFlight });
  const rxSide = withSideFigures(rx, args.serverPid);
  const rawSide = withSideFigures(rawClient, args.serverPid);
  const [rxcoap, raw] = await measureInterleaved([rxSide, rawSide], DEFAULT_MEASURE);
  return { rxcoap, raw, rxcoapSide: rxSide.side(), rawSide: rawSide.side(), rawInfo: rawClient.info(), rxcoapInfo: rx.info(), explicitTransport: rx.explicit() };
}

const fmt = (value: number): string => (Number.isFinite(value) ? (value >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : value.toFixed(value >= 100 ? 0 : 2)) : '-');

/** One figure: a fresh libcoap 4.3.4 server, one measuring child. */
async function streamFigure(proto: StreamProto, inFlight: 1 | 32): Promise<TableRow[]> {
  const label = `${proto === 'tcp' ? 'TCP' : 'TLS-PSK'} GET ${inFlight} outst., libcoap 4.3.4`;
  const goal = inFlight === 1 ? '>= 0.85x' : '>= 0.6x';
  const serverCpu = inFlight === 1 ? 0 : 1;
  let server: RunningServer | undefined;
  try {
    server = await startLibcoapServer({ cpu: serverCpu, version: '4.3.4', pskKey: proto === 'tls' ? KEY : undefined });
    const port = proto === 'tcp' ? server.port : server.port + 1;
    const result = await runChild<StreamGetResult>('stream-get', { proto, port, path: '/', inFlight, serverPid: server.child.pid } satisfies StreamGetArgs, 0, 90_000);
    const { rxcoap, raw } = result;
    if (rxcoap.error !== undefined || raw.error !== undefined) {
      return [{ figure: `${label} vs raw`, goal, error: [rxcoap, raw].filter((m) => m.error !== undefined).map((m) => `${m.name}: ${m.error}`).join('; ') }];
    }
    const pinning = inFlight === 1 ? 'client and server pinned to CPU 0' : 'client CPU 0, libcoap CPU 1';
    const server_ = proto === 'tcp' ? 'coap-server-notls 4.3.4' : `coap-server-openssl 4.3.4 -k; rxcoap ${result.rxcoapInfo || '(suite not seen)'}, raw ${result.rawInfo || '(suite not seen)'}`;
    const rx = result.rxcoapSide;
    const rw = result.rawSide;
    const side =
      `req per client CPU-s rxcoap ${fmt(rx.perCpuSecond)} vs raw ${fmt(rw.perCpuSecond)} (${(rx.perCpuSecond / rw.perCpuSecond).toFixed(2)}x); ` +
      `socket writes/req rxcoap ${rx.writesPerRequest.toFixed(2)}, raw ${rw.writesPerRequest.toFixed(2)}; reads/req rxcoap ${rx.readsPerRequest.toFixed(2)}, raw ${rw.readsPerRequest.toFixed(2)}; ` +
      `server CPU/req rxcoap ${rx.serverMicrosPerRequest.toFixed(1)} µs, raw ${rw.serverMicrosPerRequest.toFixed(1)} µs`;
    const explicit = result.explicitTransport ? '; rxcoap got tcpTransport through the transport option (not registered in rxcoap/node)' : '';
    return [
      {
        figure: `${label} vs raw`,
        ours: rxcoap.rate,
        theirs: raw.rate,
        unit: 'req/s',
        ratio: rxcoap.rate / raw.rate,
        goal,
        note: `${server_}; ${pinning}; 1 session = 1 connection, ${inFlight} GET${inFlight === 1 ? '' : 's'} outstanding on it (raw: ${inFlight} pre-encoded frame${inFlight === 1 ? '' : 's'} in flight, corked writes); ${side}${explicit}`,
      },
    ];
  } catch (error) {
    return [{ figure: `${label} vs raw`, goal, error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}

/** The TCP figures: 1 and 32 outstanding, a fresh server each. */
export async function figureTcp(): Promise<TableRow[]> {
  return [...(await streamFigure('tcp', 1)), ...(await streamFigure('tcp', 32))];
}

/** The TLS-PSK figures: 1 and 32 outstanding, a fresh server each. */
export async function figureTls(): Promise<TableRow[]> {
  return [...(await streamFigure('tls', 1)), ...(await streamFigure('tls', 32))];
}
