/**
 * `npm run soak`: the loss matrix (test peer and libcoap, through the lossy proxy), the flood and the leak
 * check, printed as one table and written to soak/RESULTS.md with the machine, the date and the command.
 *
 *   node --expose-gc dist/soak/run.js [--quick] [--only=peer,libcoap,flood,leaks] [--no-write]
 *
 * `--quick` is a short development run (100 requests per cell, four cells, a 10,000-datagram flood, a small
 * leak check); it never writes RESULTS.md. The full run takes about 6-8 minutes on a 2-CPU machine. The process
 * exits with status 1 when any row has a problem, and ends by itself (nothing is left running).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TransmissionParameters } from '../src/node';
import { runFlood, type FloodResult } from './flood';
import type { LeakResult } from './leaks';
import { libcoapBinary } from './libcoap';
import { matrixCells, runCell, type CellResult, type CellSpec, type CellWorkload } from './matrix';
import { formatBytes, formatCount, formatMs } from './measure';
import { libcoapTarget, testPeerTarget, type RunningTarget } from './targets';

/**
 * The soak's transmission profile: RFC 7252 defaults except ACK_TIMEOUT 100 ms (loopback: no response takes
 * longer; keeps a 50 % loss cell to seconds) and NSTART 4 per session.
 */
const TRANSMISSION: Partial<TransmissionParameters> = { ackTimeout: 100, nstart: 4 };

const FULL: CellWorkload = { requests: 1000, observations: 20, updates: 5, blockTransfers: 5, blockBytes: 24 * 1024, requestSessions: 8, dataSessions: 4 };
const QUICK: CellWorkload = { ...FULL, requests: 100 };

interface Row {
  readonly run: string;
  readonly peer: string;
  readonly cell: string;
  readonly requests: string;
  readonly failed: string;
  readonly latency: string;
  readonly observations: string;
  readonly blocks: string;
  readonly duplicates: string;
  readonly seconds: string;
  readonly result: string;
}

const HEADER: Row = {
  run: 'Run',
  peer: 'Peer',
  cell: 'Cell',
  requests: 'CON requests ok',
  failed: 'CON failed (typed)',
  latency: 'p50 / p99 ms',
  observations: 'Observations ok',
  blocks: 'Block-wise ok',
  duplicates: 'Duplicates delivered',
  seconds: 'Time s',
  result: 'Result',
};

function okOf(ok: number, total: number, failures: { toString(): string; total: number }): string {
  const base = `${formatCount(ok)}/${formatCount(total)}`;
  return failures.total === 0 ? base : `${base} (${failures.toString()})`;
}

function cellRow(result: CellResult): Row {
  const impairment = [
    result.dropped > 0 ? `${formatCount(result.dropped)} dropped` : '',
    result.duplicated > 0 ? `${formatCount(result.duplicated)} duplicated` : '',
    result.reordered > 0 ? `${formatCount(result.reordered)} reordered` : '',
  ].filter((part) => part !== '');
  const details = [...impairment, `${formatCount(result.retransmissions)} retransmissions`, `${formatCount(result.notificationsDelivered)} notifications`].join(', ');
  return {
    run: 'matrix',
    peer: result.target,
    cell: result.cell,
    requests: `${formatCount(result.requestsOk)}/${formatCount(result.requests)}`,
    failed: result.requestFailures.toString(),
    latency: `${formatMs(result.p50)} / ${formatMs(result.p99)}`,
    observations: okOf(result.observationsOk, result.observations, result.observationFailures),
    blocks: okOf(result.transfersOk, result.transfers, result.transferFailures),
    duplicates: String(result.duplicatesDelivered),
    seconds: result.seconds.toFixed(1),
    result:
      (result.problems.length === 0 ? 'ok' : `**FAIL**: ${result.problems.join('; ')}`) +
      (result.serverFaults.length === 0 ? '' : `; server's own fault: ${result.serverFaults.join('; ')}`) +
      ` (${details})`,
  };
}

