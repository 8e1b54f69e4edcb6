/**
 * `npm run fuzz`: hostile input against rxcoap (issue 16, "Harnesses in the project"), in five parts:
 *
 * 1. codec: every decoder on random bytes and on mutations of valid encodings (typed errors only);
 * 2. virtual: sessions on the fake transport in virtual time against the hostile responder (the volume);
 * 3. live: `CoapContext` sessions over real UDP loopback against the hostile peer, many at once;
 * 4. stream: `coap+tcp://`, `coaps+tcp://` (TLS-PSK) and `coap+ws://` sessions against the hostile stream and
 *    WebSocket peers (issues 17, 18):
 *    mutated frames in random chunks, absurd lengths, hostile CSMs and signals, disconnects mid-frame;
 * 5. dtls: the DTLS-PSK transport against a fake DTLS server that answers with garbage and mutated records.
 *
 * Goal per part: 0 uncaught exceptions, 0 unhandled rejections, 0 hung requests, 0 untyped errors, bounded
 * heap growth. Prints `seed=...` first (so a failure replays with `--seed`), one table at the end, then the
 * first offending inputs and stack traces; exits 1 when the goal is missed. Everything it opens it closes: the
 * process ends by itself (leftover handles are reported, and only then is the exit forced).
 *
 * `node --expose-gc dist/fuzz/run.js [--seconds N] [--inputs N] [--seed S] [--only codec,virtual,live,stream,dtls] [--world N] [--verbose]`
 */
import { randomInt as cryptoRandomInt } from 'node:crypto';
import { parseArgs, type FuzzArgs } from './args';
import { splitBudget, type FuzzPart, type PartBudget } from './budget';
import { runCodecPart } from './codec-part';
import { canCollect, HEAP_GROWTH_BOUND, mib } from './heap';
import { runLivePart } from './live-part';
import { runDtlsPart } from './dtls-part';
import { runStreamPart } from './stream-part';
import { ProcessGuard } from './process-guard';
import { partSeed } from './seeds';
import { formatTable, heapGrewTooMuch, passed } from './table';
import { PartTally } from './tally';
import { runVirtualPart } from './virtual-part';

async function runPart(part: FuzzPart, tally: PartTally, guard: ProcessGuard, args: FuzzArgs, budget: PartBudget): Promise<void> {
  const seed = partSeed(args.seed, part);
  guard.enter(tally, () => `during the ${part} part (seed ${args.seed})`);
  switch (part) {
    case 'codec':
      return runCodecPart(tally, seed, budget, args.verbose);
    case 'virtual':
      return runVirtualPart(tally, args.seed, budget, args.verbose, args.world);
    case 'live':
      return runLivePart(tally, guard, seed, budget, args.verbose);
    case 'stream':
      return runStreamPart(tally, guard, seed, budget, args.verbose);
    case 'dtls':
      return runDtlsPart(tally, guard, seed, budget, args.verbose);
  }
}

/** The informational counts worth a line each (outcomes, error codes, events, peer behaviours). */
function printNotes(tally: PartTally): void {
  const entries = [...tally.notes.entries()].sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return;
  // The most frequent ones, plus the ones that show the peer got far (Block2 numbers, notifications, uploads).
  const always = /^(peer |sessions|worlds|handshakes|timers left)/;
  const shown = entries.filter(([key], index) => index < 20 || always.test(key));
  const text = shown.map(([key, value]) => `${key}: ${value.toLocaleString('en-US')}`).join(', ') + (entries.length > shown.length ? `, ... (${entries.length - shown.length} more)` : '');
  console.log(`  ${tally.name}: ${text}`);
}

