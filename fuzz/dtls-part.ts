/**
 * Part 4: the DTLS-PSK transport (`dtlsPskTransport`, node-dtls-client underneath), and every third handshake
 * rxcoap's own DTLS client (`dtlsPkiTransport`, anonymous), against a fake DTLS server
 * that answers with garbage and mutated records (`dtls-peer.ts`). Half the handshakes use the transport
 * directly, half a `CoapContext` PSK session on top of it (a GET that must fail with a typed error). Every
 * handshake must end within its deadline with a `CoapDtlsError` or `CoapTransportError` (or connect, which
 * the fake server never allows), never crash the process.
 */
import type { Subscription } from 'rxjs';
import { CoapContext } from '../src/context';
import { dtlsPkiTransport, dtlsPskTransport } from '../src/node';
import { pick, randomInt } from '../src/testing/mutate';
import { seededRandom } from '../src/testing/seeded-random';
import { Deadline, type PartBudget } from './budget';
import { startFakeDtlsServer } from './dtls-peer';
import { sampleHeap } from './heap';
import type { ProcessGuard } from './process-guard';
import { hex, isTypedError, type PartTally } from './tally';
import { LIVE_TRANSMISSION } from './live-part';

/** Handshakes at once. */
const CONCURRENCY = 24;
/** Added to the handshake deadline before a handshake counts as hung (the engine's own backstop is +1 s). */
const SLACK = 1500;

/** Runs the dtls part. */
export async function runDtlsPart(tally: PartTally, guard: ProcessGuard, seed: number, budget: PartBudget, verbose: boolean): Promise<void> {
  tally.heap.start = await sampleHeap();
  await runHandshakes(tally, guard, seed, new Deadline(budget), verbose);
  guard.enter(tally, () => `dtls part (seed ${seed}), after its handshakes ended`);
  tally.heap.end = await sampleHeap();
}

async function runHandshakes(tally: PartTally, guard: ProcessGuard, seed: number, deadline: Deadline, verbose: boolean): Promise<void> {
  const random = seededRandom(seed);
  const server = await startFakeDtlsServer(seed ^ 0x2545f491);
  const context = new CoapContext({ transmission: LIVE_TRANSMISSION, random: seededRandom(seed ^ 0x77) });
  guard.enter(tally, () => `dtls part (seed ${seed}); latest datagrams of the fake DTLS server:\n${server.recent().map((entry) => `    ${entry.kind}: ${hex(entry.frame, 64)}`).join('\n')}`);
  // Inputs: datagrams the fake server sent (every one reaches a client socket or a closed port).
  const inputs = (): number => server.stats.sent;
  let handshakes = 0;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const number = ++handshakes;
      const handshakeTimeout = randomInt(random, 20, 80);
      const handshakeDeadline = randomInt(random, 150, 600);
      const viaSession = random() < 0.5;
      // every third handshake runs rxcoap's own DTLS client (anonymous: certificate suites) instead of node-dtls-client
      const ownEngine = number % 3 === 0;
      const factory = ownEngine
        ? dtlsPkiTransport({ host: '127.0.0.1', port: server.port, handshakeDeadline, retransmitTimeout: handshakeTimeout })
        : dtlsPskTransport({
            host: '127.0.0.1',
            port: server.port,
            psk: { identity: pick(random, ['fuzz', 'a'.repeat(128), '']), key: pick(random, ['secret', 'k', 'x'.repeat(64)]) },
            handshakeTimeout,
            handshakeDeadline,
            random: seededRandom(seed ^ number),
          });
      let ended = false;
      let subscription: Subscription | undefined;
      const finish = (outcome: string): void => {
        if (ended) return;
        ended = true;
        clearTimeout(watchdog);
        tally.note(outcome);
        subscription?.unsubscribe();
        resolve();
      };
      const where = `dtls handshake ${number} (${ownEngine ? 'own engine' : 'node-dtls-client'}, ${viaSession ? 'session GET' : 'transport'}, handshakeTimeout ${handshakeTimeout} ms, deadline ${handshakeDeadline} ms, seed ${seed})`;
      const onError = (error: unknown): void => {
        tally.checkError(error, () => `${where}\n  latest datagrams of the fake server:\n${server.recent().map((entry) => `    ${entry.kind}: ${hex(entry.frame, 64)}`).join('\n')}`);
        const reason = (error as { reason?: unknown }).reason;
        finish(isTypedError(error) ? `${(error as { code: string }).code}${typeof reason === 'string' ? ` ${reason}` : ''}` : 'untyped error');
      };
      const watchdog = setTimeout(() => {
        tally.fail('hung', `the handshake neither connected nor failed within ${handshakeDeadline + SLACK} ms`, `${where}\n  latest datagrams of the fake server:\n${server.recent().map((entry) => `    ${entry.kind}: ${hex(entry.frame, 64)}`).join('\n')}`);
        finish('hung');
      }, handshakeDeadline + SLACK);
      if (viaSession) {
        const server$ = `coaps://127.0.0.1:${server.port}`;
        const session = ownEngine
          ? context.newClientSession({ server: server$, transport: factory })
          : context.newClientSessionPsk({ server: server$, psk: { identity: 'fuzz', key: 'secret' }, transport: factory });
        subscription = session.get('/small').subscribe({
          next: () => finish('session GET answered'),
          error: (error) => {
            onError(error);
            session.release();
          },
          complete: () => session.release(),
        });
      } else {
        subscription = factory().subscribe({ next: () => finish('connected'), error: onError });
      }
      if (ended) subscription.unsubscribe();
    });

  const worker = async (): Promise<void> => {
    while (!deadline.reached(inputs())) await one();
  };
  const middle = (async () => {
    while (!deadline.halfway(inputs()) && !deadline.reached(inputs())) await new Promise((resolve) => setTimeout(resolve, 100));
    tally.heap.middle = await sampleHeap();
  })();
  const progress = verbose ? setInterval(() => console.log(`  dtls: ${handshakes} handshakes, ${inputs()} datagrams`), 2000) : undefined;
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  await middle;
  if (progress !== undefined) clearInterval(progress);
  tally.inputs = inputs();
  tally.note('handshakes', handshakes);
  for (const [kind, count] of Object.entries(server.stats.flights)) tally.note(`server ${kind}`, count);
  await context.free();
  await server.close();
}