function floodRow(result: FloodResult): Row {
  const details = [
    `heap ${formatBytes(result.heapMax - result.heapBefore)} at most during, ${formatBytes(result.heapAfter - result.heapBefore)} after`,
    `${formatCount(result.badPackets)} bad-packet, ${formatCount(result.rejected)} rejected events`,
    `${formatCount(result.resetsAtPeer)} RSTs sent to the peer`,
    result.kernel === undefined
      ? 'kernel counters unavailable'
      : `kernel: ${formatCount(result.kernel.noPort)} dropped as not from the connected peer, ${formatCount(result.kernel.bufferFull)} for a full receive buffer`,
  ].join('; ');
  return {
    run: 'flood',
    peer: 'raw dgram peer',
    cell: `${formatCount(result.datagrams)} unsolicited datagrams (${formatCount(result.fromPeer)} from the peer's address and port, ${formatCount(result.fromStrangers)} from 127.0.0.2, 127.0.0.3 and another port) in ${result.seconds.toFixed(1)} s`,
    requests: `${formatCount(result.requestsOk)}/${formatCount(result.requests)}`,
    failed: result.requestFailures.toString(),
    latency: '—',
    observations: '—',
    blocks: '—',
    duplicates: String(result.wrongDelivered),
    seconds: result.seconds.toFixed(1),
    result: result.problems.length === 0 ? `ok (${details})` : `**FAIL**: ${result.problems.join('; ')} (${details})`,
  };
}

/** Heap growth allowed after the leak runs (forced GCs, peer closed). */
const LEAK_BOUND = 512 * 1024;

function leakRows(result: LeakResult | { error: string }, exitSeconds: number | undefined): Row[] {
  if ('error' in result) {
    return [{ ...emptyRow('leaks'), cell: 'leak check', result: `**FAIL**: ${result.error}` }];
  }
  const requestsOk = result.requestsOk === result.requests && result.heapAfterRequests <= LEAK_BOUND;
  const sessionsOk = result.sessionsOk === result.sessions && result.heapAfterSessions <= LEAK_BOUND && result.liveSessions === 0;
  const clean = result.activeSockets === 0 && result.activeTimers === 0;
  const exited = exitSeconds !== undefined;
  return [
    {
      ...emptyRow('leaks'),
      peer: 'test peer',
      cell: `${formatCount(result.requests)} requests (8 sessions × NSTART 4, RFC default timing), released`,
      requests: `${formatCount(result.requestsOk)}/${formatCount(result.requests)}`,
      failed: result.requestFailures,
      seconds: result.requestSeconds.toFixed(1),
      result: `${requestsOk ? 'ok' : '**FAIL**'} (heap ${formatBytes(result.heapAfterRequests)} after GC, bound ${formatBytes(LEAK_BOUND)})`,
    },
    {
      ...emptyRow('leaks'),
      peer: 'test peer',
      cell: `${formatCount(result.sessions)} sessions created, one GET each, released`,
      requests: `${formatCount(result.sessionsOk)}/${formatCount(result.sessions)}`,
      failed: result.sessionFailures,
      seconds: result.sessionSeconds.toFixed(1),
      result: `${sessionsOk ? 'ok' : '**FAIL**'} (heap ${formatBytes(result.heapAfterSessions)} after GC, ${result.liveSessions} sessions left in the context)`,
    },
    {
      ...emptyRow('leaks'),
      cell: 'after ctx.free(): active handles; process exit',
      result:
        `${clean && exited ? 'ok' : '**FAIL**'} (${result.activeSockets} sockets, ${result.activeTimers} timers` +
        `${result.activeResources.length > 0 ? ` [${result.activeResources.join(', ')}]` : ''}; ` +
        `${exited ? `exited by itself ${(exitSeconds * 1000).toFixed(0)} ms after its report` : 'did not exit within 10 s: killed'})`,
    },
  ];
}

