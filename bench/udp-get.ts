/**
 * Figures 1 and 2: UDP CON GET throughput, rxcoap vs the raw dgram floor vs the `coap` package.
 *  1. one request outstanding, against libcoap's coap-server-notls and against the fast Node peer; client and
 *     server pinned to CPU 0 (a lockstep round trip across CPUs costs ~40 µs of wake-up and would swamp the client
 *     cost);
 *  2. 32 outstanding: rxcoap over 4 sessions × NSTART 8 (4 sessions give 4 × ~36k new MIDs/s with the loopback
 *     profile, above the rate reached, so no request waits for a MID; fewer sockets cost the client less than 8 × 4
 *     did), raw 32 in flight on one socket, `coap` 32 in flight on one Agent; client on CPU 0, libcoap on CPU 1.
 * A fresh server per figure. Each contender: warm-up, then 5 windows interleaved; medians of wall-time rates.
 */
import { DEFAULT_MEASURE, measureInterleaved, type Measured } from './measure';
import { runChild } from './children';
import { startFastPeer, startLibcoapServer, type RunningServer } from './libcoap-server';
import { coapPackageContender } from './peers/coap-package';
import { rawGetContender } from './peers/raw-dgram';
import { rxcoapGetContender } from './rxcoap-contender';
import type { TableRow } from './table';

/** What the measuring child gets. */
export interface UdpGetArgs {
  readonly port: number;
  readonly path: string;
  readonly sessions: number;
  readonly nstart: number;
}

export interface UdpGetResult {
  readonly rxcoap: Measured;
  readonly raw: Measured;
  readonly coap: Measured;
  readonly midExhausted: number;
}

/** Child side: measures the three clients against the server on `port`. */
export async function udpGetChild(args: UdpGetArgs): Promise<UdpGetResult> {
  const host = '127.0.0.1';
  const inFlight = args.sessions * args.nstart;
  const rx = rxcoapGetContender({ host, port: args.port, path: args.path, sessions: args.sessions, nstart: args.nstart });
  const [rxcoap, raw, coap] = await measureInterleaved(
    [rx, rawGetContender({ host, port: args.port, path: args.path, inFlight }), coapPackageContender({ host, port: args.port, path: args.path, inFlight })],
    DEFAULT_MEASURE,
  );
  return { rxcoap, raw, coap, midExhausted: rx.midExhausted() };
}

function rowsFrom(label: string, goal: string, result: UdpGetResult, note: string): TableRow[] {
  const { rxcoap, raw, coap } = result;
  const failed = [rxcoap, raw, coap].filter((m) => m.error !== undefined).map((m) => `${m.name}: ${m.error}`);
  const extra = result.midExhausted > 0 ? `; rxcoap waited for a free MID ${result.midExhausted} times` : '';
  const rows: TableRow[] = [];
  if (rxcoap.error !== undefined || raw.error !== undefined) rows.push({ figure: `${label} vs raw`, goal, error: failed.join('; ') });
  else rows.push({ figure: `${label} vs raw`, ours: rxcoap.rate, theirs: raw.rate, unit: 'req/s', ratio: rxcoap.rate / raw.rate, goal, note: note + extra });
  if (coap.error !== undefined || rxcoap.error !== undefined) rows.push({ figure: `${label} vs coap pkg`, goal: '-', error: failed.join('; ') });
  else rows.push({ figure: `${label} vs coap pkg`, ours: rxcoap.rate, theirs: coap.rate, unit: 'req/s', ratio: rxcoap.rate / coap.rate, goal: 'info' });
  return rows;
}

async function withServer(start: () => Promise<RunningServer>, body: (server: RunningServer) => Promise<TableRow[]>, label: string, goal: string): Promise<TableRow[]> {
  let server: RunningServer | undefined;
  try {
    server = await start();
    return await body(server);
  } catch (error) {
    return [{ figure: `${label} vs raw`, goal, error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}

/** Figure 1 against libcoap or the fast Node peer. */
export function figureGetOneOutstanding(peer: 'libcoap' | 'fast'): Promise<TableRow[]> {
  const label = `GET 1 outst., ${peer === 'libcoap' ? 'libcoap' : 'fast Node peer'}`;
  const goal = '>= 0.85x';
  return withServer(
    () => (peer === 'libcoap' ? startLibcoapServer({ cpu: 0 }) : startFastPeer(0)),
    async (server) => {
      const result = await runChild<UdpGetResult>('udp-get', { port: server.port, path: '/', sessions: 1, nstart: 1 } satisfies UdpGetArgs, 0, 60_000);
      const pinned = 'client and server pinned to CPU 0; 1 session, NSTART 1; raw = pre-encoded GET, 1 in flight; coap = one Agent';
      return rowsFrom(label, goal, result, `${pinned}; raw ${result.raw.rate.toFixed(0)} req/s, coap pkg ${result.coap.rate.toFixed(0)} req/s (coap/raw ${(result.coap.rate / result.raw.rate).toFixed(2)}x)`);
    },
    label,
    goal,
  );
}

/** Figure 2: 32 outstanding against libcoap. */
export function figureGetThirtyTwo(): Promise<TableRow[]> {
  const label = 'GET 32 outst., libcoap';
  const goal = '>= 0.6x';
  return withServer(
    () => startLibcoapServer({ cpu: 1 }),
    async (server) => {
      const result = await runChild<UdpGetResult>('udp-get', { port: server.port, path: '/', sessions: 4, nstart: 8 } satisfies UdpGetArgs, 0, 60_000);
      return rowsFrom(
        label,
        goal,
        result,
        `client CPU 0, libcoap CPU 1; rxcoap 4 sessions x NSTART 8; raw 32 in flight on one socket; coap pkg 32 in flight on one Agent; coap/raw ${(result.coap.rate / result.raw.rate).toFixed(2)}x`,
      );
    },
    label,
    goal,
  );
}
