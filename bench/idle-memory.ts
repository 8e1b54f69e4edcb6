/**
 * Figure 7: heap per idle session, 1,000 sessions, each after one GET. A child run with `--expose-gc` (CPU 0)
 * opens 1,000 sessions to a server in its own process (CPU 1), each does one GET, then all idle; heap per
 * session = (heapUsed after − heapUsed before) / 1,000, both after forced full GCs. "Before" is taken after one
 * session has already done a GET (code loaded, JIT warm), so the figure is what each further session costs.
 * Sockets' native memory is not on the JS heap; the notes give the external/ArrayBuffer growth too.
 * - UDP (`coap://`, the fast Node peer): measured right after the GETs (the goal: the message layer's lazily armed
 *   retransmission timer, which lapses at most ACK_TIMEOUT * ACK_RANDOM_FACTOR = 3 s after the last CON, is
 *   still pending then), and again 3.2 s later, when it has lapsed;
 * - TCP (`coap+tcp://`, the test peer of rxcoap/testing serving TCP, which holds 1,000 connections): right after
 *   the GETs (nothing is pending on a reliable session: no retransmission). Beside it, the same measurement for
 *   raw `node:net` connections (CSM, one GET, a data listener) tells how much of it any TCP client pays in Node.
 */
import { connect, type Socket } from 'node:net';
import { CoapContext, type ClientSession } from '../src/node';
import { runChild, sleep } from './children';
import { startFastPeer, startNodeServer, type RunningServer } from './libcoap-server';
import { CLIENT_CSM, encodeStreamFrame, FrameCounter } from './peers/raw-net';
import { pathOptions } from './peers/raw-dgram';
import type { TableRow } from './table';

const SESSIONS = 1000;
const BATCH = 50;
/** The test peer's resource the TCP sessions GET. */
const TCP_PATH = '/hello';

export type IdleMemoryMode = 'udp' | 'tcp' | 'tcp-raw';

export interface IdleMemoryArgs {
  readonly mode: IdleMemoryMode;
  readonly port: number;
}

/** Per session, in bytes. */
export interface IdleMemoryResult {
  readonly sessions: number;
  /** Right after the last GET (and full GCs). */
  readonly heapRightAfter: number;
  readonly externalRightAfter: number;
  /** UDP only: 3.2 s later. */
  readonly heapLater?: number;
  readonly externalLater?: number;
}

function get(session: ClientSession, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('GET timed out')), 5000);
    session.get(path).subscribe({
      error: (error: Error) => {
        clearTimeout(timer);
        reject(error);
      },
      complete: () => {
        clearTimeout(timer);
        resolve();
      },
    });
  });
}

async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(20);
  }
}

/** A raw node:net connection that sent its CSM and one GET and got the response; its data listener stays. */
function rawTcpConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(() => reject(new Error('raw TCP GET timed out')), 5000);
    const counter = new FrameCounter((buf, codeOffset) => {
      const code = buf[codeOffset];
      if (code >= 0x40 && code < 0xe0) {
        clearTimeout(timer);
        resolve(socket);
      }
    });
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => counter.push(chunk));
    socket.once('connect', () => socket.write(Buffer.concat([CLIENT_CSM, encodeStreamFrame(0x01, Buffer.from('idle0001'), pathOptions(TCP_PATH))])));
  });
}

/** Child side (node --expose-gc). */
export async function idleMemoryChild(args: IdleMemoryArgs): Promise<IdleMemoryResult> {
  if (args.mode === 'tcp-raw') {
    await rawTcpConnection(args.port); // warm
    await fullGc();
    const before = process.memoryUsage();
    const sockets: Socket[] = [];
    for (let i = 0; i < SESSIONS; i += BATCH) sockets.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, SESSIONS - i) }, () => rawTcpConnection(args.port)))));
    await fullGc();
    const after = process.memoryUsage();
    const result = { sessions: sockets.length, heapRightAfter: (after.heapUsed - before.heapUsed) / SESSIONS, externalRightAfter: (after.external - before.external) / SESSIONS };
    for (const socket of sockets) socket.destroy();
    return result;
  }
  const context = new CoapContext();
  const server = args.mode === 'udp' ? `coap://127.0.0.1:${args.port}` : `coap+tcp://127.0.0.1:${args.port}`;
  const path = args.mode === 'udp' ? '/' : TCP_PATH;
  await get(context.newClientSession({ server }), path); // warm: modules loaded, code compiled
  await fullGc();
  const before = process.memoryUsage();
  const sessions: ClientSession[] = [];
  for (let i = 0; i < SESSIONS; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, SESSIONS - i) }, () => context.newClientSession({ server }));
    sessions.push(...batch);
    await Promise.all(batch.map((session) => get(session, path)));
  }
  // Right after the GETs: a UDP session's retransmission timer (armed lazily) may still be pending.
  await fullGc();
  const right = process.memoryUsage();
  let later: NodeJS.MemoryUsage | undefined;
  if (args.mode === 'udp') {
    // Idle for good: the timer lapses at most ACK_TIMEOUT * ACK_RANDOM_FACTOR (3 s) after the last CON.
    await sleep(3200);
    await fullGc();
    later = process.memoryUsage();
  }
  const result: IdleMemoryResult = {
    sessions: sessions.length,
    heapRightAfter: (right.heapUsed - before.heapUsed) / SESSIONS,
    externalRightAfter: (right.external - before.external) / SESSIONS,
    heapLater: later === undefined ? undefined : (later.heapUsed - before.heapUsed) / SESSIONS,
    externalLater: later === undefined ? undefined : (later.external - before.external) / SESSIONS,
  };
  await context.free();
  return result;
}

