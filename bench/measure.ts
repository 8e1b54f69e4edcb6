/**
 * Median-of-windows measurement (ARCHITECTURE.md "Known pitfalls"): every contender of a figure runs a warm-up,
 * then several short windows, interleaved round-robin (A B C A B C ...) so that drift of the machine hits every
 * contender alike. A window reports how many operations it completed and how long it took (wall time, and the
 * process's CPU time when asked); the figure is the median of the per-window rates.
 */

/** One side of a figure: rxcoap, the raw floor, or a peer library. */
export interface Contender {
  readonly name: string;
  /** Opens sockets, sessions... */
  setup?(): Promise<void>;
  /** Runs for about `ms` milliseconds; resolves with the operations completed. Must settle (own timeouts). */
  window(ms: number): Promise<number>;
  teardown?(): Promise<void>;
}

/** What one contender measured. */
export interface Measured {
  readonly name: string;
  /** Median rate (operations per second of wall or CPU time). */
  readonly rate: number;
  readonly windows: readonly number[];
  readonly error?: string;
}

export interface MeasureOptions {
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
  /** Divide by the process's CPU time instead of wall time. */
  readonly perCpuSecond?: boolean;
}

/** Default: 0.6 s warm-up, 7 windows of 0.7 s (7 rather than 5: the median then survives two disturbed windows). */
export const DEFAULT_MEASURE: MeasureOptions = { warmupMs: 600, windowMs: 700, windows: 7 };

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Rejects after `ms` unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Runs every contender: setup, warm-up, interleaved windows, teardown. A failing contender is reported, not thrown. */
export async function measureInterleaved(contenders: readonly Contender[], options: MeasureOptions = DEFAULT_MEASURE): Promise<Measured[]> {
  const guard = options.windowMs * 3 + 5000;
  const state = contenders.map((contender) => ({ contender, rates: [] as number[], error: undefined as string | undefined }));
  for (const entry of state) {
    try {
      await withTimeout(entry.contender.setup?.() ?? Promise.resolve(), 10_000, `${entry.contender.name} setup`);
      await withTimeout(entry.contender.window(options.warmupMs), guard, `${entry.contender.name} warm-up`);
    } catch (error) {
      entry.error = (error as Error).message;
    }
  }
  for (let round = 0; round < options.windows; round++) {
    for (const entry of state) {
      if (entry.error !== undefined) continue;
      try {
        const wall0 = performance.now();
        const cpu0 = cpuSeconds();
        const ops = await withTimeout(entry.contender.window(options.windowMs), guard, `${entry.contender.name} window`);
        const seconds = options.perCpuSecond ? cpuSeconds() - cpu0 : (performance.now() - wall0) / 1000;
        entry.rates.push(ops / seconds);
      } catch (error) {
        entry.error = (error as Error).message;
      }
    }
  }
  for (const entry of state) {
    try {
      await withTimeout(entry.contender.teardown?.() ?? Promise.resolve(), 5000, `${entry.contender.name} teardown`);
    } catch {
      // teardown failures do not change the figure
    }
  }
  return state.map(({ contender, rates, error }) => ({ name: contender.name, rate: error === undefined ? median(rates) : NaN, windows: rates, error }));
}

/**
 * Keeps `inFlight` operations going until `ms` have passed, then waits for the outstanding ones.
 * `start(done, slot)` begins one operation for loop `slot` (0..inFlight-1) and calls `done(ok)` once; resolves with the operations that succeeded.
 */
export function closedLoop(ms: number, inFlight: number, start: (done: (ok: boolean) => void, slot: number) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const deadline = performance.now() + ms;
    let completed = 0;
    let failed = 0;
    let running = 0;
    let finished = false;
    const launch = (slot: number): void => {
      running++;
      let called = false;
      start((ok) => {
        if (called) return;
        called = true;
        running--;
        if (ok) completed++;
        else failed++;
        if (finished) return;
        if (failed > 100) {
          finished = true;
          reject(new Error(`more than 100 operations failed (${completed} succeeded)`));
        } else if (performance.now() < deadline) launch(slot);
        else if (running === 0) {
          finished = true;
          resolve(completed);
        }
      }, slot);
    };
    for (let slot = 0; slot < inFlight; slot++) launch(slot);
  });
}
