/**
 * Part 3: the high-volume mode. Whole "worlds" run in virtual time, in process: a hostile responder (the same
 * core the UDP hostile peer uses) answers sessions built on the fake transport, with the RFC 7252 default
 * transmission parameters (virtual seconds cost nothing). One world is a few sessions, each running a script
 * of request kinds; it runs to its end inside one `flush()`, so every uncaught exception is charged to the
 * datagram (or timer) that caused it, and a world replays exactly from its seed (`--world N`).
 */
import { CoapContext } from '../src/context';
import { exchangeLifetime, maxTransmitWait, resolveTransmissionParameters, type TransmissionParameters } from '../src/message-layer/transmission-params';
import { createFakeTransport, type FakeTransport } from '../src/testing/fake-transport';
import { createHostileResponder, type HostileDatagram, type HostileResponder } from '../src/testing/hostile-responder';
import { pick, randomInt } from '../src/testing/mutate';
import { seededRandom, type RandomSource } from '../src/testing/seeded-random';
import { Deadline, type PartBudget } from './budget';
import { sampleHeap } from './heap';
import { captureRxjsReports, type RxjsReports } from './rxjs-reports';
import { drawScript } from './request-kinds';
import { SessionDriver, type Clock, type ExchangeLimits } from './session-driver';
import { probedTransport, TransportProbe } from './transport-probe';
import { describeError, hex, stackOf, type PartTally } from './tally';
import { seededTokens, worldSeed } from './seeds';
import { ResilientScheduler } from './resilient-scheduler';

/** Parameters of one world, drawn from its seed. */
interface WorldSetup {
  readonly sessions: number;
  readonly scriptLength: () => number;
  readonly transmission: TransmissionParameters;
  readonly tokenLength: number;
  readonly blockSize: number;
  readonly correctRate: number;
}

function drawSetup(random: RandomSource): WorldSetup {
  // Mostly the RFC defaults; sometimes NSTART > 1 or fewer retransmissions.
  const transmission = resolveTransmissionParameters(
    pick(random, [{}, {}, {}, { nstart: 4 }, { maxRetransmit: 1 }, { ackTimeout: 1000, ackRandomFactor: 1 }, { nonTimeout: 5000, separateResponseTimeout: 8000 }]),
  );
  return {
    sessions: randomInt(random, 2, 6),
    scriptLength: () => randomInt(random, 2, 8),
    transmission,
    tokenLength: pick(random, [8, 8, 8, 4, 2]),
    blockSize: pick(random, [64, 256, 256, 1024]),
    correctRate: pick(random, [0.35, 0.5, 0.5, 0.7]),
  };
}

/** The watchdog bounds for a world's transmission parameters (exact: virtual time has no latency). */
function limitsFor(params: TransmissionParameters, tickInterval: number): ExchangeLimits {
  const exchange = Math.max(maxTransmitWait(params) + params.separateResponseTimeout, params.nonTimeout);
  return { exchange, slack: 1, request: 40 * exchange, notificationWait: 8 * tickInterval, checkEvery: Math.max(100, exchange / 8), answeredWithin: 50 };
}

/** What one world did. */
interface WorldResult {
  readonly inputs: number;
}

