/**
 * Command line of `npm run fuzz`: `--seconds N` (time budget), `--inputs N` (total inputs, default 1,000,000),
 * `--seed S` (default random, always printed first so a failure replays), `--only a,b` (parts to run),
 * `--world N` (replay virtual world N, numbered from 1, of the seed, printing every datagram), `--verbose`.
 */

/** The parts of the harness, in the order they run. */
export const PART_NAMES = ['codec', 'virtual', 'live', 'stream', 'dtls'] as const;
/** One of {@link PART_NAMES}. */
export type PartName = (typeof PART_NAMES)[number];

/** Parsed command line. */
export interface FuzzArgs {
  /** Time budget of the whole run in milliseconds; undefined: only the input count bounds the run. */
  readonly budgetMs: number | undefined;
  /** Inputs of the whole run (split between the parts). */
  readonly inputs: number;
  /** Master seed (32-bit). */
  readonly seed: number;
  readonly parts: readonly PartName[];
  /** Replay only this virtual world, verbosely. */
  readonly world: number | undefined;
  readonly verbose: boolean;
}

const USAGE = 'usage: node dist/fuzz/run.js [--seconds N] [--inputs N] [--seed S] [--only codec,virtual,live,stream,dtls] [--world N] [--verbose]';

function positiveNumber(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isFinite(value) || value <= 0) throw new Error(`${flag} needs a positive number\n${USAGE}`);
  return value;
}

/** Parses `argv` (without node and the script). Throws with the usage text on a mistake. */
export function parseArgs(argv: readonly string[], randomSeed: () => number): FuzzArgs {
  let budgetMs: number | undefined;
  let inputs = 1_000_000;
  let seed: number | undefined;
  let parts: PartName[] = [...PART_NAMES];
  let world: number | undefined;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--seconds':
        budgetMs = positiveNumber(flag, argv[++i]) * 1000;
        break;
      case '--inputs':
        inputs = Math.round(positiveNumber(flag, argv[++i]));
        break;
      case '--seed': {
        const text = argv[++i];
        const value = Number(text);
        if (text === undefined || !Number.isInteger(value)) throw new Error(`--seed needs an integer\n${USAGE}`);
        seed = value >>> 0;
        break;
      }
      case '--only': {
        const names = (argv[++i] ?? '').split(',').filter((name) => name !== '');
        for (const name of names) if (!(PART_NAMES as readonly string[]).includes(name)) throw new Error(`unknown part '${name}'\n${USAGE}`);
        if (names.length === 0) throw new Error(`--only needs part names\n${USAGE}`);
        parts = PART_NAMES.filter((name) => names.includes(name));
        break;
      }
      case '--world':
        world = Math.round(positiveNumber(flag, argv[++i]));
        parts = ['virtual'];
        verbose = true;
        break;
      case '--verbose':
        verbose = true;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument '${flag}'\n${USAGE}`);
    }
  }
  return { budgetMs, inputs, seed: seed ?? randomSeed() >>> 0, parts, world, verbose };
}