function printFailures(tallies: readonly PartTally[], seed: number): void {
  for (const tally of tallies) {
    if (heapGrewTooMuch(tally)) {
      console.log(`\n[${tally.name}] heap grew from ${mib(tally.heap.start)} to ${mib(tally.heap.end)} MiB, more than ${HEAP_GROWTH_BOUND / (1024 * 1024)} MiB`);
    }
    for (const sample of tally.samples) {
      console.log(`\n[${tally.name}] ${sample.kind} (${sample.count}x): ${sample.summary}`);
      console.log(`  ${sample.detail.split('\n').join('\n  ')}`);
      if (sample.stack !== undefined) console.log(`  stack:\n    ${sample.stack.split('\n').join('\n    ')}`);
    }
    const counted = tally.samples.reduce((sum, sample) => sum + sample.count, 0);
    if (tally.failures > counted) console.log(`\n[${tally.name}] ... and ${tally.failures - counted} more failures of other kinds (first ${tally.samples.length} kinds shown)`);
  }
  if (tallies.some((tally) => !passed(tally))) console.log(`\nreplay with: node --expose-gc dist/fuzz/run.js --seed ${seed} [--only PART]`);
}

/** Handles still open after every part closed what it opened (stdio aside). */
function leakedHandles(): string[] {
  const expected = new Set(['TTYWrap', 'PipeWrap', 'FSReqCallback', 'TickObject', 'Timeout']);
  return process.getActiveResourcesInfo().filter((name) => !expected.has(name));
}

async function main(): Promise<number> {
  let args: FuzzArgs;
  let parts: readonly FuzzPart[];
  try {
    args = parseArgs(process.argv.slice(2), () => cryptoRandomInt(0, 2 ** 32 - 1));
    parts = args.parts;
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  console.log(`seed=${args.seed}`);
  const budgetText = `${args.inputs.toLocaleString('en-US')} inputs${args.budgetMs === undefined ? '' : ` or ${args.budgetMs / 1000} s`}`;
  console.log(`fuzz: ${parts.join(', ')}; budget ${budgetText}${canCollect ? '' : ' (run with node --expose-gc for heap figures)'}`);
  const guard = new ProcessGuard();
  guard.install();
  const budgets = splitBudget(args, parts);
  const tallies: PartTally[] = [];
  for (const part of parts) {
    const tally = new PartTally(part);
    tallies.push(tally);
    const started = Date.now();
    try {
      await runPart(part, tally, guard, args, budgets[part]);
    } catch (error) {
      // A bug of the harness itself, or a throw the part could not attribute: counted, never hidden.
      tally.fail('uncaught', `the ${part} part threw: ${(error as Error)?.message ?? String(error)}`, `seed ${args.seed}`, (error as Error)?.stack);
    }
    tally.elapsed = Date.now() - started;
    guard.leave();
    console.log(`${part}: ${tally.inputs.toLocaleString('en-US')} inputs in ${(tally.elapsed / 1000).toFixed(1)} s, ${tally.failures} failures`);
  }
  // Late reports (a timer of a freed session, a rejection one tick late) land here: give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 200));
  guard.uninstall();
  console.log('\nnotes:');
  for (const tally of tallies) printNotes(tally);
  console.log('');
  console.log(formatTable(tallies));
  printFailures(tallies, args.seed);
  for (const stray of guard.strays) console.log(`\n${stray.kind} outside any part: ${stray.summary}${stray.stack === undefined ? '' : `\n  ${stray.stack}`}`);
  const ok = tallies.every(passed) && guard.strays.length === 0;
  console.log(`\nseed=${args.seed} ${ok ? 'PASS' : 'FAIL'}`);
  return ok ? 0 : 1;
}

void main().then((code) => {
  process.exitCode = code;
  // Everything was closed: the process ends by itself. If it cannot, say what is left, then end it.
  const leaked = leakedHandles();
  if (leaked.length > 0) {
    setTimeout(() => {
      const still = leakedHandles();
      if (still.length === 0) return;
      console.log(`\nhandles left open after the run: ${still.join(', ')}`);
      process.exit(code === 0 ? 1 : code);
    }, 1000).unref();
  }
});
