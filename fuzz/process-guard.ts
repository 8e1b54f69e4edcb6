/**
 * Counts what would crash a user's process: `uncaughtException` and `unhandledRejection` handlers that count
 * (and never exit), charged to the harness part running at the time with a description of its latest inputs.
 * (In-process runs also catch rxjs's deferred error reports at once: rxjs-reports.ts.)
 */
import { describeError, stackOf, type PartTally } from './tally';

/** Where failures are charged, and what the part was doing. */
interface Charge {
  readonly tally: PartTally;
  readonly context: () => string;
}

/** Process-wide counters of uncaught exceptions and unhandled rejections. */
export class ProcessGuard {
  #charge: Charge | undefined;
  /** Failures outside any part (between parts, or after the end). */
  strays: { kind: string; summary: string; stack: string | undefined }[] = [];

  readonly #onUncaught = (error: unknown): void => this.#record('uncaught', error);
  readonly #onUnhandled = (reason: unknown): void => this.#record('unhandled', reason);

  #emitWarning: typeof process.emitWarning | undefined;
  #lastOverflow = 0;

  install(): void {
    process.on('uncaughtException', this.#onUncaught);
    process.on('unhandledRejection', this.#onUnhandled);
    // Node clamps a timer over 2^31 - 1 ms to 1 ms and warns: a timer meant for days that fires at once, and
    // again, is a busy loop (issue 16 finding 5). Counted as hung, printed here once instead of thousands of times.
    const original = process.emitWarning;
    this.#emitWarning = original;
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      const name = typeof warning === 'string' ? (typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type) : warning.name;
      if (name === 'TimeoutOverflowWarning') {
        // One busy timer warns every millisecond: count one failure per second of warnings, note the rest.
        const now = Date.now();
        if (now - this.#lastOverflow >= 1000) {
          this.#lastOverflow = now;
          this.#record('hung', new Error(`TimeoutOverflowWarning: ${typeof warning === 'string' ? warning : warning.message} (a timer clamped to 1 ms: a busy loop)`));
        } else this.#charge?.tally.note('TimeoutOverflowWarning repeats (not counted)');
        return;
      }
      (original as (...args: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
  }

  uninstall(): void {
    process.off('uncaughtException', this.#onUncaught);
    process.off('unhandledRejection', this.#onUnhandled);
    if (this.#emitWarning !== undefined) process.emitWarning = this.#emitWarning;
  }

  /** From now on, failures are charged to `tally`; `context` describes the latest inputs. */
  enter(tally: PartTally, context: () => string): void {
    this.#charge = { tally, context };
  }

  /** Failures are no longer charged to a part (they are kept as strays). */
  leave(): void {
    this.#charge = undefined;
  }

  #record(kind: 'uncaught' | 'unhandled' | 'hung', error: unknown): void {
    const charge = this.#charge;
    if (charge === undefined) {
      this.strays.push({ kind, summary: describeError(error), stack: stackOf(error) });
      return;
    }
    let context: string;
    try {
      context = charge.context();
    } catch (contextError) {
      context = `(context unavailable: ${describeError(contextError)})`;
    }
    charge.tally.fail(kind, describeError(error), context, stackOf(error));
  }
}