function emptyRow(run: string): Row {
  return { run, peer: '—', cell: '', requests: '—', failed: '—', latency: '—', observations: '—', blocks: '—', duplicates: '—', seconds: '—', result: '' };
}

function markdownTable(rows: readonly Row[]): string {
  const keys = Object.keys(HEADER) as (keyof Row)[];
  const line = (row: Row): string => `| ${keys.map((key) => row[key].replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(HEADER), `|${keys.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/** Runs dist/soak/leaks.js in a child process; returns its report and how long after it the child exited. */
function runLeakChild(requests: number, sessions: number): Promise<{ result: LeakResult | { error: string }; exitSeconds: number | undefined }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'leaks.js'), String(requests), String(sessions)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let result: LeakResult | { error: string } | undefined;
    let reportedAt = 0;
    let killer: NodeJS.Timeout | undefined;
    const overall = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^LEAKS (.*)$/m.exec(output);
      const failed = /^LEAKS-ERROR ([\s\S]*)$/m.exec(output);
      if (result === undefined && (match !== null || failed !== null)) {
        result = match !== null ? (JSON.parse(match[1]) as LeakResult) : { error: failed![1].trim().split('\n')[0] };
        reportedAt = performance.now();
        // "Exits by itself": a process still alive 10 s after its report is holding something open.
        killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(overall);
      clearTimeout(killer);
      const exitSeconds = result !== undefined && signal === null ? (performance.now() - reportedAt) / 1000 : undefined;
      resolve({ result: result ?? { error: `leak child ended (code ${code}, signal ${signal}) without a report` }, exitSeconds });
    });
  });
}

function machineLine(command: string): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memory = `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`;
  return (
    `Machine: ${cpus.length} × ${model}, ${memory} RAM, ${os.type()} ${os.release()}, Node ${process.version}, libcoap 4.3.1 (Debian libcoap3-bin). ` +
    `Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}. Command: \`${command}\`.`
  );
}

