/**
 * Heap samples for "heap growth": heap used after a full GC (`node --expose-gc`; without it the samples are
 * noisy and the bound is not enforced), taken when a part has freed everything it made, after the event loop
 * had a few turns to close sockets.
 */

/** Whether samples come after a full GC. */
export const canCollect = typeof (globalThis as { gc?: unknown }).gc === 'function';

/**
 * Largest heap growth accepted per part, from its start to its end, in bytes. Every part frees what it made
 * (contexts, sessions, peers, sockets) before its end sample, and every cache below the API is bounded by time
 * (EXCHANGE_LIFETIME) or size, so the heap must come back to about where it started. 16 MiB is far above that
 * noise (JIT metadata, V8's own caches) and far below what a leak of the inputs does: 40 bytes kept per input
 * over the virtual part's 450,000 datagrams is 17 MiB, one Subscription (~200 bytes) kept per request is more.
 */
export const HEAP_GROWTH_BOUND = 16 * 1024 * 1024;

/** Heap used after the event loop settled and a full GC, in bytes. */
export async function sampleHeap(): Promise<number> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : (bytes / (1024 * 1024)).toFixed(1);
}