/**
 * Server side of the TCP figure (`node run.js --serve tcp-test-peer`): the test peer of rxcoap/testing serving
 * TCP only, with `/hello`; prints `READY PORT` and runs until killed.
 */
export async function serveTcpTestPeer(): Promise<void> {
  const { startTestPeer } = await import('../src/testing'); // loaded only in this server process
  const peer = await startTestPeer({ transports: ['tcp'], resources: [{ path: TCP_PATH, get: 'hello' }], logSize: 10 });
  process.stdout.write(`READY ${peer.ports.tcp}\n`);
  await new Promise<never>(() => undefined);
}

const kib = (bytes: number | undefined): string => (bytes === undefined ? '-' : `${(bytes / 1024).toFixed(2)} KiB`);

function budgetRow(figure: string, budgetKib: number, perSession: number, note: string): TableRow {
  const value = perSession / 1024;
  return { figure, ours: value, theirs: budgetKib, unit: 'KiB', ratio: value / budgetKib, goal: `<= ${budgetKib} KiB`, met: value <= budgetKib, note };
}

async function udpRows(): Promise<TableRow[]> {
  const figure = 'heap per idle UDP session (1,000)';
  let server: RunningServer | undefined;
  try {
    server = await startFastPeer(1);
    const result = await runChild<IdleMemoryResult>('memory', { mode: 'udp', port: server.port } satisfies IdleMemoryArgs, 0, 60_000, ['--expose-gc']);
    return [
      budgetRow(
        figure,
        4,
        result.heapRightAfter,
        `peer column = the 4 KiB budget, ratio = share of it; fast Node peer on CPU 1; each session did one CON GET, measured right after it (retransmission timer possibly pending); ` +
          `3.2 s later (timer lapsed): ${kib(result.heapLater)}; external (ArrayBuffers) +${kib(result.externalRightAfter)} right after, +${kib(result.externalLater)} later, not counted`,
      ),
    ];
  } catch (error) {
    return [{ figure, goal: '<= 4 KiB', error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}

async function tcpRows(): Promise<TableRow[]> {
  const figure = 'heap per idle TCP session (1,000)';
  let server: RunningServer | undefined;
  try {
    // A fresh test peer per measurement: neither child sees the other's 1,000 connections on the server.
    server = await startNodeServer(1, [require.resolve('./run'), '--serve', 'tcp-test-peer'], 'tcp test peer');
    const result = await runChild<IdleMemoryResult>('memory', { mode: 'tcp', port: server.port } satisfies IdleMemoryArgs, 0, 60_000, ['--expose-gc']);
    await server.stop();
    server = await startNodeServer(1, [require.resolve('./run'), '--serve', 'tcp-test-peer'], 'tcp test peer');
    const raw = await runChild<IdleMemoryResult>('memory', { mode: 'tcp-raw', port: server.port } satisfies IdleMemoryArgs, 0, 60_000, ['--expose-gc']).catch((error: Error) => error);
    const rawText = raw instanceof Error ? `raw node:net baseline failed: ${raw.message}` : `a raw node:net connection (CSM + one GET, one data listener) costs ${kib(raw.heapRightAfter)} heap, +${kib(raw.externalRightAfter)} external`;
    return [
      budgetRow(
        figure,
        6,
        result.heapRightAfter,
        `peer column = the 6 KiB budget, ratio = share of it; 1,000 coap+tcp sessions (one connection each) to the rxcoap/testing test peer (TCP, its own process on CPU 1), each after one GET, measured right after; ` +
          `external +${kib(result.externalRightAfter)}, not counted; for scale, ${rawText}`,
      ),
    ];
  } catch (error) {
    return [{ figure, goal: '<= 6 KiB', error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}

/** Figure 7 (parent side): UDP, then TCP. */
export async function figureIdleMemory(): Promise<TableRow[]> {
  return [...(await udpRows()), ...(await tcpRows())];
}
