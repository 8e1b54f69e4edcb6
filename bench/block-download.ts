/**
 * Figure 4: a 1 MiB Block2 download with 1024-byte blocks from libcoap (`coap-server-notls -d 10`, the body PUT
 * there first by libcoap's own client with Block1), client and server pinned to CPU 0.
 * - rxcoap: `session.get('/big')` with the library doing block-wise (default block mode: one response, whole body);
 * - `coap` package: one Agent, GET (it follows Block2 itself);
 * - libcoap's `coap-client-notls -b 1024 -o /dev/null`: wall time of the process minus the wall time of the same
 *   client doing a one-block GET (process start, context and session setup), both medians of 5 runs.
 * Each JavaScript client downloads in a child process of its own (in one process, the garbage of the `coap`
 * package's downloads was collected during rxcoap's and doubled their spread), first warm-up downloads until V8
 * has compiled the path, then measured ones; medians of the download times.
 */
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CoapContext } from '../src/node';
import { kill, runChild, spawnPinned } from './children';
import { startLibcoapServer, type RunningServer } from './libcoap-server';
import { median, withTimeout } from './measure';
import { coapGet, sharedAgent } from './peers/coap-package';
import { BENCH_TRANSMISSION } from './rxcoap-contender';
import type { TableRow } from './table';

const BODY_SIZE = 1024 * 1024;
const RUNS = 7;
/**
 * Downloads before measuring. Seen here (rxcoap, 1,024 blocks each): the first four take 35-75 ms while V8
 * compiles, from the sixth on 23-24 ms; the `coap` package settles within three.
 */
const WARMUPS = 6;

export interface BlockChildArgs {
  readonly port: number;
  readonly path: string;
  readonly client: 'rxcoap' | 'coap';
}

export interface BlockChildResult {
  readonly ms?: number;
  readonly error?: string;
}

async function timeDownload(download: () => Promise<number>): Promise<number> {
  const t0 = performance.now();
  const size = await withTimeout(download(), 30_000, 'download');
  const elapsed = performance.now() - t0;
  if (size !== BODY_SIZE) throw new Error(`got ${size} bytes instead of ${BODY_SIZE}`);
  return elapsed;
}

/** Child side: one client's downloads, warm-ups first. */
export async function blockChild(args: BlockChildArgs): Promise<BlockChildResult> {
  const host = '127.0.0.1';
  let download: () => Promise<number>;
  let close: () => Promise<void> | void;
  if (args.client === 'rxcoap') {
    const context = new CoapContext({ transmission: BENCH_TRANSMISSION });
    const session = context.newClientSession({ server: `coap://${host}:${args.port}` });
    download = () =>
      new Promise((resolve, reject) => {
        let size = -1;
        session.get(args.path).subscribe({
          next: (response) => (size = response.payload.length),
          error: reject,
          complete: () => resolve(size),
        });
      });
    close = () => context.free();
  } else {
    const shared = await sharedAgent();
    download = async () => (await coapGet(shared.agent, host, args.port, args.path, 30_000)).length;
    close = () => {
      shared.socket.close();
    };
  }
  const times: number[] = [];
  try {
    for (let run = 0; run < WARMUPS + RUNS; run++) {
      const ms = await timeDownload(download);
      if (run >= WARMUPS) times.push(ms);
    }
    return { ms: median(times) };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    await close();
  }
}

/** Runs libcoap's client once, pinned; resolves with its wall time in ms. */
function runLibcoapClient(cpu: number, args: readonly string[], timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawnPinned(cpu, '/usr/bin/coap-client-notls', args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      void kill(child);
      reject(new Error(`coap-client-notls ${args.join(' ')} timed out`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const elapsed = performance.now() - t0;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`coap-client-notls ${args.join(' ')} exited ${code}`));
    });
  });
}

/** Figure 4 (parent side). */
export async function figureBlockDownload(): Promise<TableRow[]> {
  const label = '1 MiB Block2 download';
  let server: RunningServer | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'rxcoap-bench-'));
  try {
    server = await startLibcoapServer({ cpu: 0, dynamic: 10 });
    const uri = `coap://127.0.0.1:${server.port}`;
    const file = path.join(dir, 'body.bin');
    const body = Buffer.alloc(BODY_SIZE);
    for (let i = 0; i < BODY_SIZE; i++) body[i] = (i * 31 + (i >> 10)) & 0xff;
    writeFileSync(file, body);
    await runLibcoapClient(0, ['-m', 'put', '-b', '1024', '-f', file, `${uri}/big`], 60_000);
    const child = (client: BlockChildArgs['client']): Promise<BlockChildResult> =>
      runChild<BlockChildResult>('block', { port: server!.port, path: '/big', client } satisfies BlockChildArgs, 0, 120_000);
    const rxcoapResult = await child('rxcoap');
    const coapResult = await child('coap');
    const result = { rxcoapMs: rxcoapResult.ms, rxcoapError: rxcoapResult.error, coapMs: coapResult.ms, coapError: coapResult.error };
    // libcoap's own client: full download minus a one-block GET (process start-up and setup).
    const full: number[] = [];
    const oneBlock: number[] = [];
    let libcoapError: string | undefined;
    try {
      for (let run = 0; run <= RUNS; run++) {
        const f = await runLibcoapClient(0, ['-b', '1024', '-o', '/dev/null', `${uri}/big`]);
        const o = await runLibcoapClient(0, ['-b', '1024', '-o', '/dev/null', `${uri}/`]);
        if (run > 0) {
          full.push(f);
          oneBlock.push(o);
        }
      }
    } catch (error) {
      libcoapError = (error as Error).message;
    }
    const libcoapMs = median(full) - median(oneBlock);
    const rows: TableRow[] = [];
    const rx = result.rxcoapMs;
    if (rx === undefined) rows.push({ figure: `${label} vs libcoap client`, goal: '<= 1.2x', error: `rxcoap: ${result.rxcoapError}` });
    else if (libcoapError !== undefined) rows.push({ figure: `${label} vs libcoap client`, goal: '<= 1.2x', error: `libcoap client: ${libcoapError}` });
    else
      rows.push({
        figure: `${label} vs libcoap client`,
        ours: rx,
        theirs: libcoapMs,
        unit: 'ms',
        ratio: rx / libcoapMs,
        goal: '<= 1.2x',
        note: `client and server on CPU 0; libcoap = coap-client-notls -b 1024, median ${median(full).toFixed(1)} ms minus one-block GET ${median(oneBlock).toFixed(1)} ms; rxcoap time / libcoap time (lower is better)`,
      });
    if (rx === undefined || result.coapMs === undefined) rows.push({ figure: `${label} vs coap pkg`, goal: '>= 2.5x', error: `${result.rxcoapError ?? ''} ${result.coapError ?? ''}`.trim() });
    else
      rows.push({
        figure: `${label} vs coap pkg`,
        ours: rx,
        theirs: result.coapMs,
        unit: 'ms',
        ratio: result.coapMs / rx,
        goal: '>= 2.5x',
        note: 'ratio = coap time / rxcoap time (how many times faster rxcoap is)',
      });
    return rows;
  } catch (error) {
    return [{ figure: `${label} vs libcoap client`, goal: '<= 1.2x', error: (error as Error).message }];
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
