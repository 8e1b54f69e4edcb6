/**
 * CoAP over WebSockets (RFC 8323 §4): GET on ONE connection, 1 and 32 outstanding, rxcoap (`coap+ws://`, the
 * `ws` transport of rxcoap/node) vs a raw `ws` client (bench/peers/raw-ws.ts: our CSM, the server's CSM,
 * pre-encoded GET messages with a distinct token each, corked writes, responses matched by token).
 * - against the bench's fast Node WS peer (bench/peers/fast-ws-peer.ts): rates, goals >= 0.85x / >= 0.6x raw;
 * - against libcoap 4.3.4 `coap-server-openssl -w PORT -X 1152`, whose WebSocket server writes header and payload
 *   in two writes without TCP_NODELAY (about 22 lockstep round trips a second for any client): the rates say
 *   nothing of the client, so the figure is client CPU per request (requests per client CPU-second), goals
 *   >= 0.85x / >= 0.6x the raw client's. At 1 outstanding two more contenders run in the same child: the raw client
 *   with each GET an rxjs Observable, and that with each response decoded and checked by rxcoap's codec (diagnostic
 *   rows: how much of the budget is left for the rest of a client).
 * - 1 outstanding: client and server pinned to CPU 0; 32: client on CPU 0, server on CPU 1; a fresh server per
 *   figure; in the measuring child each contender: setup (connect, CSMs, one GET), warm-up, then windows
 *   interleaved with the other's; medians.
 */
import { connect, createServer } from 'node:net';
import * as path from 'node:path';
import { CoapContext, type ClientSession } from '../src/node';
import { runChild, sleep } from './children';
import { startLibcoapServer, startNodeServer, type RunningServer } from './libcoap-server';
import { getOnce } from './rxcoap-contender';
import { closedLoop, DEFAULT_MEASURE, measureInterleaved, type Contender, type Measured, type MeasureOptions } from './measure';
import { rawWsGetContender } from './peers/raw-ws';
import { countSocketCalls, withSideFigures, type SideFigures } from './tcp';
import type { TableRow } from './table';

/** What the measuring child gets. */
export interface WsGetArgs {
  readonly port: number;
  readonly path: string;
  readonly inFlight: number;
  readonly serverPid?: number;
  /** libcoap: longer windows (a few requests per window at 22 round trips a second would say little). */
  readonly slow: boolean;
  /**
   * Also measure the raw client with each GET an rxjs Observable, and that with each response decoded and checked by
   * rxcoap's codec too (floors of any Observable-returning client).
   */
  readonly observableFloors?: boolean;
}

export interface WsGetResult {
  readonly rxcoap: Measured;
  readonly raw: Measured;
  readonly rxcoapSide: SideFigures;
  readonly rawSide: SideFigures;
  readonly floors?: readonly Floor[];
}

/** rxcoap: one coap+ws session (one connection), `inFlight` GETs outstanding on it. */
function rxcoapWsContender(args: WsGetArgs): Contender {
  let context: CoapContext | undefined;
  let session: ClientSession | undefined;
  const get = (done: (ok: boolean) => void): void => getOnce(session!, args.path, done);
  return {
    name: 'rxcoap',
    async setup() {
      context = new CoapContext();
      session = context.newClientSession(`coap+ws://127.0.0.1:${args.port}`);
      await new Promise<void>((resolve, reject) => get((ok) => (ok ? resolve() : reject(new Error('rxcoap: the first GET over coap+ws failed')))));
    },
    window: (ms) => closedLoop(ms, args.inFlight, get),
    async teardown() {
      await context?.free();
    },
  };
}