/** Runs one world to its end; failures go to `tally`. */
function runWorld(seed: number, index: number, tally: PartTally, reports: RxjsReports, verbose: boolean): WorldResult {
  const random = seededRandom(seed);
  const setup = drawSetup(random);
  const tickInterval = 1000;
  const limits = limitsFor(setup.transmission, tickInterval);
  const scheduler = new ResilientScheduler(2_000_000);
  const where = (session: number): string => `virtual world ${index} (seed ${seed}), session ${session}`;
  const clock: Clock = {
    now: () => scheduler.now(),
    after(delay, work) {
      const action = scheduler.schedule(work, delay);
      return () => action.unsubscribe();
    },
  };
  const responder: HostileResponder = createHostileResponder({
    seed: seed ^ 0x9e3779b9,
    correctRate: setup.correctRate,
    blockSize: setup.blockSize,
    // Past the first retransmission (ACK_TIMEOUT 2 s), before the last.
    lateDelay: 2500,
    separateDelay: 500,
  });
  const context = new CoapContext({ scheduler, random: seededRandom(seed ^ 0x51ed27), tokenGenerator: seededTokens(seed, setup.tokenLength), transmission: setup.transmission });

  let inputs = 0;
  /** What is being delivered right now: charged with any uncaught exception. */
  let current = 'nothing yet';
  const uncaught = (error: unknown): void => tally.fail('uncaught', describeError(error), current, stackOf(error));
  scheduler.onTimerOverflow = (delay) =>
    tally.fail('hung', `a timer of ${delay} ms was scheduled: over 2^31 - 1 ms, Node fires it after 1 ms (a busy loop)`, `at virtual ${scheduler.now()} ms; last input: ${current}`, stackOf(new Error('scheduled here')));
  scheduler.onActionError = (error) => tally.fail('uncaught', `thrown by a timer: ${describeError(error)}`, `a library timer at virtual ${scheduler.now()} ms; last input: ${current}`, stackOf(error));

  const fakes: FakeTransport[] = [];
  const drivers: SessionDriver[] = [];
  const deliver = (datagram: HostileDatagram): void => {
    const session = Number(datagram.endpoint);
    const fake = fakes[session];
    const driver = drivers[session];
    if (fake === undefined || driver === undefined || driver.finished || !fake.open) return;
    const run = (): void => {
      if (driver.finished || !fake.open) return;
      inputs++;
      tally.inputs++;
      tally.note(datagram.kind === 'correct' ? 'input correct' : 'input hostile');
      current = `${where(session)}: datagram ${inputs} '${datagram.kind}' at virtual ${scheduler.now()} ms: ${hex(datagram.frame, 200)}\n  while ${driver.describe()}`;
      if (verbose) console.log(`  [world ${index}] +${scheduler.now()} ms -> s${session} ${datagram.kind}: ${hex(datagram.frame, 64)}`);
      try {
        fake.deliver(datagram.frame);
      } catch (error) {
        // What would have been thrown into the UDP socket's listener: an uncaught exception there.
        uncaught(error);
      }
      reports.drain(uncaught);
    };
    // At least 1 ms of "network" even for delay 0, so answers never re-enter the send that caused them.
    scheduler.schedule(run, Math.max(1, datagram.delay) + randomInt(random, 0, 3));
  };
  const dispatch = (datagrams: readonly HostileDatagram[]): void => {
    for (const datagram of datagrams) deliver(datagram);
  };

  let running = setup.sessions;
  for (let session = 0; session < setup.sessions; session++) {
    const probe = new TransportProbe(clock);
    const fake = createFakeTransport({
      scheduler,
      // Sometimes the "socket" takes a moment: the first requests wait for the connection.
      connectDelay: pick(random, [0, 0, 1, 5]),
      respond: (_pdu, sent) => {
        if (verbose) console.log(`  [world ${index}] +${scheduler.now()} ms <- s${session}: ${hex(sent.frame, 64)}`);
        dispatch(responder.receive(sent.frame, String(session)));
        return undefined;
      },
    });
    fakes.push(fake);
    const clientSession = context.newClientSession({ server: { host: '127.0.0.1', port: 5683 }, transport: probedTransport(fake.factory, probe) });
    const driver = new SessionDriver(clientSession, probe, drawScript(random, setup.scriptLength()), { clock, limits, tally, random, where: where(session) }, () => {
      running--;
      responder.forget(String(session));
    });
    drivers.push(driver);
  }
  const tick = (): void => {
    if (running === 0) return;
    dispatch(responder.tick());
    scheduler.schedule(tick, tickInterval);
  };
  scheduler.schedule(tick, tickInterval);
  for (const driver of drivers) scheduler.schedule(() => driver.start(), 0);

  // Run until every script ended, then 2 x EXCHANGE_LIFETIME more: the library's own timers must be gone by then.
  const completed = scheduler.flushUntil(limits.request * 4);
  for (const driver of drivers) {
    if (driver.finished) continue;
    tally.fail('hung', `'${driver.currentKind ?? 'script'}' still running when the world ended`, driver.describe());
    driver.abort();
  }
  const quietAt = scheduler.now() + 2 * exchangeLifetime(setup.transmission);
  scheduler.flushUntil(quietAt);
  const left = scheduler.actions.length;
  if (!completed) tally.fail('hung', `world ${index} ran ${scheduler.actionLimit} timer actions: a timer that re-arms forever`, where(-1));
  else if (left > 0) tally.note('timers left 2 x EXCHANGE_LIFETIME after release', left);
  void context.free();
  for (const action of [...scheduler.actions]) action.unsubscribe();
  scheduler.actions.length = 0;
  reports.drain(uncaught);
  return { inputs };
}

/** Runs the virtual part: worlds until the budget is spent (or only world `only`, verbosely). */
export async function runVirtualPart(tally: PartTally, seed: number, budget: PartBudget, verbose: boolean, only: number | undefined): Promise<void> {
  const deadline = new Deadline(budget);
  tally.heap.start = await sampleHeap();
  const reports = captureRxjsReports();
  try {
    if (only !== undefined) {
      runWorld(worldSeed(seed, only), only, tally, reports, true);
    } else {
      for (let index = 1; !deadline.reached(tally.inputs); index++) {
        runWorld(worldSeed(seed, index), index, tally, reports, false);
        tally.note('worlds');
        if (tally.heap.middle === undefined && deadline.halfway(tally.inputs)) {
          reports.drain((error) => tally.fail('uncaught', describeError(error), 'between worlds', stackOf(error)));
          tally.heap.middle = await sampleHeap();
        }
        // Let real time pass now and then (stdout, GC of closed contexts).
        if (index % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
        if (verbose && index % 500 === 0) console.log(`  virtual: world ${index}, ${tally.inputs} inputs`);
      }
    }
  } finally {
    reports.restore();
  }
  tally.heap.end = await sampleHeap();
}
