/**
 * How the run's inputs and seconds are split between the parts. The in-process parts are fast (codec: a few
 * hundred thousand inputs a second; virtual sessions: tens of thousands of datagrams a second), so they carry
 * most of the 1,000,000 inputs; real sockets (live UDP, TCP/TLS streams, DTLS handshakes) are slow but are
 * what a user runs, so they get a large share of the time and enough inputs to matter. Every part runs in a
 * `--seconds 20` run.
 */
import type { FuzzArgs, PartName } from './args';

/** Every part of the run: the ones `args.ts` names, and the TCP/TLS stream part (stream-part.ts). */
export type FuzzPart = PartName;

/** What one part may spend. */
export interface PartBudget {
  /** Stop after this many inputs. */
  readonly inputs: number;
  /** Stop after this many milliseconds; undefined when only inputs bound the run. */
  readonly timeMs: number | undefined;
}

/**
 * Stream inputs are frames the hostile stream peer wrote (a few thousand a second: each session connects, and
 * a broken frame ends its connection), so 4 % of the inputs is 40,000 frames of a default run.
 */
const INPUT_SHARE: Readonly<Record<FuzzPart, number>> = { codec: 0.42, virtual: 0.41, live: 0.125, stream: 0.04, dtls: 0.005 };
const TIME_SHARE: Readonly<Record<FuzzPart, number>> = { codec: 0.12, virtual: 0.3, live: 0.27, stream: 0.19, dtls: 0.12 };

/** Splits the run's budget between the parts that run (`parts`, by default `args.parts`; shares renormalized over them). */
export function splitBudget(args: FuzzArgs, parts: readonly FuzzPart[] = args.parts): Record<FuzzPart, PartBudget> {
  const inputTotal = parts.reduce((sum, part) => sum + INPUT_SHARE[part], 0);
  const timeTotal = parts.reduce((sum, part) => sum + TIME_SHARE[part], 0);
  const budget = {} as Record<FuzzPart, PartBudget>;
  for (const part of parts) {
    budget[part] = {
      inputs: Math.max(1, Math.ceil((args.inputs * INPUT_SHARE[part]) / inputTotal)),
      timeMs: args.budgetMs === undefined ? undefined : (args.budgetMs * TIME_SHARE[part]) / timeTotal,
    };
  }
  return budget;
}

/** A part's stop condition. */
export class Deadline {
  readonly #inputs: number;
  readonly #endAt: number;
  readonly #startedAt = Date.now();

  constructor(budget: PartBudget) {
    this.#inputs = budget.inputs;
    this.#endAt = budget.timeMs === undefined ? Infinity : this.#startedAt + budget.timeMs;
  }

  /** True once `inputs` reached the quota or the time is up. */
  reached(inputs: number): boolean {
    return inputs >= this.#inputs || Date.now() >= this.#endAt;
  }

  /** True once half the quota or half the time is spent (for the middle heap sample). */
  halfway(inputs: number): boolean {
    return inputs >= this.#inputs / 2 || Date.now() >= this.#startedAt + (this.#endAt - this.#startedAt) / 2;
  }

  /** The input quota. */
  get inputs(): number {
    return this.#inputs;
  }
}