/** Child side: rxcoap and the raw ws client against the server on `port`. */
export async function wsGetChild(args: WsGetArgs): Promise<WsGetResult> {
  countSocketCalls();
  const rx = withSideFigures(rxcoapWsContender(args), args.serverPid);
  const raw = withSideFigures(rawWsGetContender({ url: `ws://127.0.0.1:${args.port}/.well-known/coap`, path: args.path, inFlight: args.inFlight }), args.serverPid);
  const floors = (args.observableFloors ? [false, true] : []).map((decode) => ({
    decode,
    contender: withSideFigures(rawWsGetContender({ url: `ws://127.0.0.1:${args.port}/.well-known/coap`, path: args.path, inFlight: args.inFlight, observable: true, decode }), args.serverPid),
  }));
  const measure: MeasureOptions = args.slow ? { warmupMs: 1000, windowMs: 2000, windows: 5 } : DEFAULT_MEASURE;
  const [rxcoap, rawMeasured, ...floorsMeasured] = await measureInterleaved([rx, raw, ...floors.map((floor) => floor.contender)], measure);
  return {
    rxcoap,
    raw: rawMeasured,
    rxcoapSide: rx.side(),
    rawSide: raw.side(),
    floors: floors.map((floor, i) => ({ decode: floor.decode, measured: floorsMeasured[i], side: floor.contender.side() })),
  };
}

