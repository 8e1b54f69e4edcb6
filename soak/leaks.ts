/**
 * Leak check, run as its own process (`node --expose-gc dist/soak/leaks.js`) by the soak so that "the process
 * exits by itself" can be observed from outside:
 *
 * 1. 100,000 CON requests over a few sessions to the test peer, the sessions released;
 * 2. 1,000 sessions created, one GET each, released;
 *
 * each followed by the peer closed (its own caches out of the figure) and forced GCs: the heap must come back to
 * within a small bound of the baseline taken after a warm-up of the same kind. At the end, once the context is
 * freed, `process.getActiveResourcesInfo()` must list no socket and no timer. The result is one JSON line on
 * stdout; the process then ends by itself (the parent measures how long that takes, and kills it after 10 s).
 */
import { CoapContext, type ClientSession } from '../src/node';
import { startTestPeer, type TestPeer } from '../src/testing';
import { activeSocketsAndTimers, errorName, settledHeap, Tally } from './measure';

/** What the child reports. */
export interface LeakResult {
  readonly requests: number;
  readonly requestsOk: number;
  readonly requestFailures: string;
  readonly requestSeconds: number;
  readonly sessions: number;
  readonly sessionsOk: number;
  readonly sessionFailures: string;
  readonly sessionSeconds: number;
  /** heapUsed after the requests, the peer closed, minus the baseline (bytes, after forced GCs). */
  readonly heapAfterRequests: number;
  readonly heapAfterSessions: number;
  readonly liveSessions: number;
  readonly activeSockets: number;
  readonly activeTimers: number;
  readonly activeResources: string[];
}

const SESSIONS_FOR_REQUESTS = 8;
const NSTART = 4;

function get(session: ClientSession, failures: Tally): Promise<boolean> {
  return new Promise((resolve) => {
    session.get('/x').subscribe({
      next: () => resolve(true),
      error: (error: unknown) => {
        failures.add(errorName(error));
        resolve(false);
      },
    });
  });
}

async function requests(context: CoapContext, peer: TestPeer, count: number, failures: Tally): Promise<number> {
  const sessions = Array.from({ length: SESSIONS_FOR_REQUESTS }, () => context.newClientSession({ server: peer.uri() }));
  let next = 0;
  let ok = 0;
  await Promise.all(
    sessions.flatMap((session) =>
      Array.from({ length: NSTART }, async () => {
        while (next < count) {
          next++;
          if (await get(session, failures)) ok++;
        }
      }),
    ),
  );
  for (const session of sessions) session.release();
  return ok;
}

async function sessions(context: CoapContext, peer: TestPeer, count: number, failures: Tally): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, () => context.newClientSession({ server: peer.uri() }));
    const results = await Promise.all(batch.map((session) => get(session, failures)));
    ok += results.filter(Boolean).length;
    for (const session of batch) session.release();
  }
  return ok;
}

const peerOptions = { logSize: 1, resources: [{ path: '/x', get: 'x' }] };

/** Runs the leak check in this process. */
export async function runLeaks(requestCount: number, sessionCount: number): Promise<LeakResult> {
  // NSTART lanes need nstart in the parameters; everything else is the RFC default profile.
  const context = new CoapContext({ transmission: { nstart: NSTART } });

  // Warm-up: the same work at a small scale, so code, caches (paths, servers) and pools exist in the baseline.
  let peer = await startTestPeer(peerOptions);
  const ignored = new Tally();
  await requests(context, peer, 2000, ignored);
  await sessions(context, peer, 100, ignored);
  await peer.close();
  const baseline = await settledHeap();

  peer = await startTestPeer(peerOptions);
  const requestFailures = new Tally();
  let started = performance.now();
  const requestsOk = await requests(context, peer, requestCount, requestFailures);
  const requestSeconds = (performance.now() - started) / 1000;
  await peer.close();
  const heapAfterRequests = (await settledHeap()) - baseline;

  peer = await startTestPeer(peerOptions);
  const sessionFailures = new Tally();
  started = performance.now();
  const sessionsOk = await sessions(context, peer, sessionCount, sessionFailures);
  const sessionSeconds = (performance.now() - started) / 1000;
  await peer.close();
  const heapAfterSessions = (await settledHeap()) - baseline;
  const liveSessions = context.sessions.size;

  await context.free();
  const active = activeSocketsAndTimers();
  return {
    requests: requestCount,
    requestsOk,
    requestFailures: requestFailures.toString(),
    requestSeconds,
    sessions: sessionCount,
    sessionsOk,
    sessionFailures: sessionFailures.toString(),
    sessionSeconds,
    heapAfterRequests,
    heapAfterSessions,
    liveSessions,
    activeSockets: active.sockets,
    activeTimers: active.timers,
    activeResources: active.all,
  };
}

if (require.main === module) {
  const requestCount = Number(process.argv[2] ?? 100_000);
  const sessionCount = Number(process.argv[3] ?? 1000);
  runLeaks(requestCount, sessionCount).then(
    (result) => process.stdout.write(`LEAKS ${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stdout.write(`LEAKS-ERROR ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
