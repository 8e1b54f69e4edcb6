/**
 * Figure 7: heap per idle session. A child run with `--expose-gc` opens 1,000 sessions to the fast Node peer
 * (its own process), each does one GET, then all idle; heap per session = (heapUsed after − heapUsed before) /
 * 1,000, both after forced full GCs. "Before" is taken after one session has already done a GET (code loaded,
 * JIT warm), so the figure is what each further session costs. Sockets' native memory is not on the JS heap; the
 * note gives the external/ArrayBuffer growth too.
 */
import { CoapContext, type ClientSession } from '../src/node';
import { runChild, sleep } from './children';
import { startFastPeer, type RunningServer } from './libcoap-server';
import type { TableRow } from './table';

const SESSIONS = 1000;

export interface IdleMemoryArgs {
  readonly port: number;
}

export interface IdleMemoryResult {
  readonly heapPerSession: number;
  readonly externalPerSession: number;
  readonly sessions: number;
}

function get(session: ClientSession): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('GET timed out')), 5000);
    session.get('/').subscribe({
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

/** Child side (node --expose-gc). */
export async function idleMemoryChild(args: IdleMemoryArgs): Promise<IdleMemoryResult> {
  const context = new CoapContext();
  const server = `coap://127.0.0.1:${args.port}`;
  await get(context.newClientSession({ server })); // warm: modules loaded, code compiled
  await fullGc();
  const before = process.memoryUsage();
  const sessions: ClientSession[] = [];
  for (let i = 0; i < SESSIONS; i += 50) {
    const batch = Array.from({ length: Math.min(50, SESSIONS - i) }, () => context.newClientSession({ server }));
    sessions.push(...batch);
    await Promise.all(batch.map(get));
  }
  // Idle means idle: the message layer's one retransmission timer is armed lazily and lapses at most
  // ACK_TIMEOUT * ACK_RANDOM_FACTOR (3 s) after the last CON; measure after that, not while it is pending.
  await sleep(3200);
  await fullGc();
  const after = process.memoryUsage();
  const result = {
    heapPerSession: (after.heapUsed - before.heapUsed) / SESSIONS,
    externalPerSession: (after.external - before.external) / SESSIONS,
    sessions: sessions.length,
  };
  await context.free();
  return result;
}

/** Figure 7 (parent side). */
export async function figureIdleMemory(): Promise<TableRow[]> {
  const figure = 'heap per idle session (1,000)';
  let server: RunningServer | undefined;
  try {
    server = await startFastPeer(1);
    const result = await runChild<IdleMemoryResult>('memory', { port: server.port } satisfies IdleMemoryArgs, 0, 60_000, ['--expose-gc']);
    const kib = result.heapPerSession / 1024;
    return [
      {
        figure,
        ours: kib,
        theirs: 4,
        unit: 'KiB',
        ratio: kib / 4,
        goal: '<= 4 KiB',
        met: kib <= 4,
        note: `peer column = the 4 KiB budget, ratio = share of it; each session did one GET, measured 3.2 s later (idle: its retransmission timer has lapsed); external (ArrayBuffers) +${(result.externalPerSession / 1024).toFixed(2)} KiB/session, not counted`,
      },
    ];
  } catch (error) {
    return [{ figure, goal: '<= 4 KiB', error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}
