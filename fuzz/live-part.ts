/**
 * Part 2: live sessions over real UDP loopback against the hostile peer (`startHostilePeer`), the way a user
 * runs them: one `CoapContext`, many sessions at once (one socket each), every request kind, a short loopback
 * transmission profile so a hang shows within a second, real timers and the real event loop. An exception
 * thrown out of a socket listener here is a real `uncaughtException`.
 *
 * Sessions use the UDP transport factory `rxcoap/node` registers (`udpTransport`), wrapped in a probe that
 * records frames for the watchdog and for failure reports (it adds no error handling: see session-driver.ts).
 * A fifth of them run over a Unix datagram socket instead (`unixDgramTransport`, to the same hostile peer on a
 * socket path, `startHostileUnixPeer`) when the optional `unix-dgram` package is installed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { CoapContext } from '../src/context';
import { maxTransmitWait, resolveTransmissionParameters, type TransmissionParameters } from '../src/message-layer/transmission-params';
import { udpTransport, unixDgramTransport } from '../src/node';
import { startHostilePeer, type HostilePeer } from '../src/testing/hostile-peer';
import { startHostileUnixPeer, type HostileUnixPeer } from '../src/testing/hostile-unix-peer';
import { unixDgramModule } from '../src/transport/unix-dgram';
import { randomInt } from '../src/testing/mutate';
import { seededRandom } from '../src/testing/seeded-random';
import { Deadline, type PartBudget } from './budget';
import { sampleHeap } from './heap';
import type { ProcessGuard } from './process-guard';
import { drawScript } from './request-kinds';
import { SessionDriver, type Clock, type ExchangeLimits } from './session-driver';
import { probedTransport, TransportProbe } from './transport-probe';
import { seededTokens } from './seeds';
import { hex, type PartTally } from './tally';

/**
 * A loopback profile: ACK_TIMEOUT 40 ms, 2 retransmissions, so MAX_TRANSMIT_WAIT is 40 * (2^3 - 1) * 1.5 = 420
 * ms; separate responses and NON responses may take 300 ms. The hostile peer's "late" answers (60-180 ms)
 * arrive after a retransmission, as they would on a slow network with the default profile.
 */
export const LIVE_TRANSMISSION: Partial<TransmissionParameters> = {
  ackTimeout: 40,
  ackRandomFactor: 1.5,
  maxRetransmit: 2,
  maxLatency: 100,
  processingDelay: 40,
  nonTimeout: 300,
  separateResponseTimeout: 300,
};

/** Sessions running at once. */
const CONCURRENCY = 48;

/** Share of sessions over a Unix datagram socket (when `unix-dgram` is installed). */
const UNIX_SHARE = 0.2;