const NOTES = [
  'Transmission profile of the matrix and the flood: RFC 7252 defaults (ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4) except ACK_TIMEOUT 100 ms and NSTART 4; 8 sessions carry the requests (32 outstanding at most), 4 more the observations and transfers. With MAX_RETRANSMIT 4 a request fails after 5 lost attempts (MAX_TRANSMIT_WAIT 4.65 s here): at 50 % loss one way that is 1 in 32 requests, so about 31 of 1,000 `CoapTimeoutError`s are the RFC schedule, not a bug.',
  'Each matrix cell is a fresh seeded lossy proxy (src/testing/lossy-proxy.ts) impairing one direction: c→s = client to server, s→c = server to client. Reordering holds a datagram until the next one of the flow (at most 20 ms).',
  'A request carries its own id, which the server echoes (test peer: `GET /echo?ID`; libcoap `coap-server-notls -d 8 -e`: `PUT /echo` with body ID); a response delivered twice or to another request counts as a duplicate. An observation (one resource each) sees 5 server-side updates; the application must see strictly increasing values (a duplicate or an older notification after a newer one counts as a duplicate) ending with the last. "stale" = the last value had not arrived when the settle window closed (4 s for the test peer, 7 s for libcoap): the server was still retransmitting its CON notification or had given up (RFC 7641 §4.5); the test peer retransmits from 100 ms, libcoap on its own fixed 2 s ACK_TIMEOUT, doubling. Block-wise: PUT 24 KiB (Block1, 1024-byte blocks), GET it back (Block2), compare.',
  'Documented failures are `CoapTimeoutError` and "stale", and only in loss cells; anything else (hung, corrupt, any failure without loss, any duplicate) is a FAIL.',
  '"server kept only the last block" (libcoap rows only) is a libcoap 4.3.1 server fault, not the client\'s: when a copy of the final Block1 request arrives again (the proxy\'s duplicate, or the client\'s retransmission after the ACK was lost), `coap-server-notls` takes it for a new transfer starting at that block and replaces the resource with that block alone; the GET then returns the last 1,024 bytes. libcoap\'s own `coap-client-notls -m put -f` (24 KiB) through the same proxy with 50 % c→s duplication shows the same: 2 of 3 uploads stored 1,024 bytes.',
  'Flood: unsolicited NON/CON responses with unknown tokens, piggybacked and empty ACKs and RSTs with message IDs no exchange holds, pings, empty NONs, a replayed old response, garbage and malformed datagrams, at the local ports of 4 live sessions while they keep requesting. The UDP sockets are connected, so the kernel drops the strangers\' half before it reaches Node; the peer\'s half reaches the message layer (bad-packet and rejected events; RSTs answer its unknown CONs and pings).',
  'Leaks: heap after forced GCs (`--expose-gc`) minus a baseline taken after a warm-up of the same work, the test peer closed first so its caches are out of the figure; then `process.getActiveResourcesInfo()` after `ctx.free()`, and the time the child process took to exit on its own after its report.',
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const write = !quick && !args.includes('--no-write');
  const onlyArg = args.find((arg) => arg.startsWith('--only='));
  const only = new Set(onlyArg === undefined ? ['peer', 'libcoap', 'flood', 'leaks'] : onlyArg.slice('--only='.length).split(','));
  const workload = quick ? QUICK : FULL;
  const all = matrixCells();
  const cells: CellSpec[] = quick ? all.filter((cell) => ['none', 'loss 20 % c→s', 'duplication 20 % s→c', 'reordering 20 % s→c'].includes(cell.name)) : all;
  const rows: Row[] = [];
  const started = performance.now();

  const targets: Array<{ key: string; start: () => Promise<RunningTarget> }> = [
    { key: 'peer', start: () => testPeerTarget(workload.observations, workload.blockTransfers) },
    { key: 'libcoap', start: () => libcoapTarget(workload.observations) },
  ];
  for (const { key, start } of targets) {
    if (!only.has(key)) continue;
    if (key === 'libcoap' && libcoapBinary() === undefined) {
      rows.push({ ...emptyRow('matrix'), peer: 'libcoap', cell: 'all', result: '**FAIL**: coap-server-notls not installed (libcoap3-bin)' });
      continue;
    }
    const target = await start();
    try {
      for (const [index, cell] of cells.entries()) {
        const result = await runCell(target, cell, workload, TRANSMISSION, index);
        const row = cellRow(result);
        rows.push(row);
        console.error(`${row.peer} | ${row.cell} | ${row.requests} | ${row.failed} | ${row.latency} | ${row.observations} | ${row.blocks} | ${row.duplicates} | ${row.seconds} s | ${row.result}`);
      }
    } finally {
      await target.close();
    }
  }

  if (only.has('flood')) {
    const result = await runFlood({ datagrams: quick ? 10_000 : 100_000, sessions: 4, transmission: TRANSMISSION });
    const row = floodRow(result);
    rows.push(row);
    console.error(`flood | ${row.requests} | ${row.failed} | ${row.result}`);
  }

  if (only.has('leaks')) {
    const { result, exitSeconds } = await runLeakChild(quick ? 5000 : 100_000, quick ? 100 : 1000);
    for (const row of leakRows(result, exitSeconds)) {
      rows.push(row);
      console.error(`leaks | ${row.cell} | ${row.requests} | ${row.result}`);
    }
  }

  const command = `npm run soak${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const minutes = (performance.now() - started) / 60_000;
  const table = markdownTable(rows);
  const failed = rows.some((row) => row.result.includes('FAIL'));
  process.stdout.write(`\n${table}\n\n${machineLine(command)} Total ${minutes.toFixed(1)} min.\n`);
  if (write) {
    const document = [
      '# Soak results',
      '',
      machineLine(command) + ` Total ${minutes.toFixed(1)} min.`,
      '',
      table,
      '',
      ...NOTES.map((note) => `- ${note}`),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(__dirname, '..', '..', 'soak', 'RESULTS.md'), document);
    process.stdout.write('written to soak/RESULTS.md\n');
  }
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
