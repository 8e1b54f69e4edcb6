/**
 * The hostile WebSocket peer, and coap+ws:// sessions against it (the hostile stream peer's idea over WS, RFC 8323
 * §4): mutated messages, text messages, empty and absurdly large ones, a frame header announcing 2^53 - 1 bytes,
 * broken WebSocket framing, odd close codes, refused upgrades and missing subprotocols, hostile CSMs. The goal is
 * the fuzz's: 0 uncaught exceptions, 0 unhandled rejections, 0 untyped errors, 0 hung requests. The same again over
 * coaps+ws:// with a pre-shared key (the peer's hazards then arrive inside TLS).
 * `WS_HOSTILE_VERBOSE=1` prints how the requests ended and what the peer did.
 */
import { lastValueFrom, take, timeout, toArray, type Observable } from 'rxjs';
import { CoapError } from '../../src/errors';
import { CoapContext, type ClientSession } from '../../src/node';
import { startHostileWsPeer, type HostileWsPeer, type HostileWsPeerOptions } from '../../src/testing/hostile-ws-peer';
import { seededRandom } from '../../src/testing/seeded-random';

jest.setTimeout(60_000);

/** A request that has neither ended nor failed by then is hung (requests wait 3 s per message at most here). */
const HUNG_AFTER = 30_000;
const SESSIONS = 160;
/** Fewer over TLS: each session is a handshake. */
const WSS_SESSIONS = 80;
const CONCURRENCY = 16;
const PSK = { identity: 'hostile-ws', key: 'hostile-ws-secret' };

type Outcome = { readonly kind: 'ok' } | { readonly kind: 'typed'; readonly code: string } | { readonly kind: 'untyped'; readonly error: unknown } | { readonly kind: 'hung'; readonly what: string };

/** Runs one request to its end, telling how it ended. */
async function outcomeOf(what: string, request: Observable<unknown>): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'hung', what }), HUNG_AFTER);
  });
  const ended = lastValueFrom(request, { defaultValue: undefined }).then(
    (): Outcome => ({ kind: 'ok' }),
    (error: unknown): Outcome => (error instanceof CoapError ? { kind: 'typed', code: error.code } : { kind: 'untyped', error }),
  );
  try {
    return await Promise.race([ended, hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe('hostile WebSocket peer', () => {
  let peer: HostileWsPeer | undefined;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => void uncaught.push(error);

  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  });

  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  afterEach(async () => {
    await peer?.close();
    peer = undefined;
  });

  /** `sessions` sessions of mixed requests against a hostile peer started with `options`. */
  async function survive(options: HostileWsPeerOptions, sessions: number): Promise<void> {
    peer = await startHostileWsPeer(options);
    const server = peer.uri().replace(/\/$/, '');
    const context = new CoapContext({ transmission: { separateResponseTimeout: 3000, nonTimeout: 3000 } });
    const outcomes: Outcome[] = [];
    let next = 0;
    const runSession = async (number: number): Promise<void> => {
      const random = seededRandom(1000 + number);
      const session: ClientSession = peer!.secure ? context.newClientSessionPsk({ server, csmTimeout: 2000, psk: PSK }) : context.newClientSession({ server, csmTimeout: 2000 });
      for (let i = 0; i < 4; i++) {
        const kind = Math.floor(random() * 5);
        const request =
          kind === 0
            ? session.get('/small')
            : kind === 1
              ? session.get('/large')
              : kind === 2
                ? session.put('/upload', { payload: new Uint8Array(3000).fill(0x61) })
                : kind === 3
                  ? session.observe('/obs').pipe(take(3), toArray(), timeout(8000))
                  : session.ping();
        outcomes.push(await outcomeOf(`session ${number} request ${i} (kind ${kind})`, request));
      }
      session.release();
    };
    const worker = async (): Promise<void> => {
      while (next < sessions) await runSession(next++);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await context.free();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const untyped = outcomes.filter((outcome) => outcome.kind === 'untyped');
    if (process.env.WS_HOSTILE_VERBOSE !== undefined) {
      const counts: Record<string, number> = {};
      for (const outcome of outcomes) {
        const key = outcome.kind === 'typed' ? outcome.code : outcome.kind;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      console.log(JSON.stringify({ outcomes: counts, stats: peer.stats }, null, 1));
    }
    const hung = outcomes.filter((outcome) => outcome.kind === 'hung');
    // An observation cut short by our own 8 s timeout is rxjs's TimeoutError: bounded, not hung, and not the library's.
    const untypedOtherThanObserveTimeout = untyped.filter((outcome) => (outcome as { error: { name?: string } }).error?.name !== 'TimeoutError');
    expect({ uncaught, hung, untyped: untypedOtherThanObserveTimeout }).toEqual({ uncaught: [], hung: [], untyped: [] });
    expect(outcomes).toHaveLength(sessions * 4);
    // It was hostile, and some requests still worked.
    const stats = peer.stats;
    expect(outcomes.filter((outcome) => outcome.kind === 'ok').length).toBeGreaterThan(10);
    expect(outcomes.filter((outcome) => outcome.kind === 'typed').length).toBeGreaterThan(10);
    expect(Object.keys(stats.hazards).length).toBeGreaterThan(6);
    expect(stats.connections).toBeGreaterThan(sessions / 2);
    expect(stats.tlsFailures).toBe(0);
  }

  const hostile: HostileWsPeerOptions = { seed: 18, correctRate: 0.6, hazardRate: 0.25, csmFaultRate: 0.3, handshakeFaultRate: 0.1, blockSize: 256, lateDelay: 40 };

  it(`survives ${SESSIONS} coap+ws:// sessions of mixed requests: no crash, no untyped error, no hung request`, async () => {
    await survive(hostile, SESSIONS);
    expect(peer!.secure).toBe(false);
  });

  it(`survives ${WSS_SESSIONS} coaps+ws:// sessions (TLS-PSK) of the same: the hazards inside TLS`, async () => {
    await survive({ ...hostile, seed: 19, tls: { psk: PSK } }, WSS_SESSIONS);
    expect(peer!.secure).toBe(true);
    expect(peer!.uri()).toMatch(/^coaps\+ws:\/\//);
  });

  it('refuses a client with the wrong key during the TLS handshake: a typed error, nothing hangs', async () => {
    peer = await startHostileWsPeer({ ...hostile, seed: 20, tls: { psk: PSK } });
    const context = new CoapContext();
    const session = context.newClientSessionPsk({ server: peer.uri().replace(/\/$/, ''), csmTimeout: 2000, psk: { identity: PSK.identity, key: 'not-the-key' } });
    const outcome = await outcomeOf('GET with the wrong key', session.get('/small'));
    await context.free();
    expect(outcome).toEqual({ kind: 'typed', code: 'COAP_ERR_TLS' });
    expect(peer.stats.tlsFailures).toBeGreaterThan(0);
    expect(peer.stats.connections).toBe(0);
  });
});