/** A TCP port nothing listens on now (libcoap's -w takes a port; its own -p port is chosen by startLibcoapServer). */
async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once `port` takes TCP connections (libcoap opens its WS endpoint with the others, but check). */
async function waitForTcp(port: number, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} (WebSocket) within ${ms} ms`);
}

const fmt = (value: number): string => (Number.isFinite(value) ? (value >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : value.toFixed(value >= 100 ? 0 : 2)) : '-');

type WsPeerKind = 'fast' | 'libcoap';

/** One figure: a fresh server, one measuring child. */
async function wsFigure(peer: WsPeerKind, inFlight: 1 | 32): Promise<TableRow[]> {
  const label = `WS GET ${inFlight} outst., ${peer === 'fast' ? 'fast Node WS peer' : 'libcoap 4.3.4'}`;
  const figure = peer === 'fast' ? `${label} vs raw` : `${label}, client CPU/req vs raw`;
  const goal = `>= ${inFlight === 1 ? ONE_OUTSTANDING_GOAL : 0.6}x`;
  const serverCpu = inFlight === 1 ? 0 : 1;
  let server: RunningServer | undefined;
  try {
    let port: number;
    if (peer === 'fast') {
      server = await startNodeServer(serverCpu, [path.join(__dirname, 'peers', 'fast-ws-peer.js'), '0'], 'fast-ws-peer');
      port = server.port;
    } else {
      port = await freeTcpPort();
      server = await startLibcoapServer({ cpu: serverCpu, version: '4.3.4', openssl: true, args: ['-w', String(port), '-X', '1152'] });
      await waitForTcp(port);
    }
    const result = await runChild<WsGetResult>('ws-get', { port, path: '/', inFlight, serverPid: server.child.pid, slow: peer === 'libcoap', observableFloors: peer === 'libcoap' && inFlight === 1 } satisfies WsGetArgs, 0, 120_000);
    const { rxcoap, raw } = result;
    if (rxcoap.error !== undefined || raw.error !== undefined) {
      return [{ figure, goal, error: [rxcoap, raw].filter((m) => m.error !== undefined).map((m) => `${m.name}: ${m.error}`).join('; ') }];
    }
    const pinning = inFlight === 1 ? 'client and server pinned to CPU 0' : 'client CPU 0, server CPU 1';
    const rx = result.rxcoapSide;
    const rw = result.rawSide;
    const side =
      `rates rxcoap ${fmt(rxcoap.rate)} vs raw ${fmt(raw.rate)} req/s; req per client CPU-s rxcoap ${fmt(rx.perCpuSecond)} vs raw ${fmt(rw.perCpuSecond)} (${(rx.perCpuSecond / rw.perCpuSecond).toFixed(2)}x); ` +
      `socket writes/req rxcoap ${rx.writesPerRequest.toFixed(2)}, raw ${rw.writesPerRequest.toFixed(2)}; reads/req rxcoap ${rx.readsPerRequest.toFixed(2)}, raw ${rw.readsPerRequest.toFixed(2)}; ` +
      `server CPU/req rxcoap ${rx.serverMicrosPerRequest.toFixed(1)} µs, raw ${rw.serverMicrosPerRequest.toFixed(1)} µs`;
    const serverText = peer === 'fast' ? 'fast-ws-peer (ws, Node)' : 'coap-server-openssl 4.3.4 -w PORT -X 1152 (Nagle-bound)';
    const note = `${serverText}; ${pinning}; 1 session = 1 connection, ${inFlight} GET${inFlight === 1 ? '' : 's'} outstanding on it (raw ws: pre-encoded messages, corked writes); ${side}`;
    if (peer === 'fast') return [{ figure, ours: rxcoap.rate, theirs: raw.rate, unit: 'req/s', ratio: rxcoap.rate / raw.rate, goal, note }];
    const rows: TableRow[] = [{ figure, ours: rx.perCpuSecond, theirs: rw.perCpuSecond, unit: 'req/CPU-s', ratio: rx.perCpuSecond / rw.perCpuSecond, goal, note }];
    for (const floor of result.floors ?? []) rows.push(floorRow(label, floor, rw));
    return rows;
  } catch (error) {
    return [{ figure, goal, error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}

/** The goal at 1 outstanding (rates, or client CPU per request), also the budget the floor rows measure against. */
const ONE_OUTSTANDING_GOAL = 0.85;

/** A diagnostic contender of the libcoap figure and what it measured. */
interface Floor {
  /** Each response decoded and checked too. */
  readonly decode: boolean;
  readonly measured: Measured;
  readonly side: SideFigures;
}

/**
 * The raw client with each GET an rxjs Observable (and, in the second, each response decoded, checked and made a
 * `CoapResponse` by rxcoap's own code), in the same child as the libcoap figure, windows interleaved with the
 * others': what no Observable-returning client avoids, against the same raw floor. At the Nagle stall every request
 * runs with cold caches; these say how much of the 0.85x budget is left for building, encoding and matching.
 */
function floorRow(label: string, floor: Floor, raw: SideFigures): TableRow {
  const decode = floor.decode;
  const figure = `${label}, raw ws + Observable${decode ? ' + decode' : ''} per GET (diagnostic)`;
  if (floor.measured.error !== undefined) return { figure, goal: 'info', error: `${floor.measured.name}: ${floor.measured.error}` };
  const ours = floor.side.perCpuSecond;
  const what = decode
    ? 'the raw ws client, each GET an rxjs Observable and each response decoded by rxcoap\'s codec, checked (RFC 7252 §5.4) and made a CoapResponse'
    : 'the raw ws client, each GET an rxjs Observable (subscribe, next, complete, teardown)';
  const left = (1 / ONE_OUTSTANDING_GOAL / raw.perCpuSecond - 1 / ours) * 1e6;
  const note =
    `${what}, in the child of the figure above, windows interleaved; req per client CPU-s ${fmt(ours)} vs raw ${fmt(raw.perCpuSecond)}; ` +
    `beyond this, the ${ONE_OUTSTANDING_GOAL}x goal leaves a client ${left.toFixed(0)} µs of CPU per request`;
  return { figure, ours, theirs: raw.perCpuSecond, unit: 'req/CPU-s', ratio: ours / raw.perCpuSecond, goal: 'info', note };
}

/** The WebSocket figures: fast Node peer and libcoap 4.3.4, 1 and 32 outstanding, a fresh server each. */
export async function figureWs(): Promise<TableRow[]> {
  const rows: TableRow[] = [];
  for (const peer of ['fast', 'libcoap'] as const) for (const inFlight of [1, 32] as const) rows.push(...(await wsFigure(peer, inFlight)));
  return rows;
}
