/**
 * rxcoap as a {@link Contender}: `sessions` client sessions (one socket each) from one context with `nstart`,
 * `sessions × nstart` CON GETs in flight, loop slot i always on session i % sessions.
 *
 * Message IDs: a MID is never reused within EXCHANGE_LIFETIME (247 s by default), which caps one session at
 * ~265 new requests/s once the 65,536 MIDs are spent (ARCHITECTURE.md). The bench therefore uses a loopback
 * transmission profile with a short EXCHANGE_LIFETIME (ackTimeout 1 s, maxRetransmit 1, maxLatency 100 ms,
 * processingDelay 100 ms → 1.8 s, ~36k new MIDs/s per session); `midExhausted` counts the times a request had
 * to wait for a MID anyway (then the figure is MID-bound, not CPU-bound, and the note says so).
 */
import type { Subscription } from 'rxjs';
import { CoapContext, type ClientSession } from '../src/node';
import { closedLoop, type Contender } from './measure';

/** One GET on `session`; `done(true)` once a response came and the Observable completed, `done(false)` on error. */
export function getOnce(session: ClientSession, path: string, done: (ok: boolean) => void): void {
  let answered = false;
  session.get(path).subscribe({
    next: () => (answered = true),
    error: () => done(false),
    complete: () => done(answered),
  });
}

/** The loopback transmission profile of the bench (see above). */
export const BENCH_TRANSMISSION = { ackTimeout: 1000, maxRetransmit: 1, maxLatency: 100, processingDelay: 100 } as const;

export interface RxcoapGetOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly sessions: number;
  readonly nstart: number;
}

/** rxcoap GETs; `midExhausted()` tells how often a session waited for a MID. */
export function rxcoapGetContender(options: RxcoapGetOptions): Contender & { midExhausted(): number } {
  let context: CoapContext | undefined;
  let sessions: ClientSession[] = [];
  const subscriptions: Subscription[] = [];
  let exhausted = 0;
  return {
    name: 'rxcoap',
    midExhausted: () => exhausted,
    async setup() {
      context = new CoapContext({ transmission: { ...BENCH_TRANSMISSION, nstart: options.nstart } });
      sessions = Array.from({ length: options.sessions }, () => context!.newClientSession({ server: `coap://${options.host}:${options.port}` }));
      for (const session of sessions) {
        subscriptions.push(session.events$.subscribe((event) => {
          if (event.type === 'mid-exhausted') exhausted++;
        }));
        // Connect (bind + connect the socket) before the windows.
        await new Promise<void>((resolve, reject) => session.get(options.path).subscribe({ error: reject, complete: resolve }));
      }
    },
    window(ms) {
      return closedLoop(ms, options.sessions * options.nstart, (done, slot) => getOnce(sessions[slot % sessions.length], options.path, done));
    },
    async teardown() {
      for (const subscription of subscriptions) subscription.unsubscribe();
      await context?.free();
    },
  };
}
