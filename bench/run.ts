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
 * dtls, dtls-pki, tcp, tls, ws, cold, memory, bundle).
 */
import type { TableRow } from './table';
import { printTable } from './table';
import { emitResult, killAll, killAllNow } from './children';
// Each figure's module is loaded when it runs, so a measuring child holds only what its figure needs (the idle
// memory figure counts heap per session: unrelated modules and their state must not be in that process).
type Loaded = typeof import('./udp-get') & typeof import('./block-download') & typeof import('./observe') & typeof import('./dtls') &
  typeof import('./dtls-pki') & typeof import('./tcp') & typeof import('./ws') & typeof import('./idle-memory') & typeof import('./cold-path');
type ChildName = 'udp-get' | 'block' | 'observe' | 'dtls' | 'dtls-pki' | 'stream-get' | 'ws-get' | 'memory' | 'cold-path';

/** Child mode: one measurement, result on stdout. */
async function child(figure: string, args: unknown): Promise<unknown> {
  const children: Record<ChildName, () => Promise<unknown>> = {
    'udp-get': async () => (await import('./udp-get')).udpGetChild(args as Parameters<Loaded['udpGetChild']>[0]),
    block: async () => (await import('./block-download')).blockChild(args as Parameters<Loaded['blockChild']>[0]),
    observe: async () => (await import('./observe')).observeChild(args as Parameters<Loaded['observeChild']>[0]),
    dtls: async () => (await import('./dtls')).dtlsChild(args as Parameters<Loaded['dtlsChild']>[0]),
    'dtls-pki': async () => (await import('./dtls-pki')).dtlsPkiChild(args as Parameters<Loaded['dtlsPkiChild']>[0]),
    'stream-get': async () => (await import('./tcp')).streamGetChild(args as Parameters<Loaded['streamGetChild']>[0]),
    'ws-get': async () => (await import('./ws')).wsGetChild(args as Parameters<Loaded['wsGetChild']>[0]),
    memory: async () => (await import('./idle-memory')).idleMemoryChild(args as Parameters<Loaded['idleMemoryChild']>[0]),
    'cold-path': async () => (await import('./cold-path')).coldPathChild(),
  };
  const run = children[figure as ChildName];
  if (run === undefined) throw new Error(`unknown child figure ${figure}`);
  return run();
}

const figures: Record<string, () => Promise<TableRow[]>> = {
  get1: async () => (await import('./udp-get')).figureGetOneOutstanding('libcoap'),
  get1fast: async () => (await import('./udp-get')).figureGetOneOutstanding('fast'),
  get32: async () => (await import('./udp-get')).figureGetThirtyTwo(),
  codec: async () => {
    const { runCodecBench } = await import('./codec');
    return (await runCodecBench()).map((row) => ({ ...row, figure: `codec ${row.figure}` }));
  },
  block: async () => (await import('./block-download')).figureBlockDownload(),
  observe: async () => (await import('./observe')).figureObserve(),
  dtls: async () => (await import('./dtls')).figureDtls(),
  'dtls-pki': async () => (await import('./dtls-pki')).figureDtlsPki(),
  tcp: async () => (await import('./tcp')).figureTcp(),
  tls: async () => (await import('./tcp')).figureTls(),
  ws: async () => (await import('./ws')).figureWs(),
  cold: async () => (await import('./cold-path')).figureColdPath(),
  memory: async () => (await import('./idle-memory')).figureIdleMemory(),
  // esbuild is a dev dependency: bench/bundle.ts loads it only for this figure.
  bundle: async () => (await import('./bundle')).figureBundle(),
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--serve') {
    // Server mode (started pinned by a figure, killed by pid): prints `READY PORT`, runs until killed.
    if (argv[1] !== 'tcp-test-peer') throw new Error(`unknown server ${argv[1]}`);
    await (await import('./idle-memory')).serveTcpTestPeer();
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