/** The hostile peer on a Unix datagram socket in a fresh short directory, or undefined without `unix-dgram`. */
async function startUnixPeer(seed: number): Promise<{ peer: HostileUnixPeer; dir: string } | undefined> {
  try {
    unixDgramModule();
  } catch {
    return undefined;
  }
  const dir = mkdtempSync('/tmp/rxf');
  try {
    return { peer: await startHostileUnixPeer({ path: `${dir}/h`, seed: seed ^ 0x2b2b, tickInterval: 20, lateDelay: 60, separateDelay: 5, correctRate: 0.5, blockSize: 256 }), dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

const clock: Clock = {
  now: () => performance.now(),
  after(delay, work) {
    const timer = setTimeout(work, delay);
    return () => clearTimeout(timer);
  },
};

function limitsFor(params: TransmissionParameters): ExchangeLimits {
  return {
    exchange: Math.max(maxTransmitWait(params) + params.separateResponseTimeout, params.nonTimeout),
    // Two CPUs shared with the hostile peer and other work: an event-loop stall of half a second happens.
    slack: 750,
    request: 30_000,
    notificationWait: 400,
    checkEvery: 50,
    answeredWithin: 750,
  };
}

/** Runs the live part. */
export async function runLivePart(tally: PartTally, guard: ProcessGuard, seed: number, budget: PartBudget, verbose: boolean): Promise<void> {
  tally.heap.start = await sampleHeap();
  await runSessions(tally, guard, seed, new Deadline(budget), verbose);
  // Everything the part made is out of scope now (the peer's logs too): the end sample measures what is left.
  guard.enter(tally, () => `live part (seed ${seed}), after its sessions were freed`);
  tally.heap.end = await sampleHeap();
}

async function runSessions(tally: PartTally, guard: ProcessGuard, seed: number, deadline: Deadline, verbose: boolean): Promise<void> {
  const random = seededRandom(seed);
  const params = resolveTransmissionParameters(LIVE_TRANSMISSION);
  const limits = limitsFor(params);
  const peer: HostilePeer = await startHostilePeer({ seed, tickInterval: 20, lateDelay: 60, separateDelay: 5, correctRate: 0.5, blockSize: 256 });
  const context = new CoapContext({ transmission: LIVE_TRANSMISSION, random: seededRandom(seed ^ 0x1234567), tokenGenerator: seededTokens(seed, 8) });
  const port = peer.address.port;
  const unix = await startUnixPeer(seed);

  // The latest datagrams any session received: what an uncaught exception (reported one tick late) was about.
  const inbound: { session: number; time: number; frame: Uint8Array }[] = [];
  const started = clock.now();
  guard.enter(tally, () => {
    const lines = inbound.map((entry) => `    session ${entry.session} +${Math.round(entry.time - started)} ms: ${hex(entry.frame, 64)}`);
    const sent = peer.recent().slice(-6).map((entry) => `    ${entry.kind}${entry.stranger ? ' (stranger)' : ''} -> :${entry.destination.port}: ${hex(entry.frame, 64)}`);
    const sentUnix = (unix?.peer.recent() ?? []).slice(-6).map((entry) => `    ${entry.kind}${entry.stranger ? ' (stranger)' : ''} -> ${entry.destination.path}: ${hex(entry.frame, 64)}`);
    return `live part (seed ${seed}); latest datagrams received by sessions:\n${lines.join('\n')}\n  latest sent by the hostile peer:\n${sent.join('\n')}\n  latest sent by the hostile Unix peer:\n${sentUnix.join('\n')}`;
  });

  let sessions = 0;
  let unixSessions = 0;
  const running = new Set<SessionDriver>();
  const runOne = (): Promise<void> =>
    new Promise((resolve) => {
      const number = ++sessions;
      const probe = new TransportProbe(clock);
      probe.onReceive = (frame) => {
        tally.inputs++;
        inbound.push({ session: number, time: clock.now(), frame });
        if (inbound.length > 8) inbound.shift();
      };
      const overUnix = unix !== undefined && random() < UNIX_SHARE;
      if (overUnix) unixSessions++;
      const session = overUnix
        ? context.newClientSession({ server: unix.peer.uri(), transport: probedTransport(unixDgramTransport({ path: unix.peer.path }), probe) })
        : context.newClientSession({ server: { host: '127.0.0.1', port }, transport: probedTransport(udpTransport({ host: '127.0.0.1', port }), probe) });
      const where = `live session ${number}${overUnix ? ' over a Unix datagram socket' : ''} (seed ${seed})`;
      const driver = new SessionDriver(session, probe, drawScript(random, randomInt(random, 2, 8)), { clock, limits, tally, random, where }, () => {
        running.delete(driver);
        resolve();
      });
      running.add(driver);
      driver.start();
    });
  const worker = async (): Promise<void> => {
    while (!deadline.reached(tally.inputs)) await runOne();
  };
  const workers = Array.from({ length: CONCURRENCY }, () => worker());
  const middle = (async () => {
    while (!deadline.halfway(tally.inputs) && !deadline.reached(tally.inputs)) await new Promise((resolve) => setTimeout(resolve, 100));
    tally.heap.middle = await sampleHeap();
  })();
  const progress = verbose ? setInterval(() => console.log(`  live: ${tally.inputs} inputs, ${sessions} sessions, ${peer.observations} observations at the peer`), 2000) : undefined;
  await Promise.all(workers);
  await middle;
  if (progress !== undefined) clearInterval(progress);
  for (const driver of running) driver.abort();

  const stats = peer.stats;
  tally.note('peer datagrams sent', stats.datagramsSent);
  tally.note('peer requests', stats.requests);
  tally.note('peer notifications', stats.notifications);
  tally.note('peer highest Block2 number', stats.maxBlock2);
  tally.note('peer Block1 uploads completed', stats.block1Completed);
  tally.note('sessions', sessions);
  if (unix === undefined) tally.note('no Unix datagram sessions (unix-dgram is not installed)');
  else {
    tally.note('sessions over Unix datagram sockets', unixSessions);
    tally.note('Unix peer datagrams sent', unix.peer.stats.datagramsSent);
  }
  await context.free();
  await peer.close();
  if (unix !== undefined) {
    await unix.peer.close();
    rmSync(unix.dir, { recursive: true, force: true });
  }
}
