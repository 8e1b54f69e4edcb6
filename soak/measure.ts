/**
 * Small measuring helpers of the soak run: percentiles, forced GC and heap figures, bounded waiting.
 * Real timers are fine here: the soak is a harness run beside the library, not protocol code.
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every `every` ms until it holds or `limit` ms passed; resolves with whether it held. */
export async function waitUntil(condition: () => boolean, limit: number, every = 10): Promise<boolean> {
  const deadline = performance.now() + limit;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await sleep(every);
  }
  return true;
}

/** The `q`-quantile (0..1) of `values` by the nearest-rank method; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Milliseconds for a table cell: `0.42`, `12.3`, `4650`; `—` for NaN. */
export function formatMs(ms: number): string {
  if (Number.isNaN(ms)) return '—';
  if (ms < 1) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

/** Bytes as KiB or MiB with a sign: `+312 KiB`, `-1.2 MiB`. */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '+';
  const abs = Math.abs(bytes);
  if (abs < 1024 * 1024) return `${sign}${(abs / 1024).toFixed(0)} KiB`;
  return `${sign}${(abs / 1024 / 1024).toFixed(1)} MiB`;
}

/** `1,000` */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Runs full GCs until the heap settles and returns `heapUsed`. Needs `node --expose-gc`. */
export async function settledHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc (npm run soak does)');
  let last = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    gc();
    await sleep(10);
    const used = process.memoryUsage().heapUsed;
    if (Math.abs(last - used) < 16 * 1024) return used;
    last = used;
  }
  return last;
}

/** Counts of `process.getActiveResourcesInfo()` entries that are sockets or timers. */
export function activeSocketsAndTimers(): { sockets: number; timers: number; all: string[] } {
  const all = process.getActiveResourcesInfo();
  let sockets = 0;
  let timers = 0;
  for (const kind of all) {
    if (kind === 'UDPWrap' || kind === 'TCPWrap' || kind === 'TCPServerWrap') sockets++;
    else if (kind === 'Timeout' || kind === 'Immediate') timers++;
  }
  return { sockets, timers, all };
}

/** The name of an error (`CoapTimeoutError`), or its type for a non-Error. */
export function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error;
}

/** Counts occurrences of each name. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(name: string, n = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + n);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  names(): string[] {
    return [...this.#counts.keys()];
  }

  /** `'31 CoapTimeoutError, 1 stale'`, or `'0'`. */
  toString(): string {
    if (this.#counts.size === 0) return '0';
    return [...this.#counts].map(([name, n]) => `${n} ${name}`).join(', ');
  }
}
