/**
 * `npm run bench`: every figure of ARCHITECTURE.md "Performance goals" in one run, printed as one table.
 *
 * How the processes are laid out (2-CPU machines, see "Known pitfalls"):
 * - this orchestrator is not pinned; for each figure it starts a fresh server pinned with `taskset -c CPU`
 *   and re-runs itself as the measuring client, `taskset -c 0 node dist/bench/run.js --child FIGURE ARGS`,
 *   which prints one `RESULT {json}` line;
 * - lockstep figures (1 outstanding, block-wise, DTLS): client and server both on CPU 0;
 *   parallel ones (32 outstanding, observe): client on CPU 0, server on CPU 1;
 * - every child has a hard time limit; every process started is killed at the end (by pid), also on errors
 *   and on SIGINT/SIGTERM. A failing figure prints its error in its row and the run goes on.
 *
 * Server mode: `node dist/bench/run.js --serve tcp-test-peer` (the idle-memory figure's TCP server).
 *
 * Run a subset: `node dist/bench/run.js get1 codec ...` (names: get1, get1fast, get32, codec, block, observe,
 * dtls, dtls-pki, tcp, tls, ws, memory, bundle).
 */
import type { TableRow } from './table';
import { printTable } from './table';
import { emitResult, killAll, killAllNow } from './children';
import { figureGetOneOutstanding, figureGetThirtyTwo, udpGetChild, type UdpGetArgs } from './udp-get';
import { blockChild, figureBlockDownload, type BlockChildArgs } from './block-download';
import { figureObserve, observeChild, type ObserveChildArgs } from './observe';
import { dtlsChild, figureDtls, type DtlsChildArgs } from './dtls';
import { dtlsPkiChild, figureDtlsPki, type DtlsPkiChildArgs } from './dtls-pki';
import { figureTcp, figureTls, streamGetChild, type StreamGetArgs } from './tcp';
import { figureWs, wsGetChild, type WsGetArgs } from './ws';
import { figureIdleMemory, idleMemoryChild, serveTcpTestPeer, type IdleMemoryArgs } from './idle-memory';

/** Child mode: one measurement, result on stdout. */
async function child(figure: string, args: unknown): Promise<unknown> {
  switch (figure) {
    case 'udp-get':
      return udpGetChild(args as UdpGetArgs);
    case 'block':
      return blockChild(args as BlockChildArgs);
    case 'observe':
      return observeChild(args as ObserveChildArgs);
    case 'dtls':
      return dtlsChild(args as DtlsChildArgs);
    case 'dtls-pki':
      return dtlsPkiChild(args as DtlsPkiChildArgs);
    case 'stream-get':
      return streamGetChild(args as StreamGetArgs);
    case 'ws-get':
      return wsGetChild(args as WsGetArgs);
    case 'memory':
      return idleMemoryChild(args as IdleMemoryArgs);
    default:
      throw new Error(`unknown child figure ${figure}`);
  }
}

const figures: Record<string, () => Promise<TableRow[]>> = {
  get1: () => figureGetOneOutstanding('libcoap'),
  get1fast: () => figureGetOneOutstanding('fast'),
  get32: () => figureGetThirtyTwo(),
  codec: async () => {
    const { runCodecBench } = await import('./codec');
    return (await runCodecBench()).map((row) => ({ ...row, figure: `codec ${row.figure}` }));
  },
  block: () => figureBlockDownload(),
  observe: () => figureObserve(),
  dtls: () => figureDtls(),
  'dtls-pki': () => figureDtlsPki(),
  tcp: () => figureTcp(),
  tls: () => figureTls(),
  ws: () => figureWs(),
  memory: () => figureIdleMemory(),
  // esbuild is a dev dependency: bench/bundle.ts loads it only for this figure.
  bundle: async () => (await import('./bundle')).figureBundle(),
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--serve') {
    // Server mode (started pinned by a figure, killed by pid): prints `READY PORT`, runs until killed.
    if (argv[1] !== 'tcp-test-peer') throw new Error(`unknown server ${argv[1]}`);
    await serveTcpTestPeer();
    return;
  }
  if (argv[0] === '--child') {
    try {
      emitResult(await child(argv[1], JSON.parse(argv[2] ?? '{}')));
      process.exit(0);
    } catch (error) {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    }
  }
  const selected = argv.length > 0 ? argv : Object.keys(figures);
  const started = Date.now();
  const rows: TableRow[] = [];
  for (const name of selected) {
    const figure = figures[name];
    if (figure === undefined) {
      rows.push({ figure: name, error: `unknown figure (known: ${Object.keys(figures).join(', ')})` });
      continue;
    }
    const t0 = Date.now();
    process.stderr.write(`bench: ${name}...`);
    try {
      rows.push(...(await figure()));
    } catch (error) {
      rows.push({ figure: name, error: (error as Error).message });
    }
    await killAll(); // nothing of this figure survives into the next one
    process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  process.stdout.write(`\nrxcoap bench (${new Date().toISOString()}, Node ${process.version}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n\n`);
  printTable(rows);
}

process.on('SIGINT', () => {
  killAllNow();
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAllNow();
  process.exit(143);
});
process.on('exit', killAllNow);

main().catch(async (error: Error) => {
  process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
  await killAll();
  process.exit(1);
});
