/**
 * DTLS with certificates on rxcoap's own DTLS client, against `coap-server-openssl -c -j -k` (certificates and a
 * PSK on one server; DTLS on its port + 1), client and server on CPU 0:
 * - new session + first GET: rxcoap `newClientSessionPki` (median of 7 fresh sessions, in-process), beside
 *   libcoap's own `coap-client-openssl -C ca.pem coaps://...` as process wall time minus a plain UDP run of it
 *   (`coap://`, same server), medians of 7 each;
 * - GET rate with 1 outstanding over certificate DTLS vs a raw node-dtls-client PSK socket (pre-encoded GETs).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CoapContext } from '../src/node';
import { pinningAvailable, runChild } from './children';
import { KEY, rawDtlsContender } from './dtls';
import { startLibcoapServer, type RunningServer } from './libcoap-server';
import { closedLoop, measureInterleaved, median, withTimeout, type Contender, type Measured } from './measure';
import { BENCH_TRANSMISSION } from './rxcoap-contender';
import type { TableRow } from './table';

const HANDSHAKES = 7;
const FIXTURES = path.join(__dirname, '..', '..', 'spec', 'fixtures', 'pki');
const PKI = { pkiKey: { caFile: path.join(FIXTURES, 'ca.pem') } };

export interface DtlsPkiChildArgs {
  readonly port: number;
}

export interface DtlsPkiChildResult {
  readonly rxcoap: Measured;
  readonly raw: Measured;
  readonly handshakeMs?: number;
  readonly suite?: string;
  readonly error?: string;
}

function pkiGetter(context: CoapContext, port: number): { get(): Promise<void>; release(): void; suite(): string | undefined } {
  const session = context.newClientSessionPki({ server: `coaps://127.0.0.1:${port}`, pki: PKI });
  let suite: string | undefined;
  session.events$.subscribe((event) => {
    if (event.type === 'dtls-connected') suite = event.cipherSuite;
  });
  return {
    get: () => withTimeout(new Promise<void>((resolve, reject) => session.get('/').subscribe({ error: reject, complete: resolve })), 8000, 'rxcoap DTLS-PKI GET'),
    release: () => void session.release(),
    suite: () => suite,
  };
}

/** Child side. */
export async function dtlsPkiChild(args: DtlsPkiChildArgs): Promise<DtlsPkiChildResult> {
  const context = new CoapContext({ transmission: BENCH_TRANSMISSION });
  let session: ReturnType<typeof pkiGetter> | undefined;
  const contenders: Contender[] = [
    {
      name: 'rxcoap dtls-pki',
      async setup() {
        session = pkiGetter(context, args.port);
        await session.get();
      },
      window: (ms) => closedLoop(ms, 1, (done) => session!.get().then(() => done(true), () => done(false))),
    },
    rawDtlsContender(args.port, 'raw node-dtls-client psk'),
  ];
  const [rxcoap, rawMeasured] = await measureInterleaved(contenders, { warmupMs: 300, windowMs: 800, windows: 5 });
  const suite = session?.suite();
  const times: number[] = [];
  let error: string | undefined;
  for (let run = 0; run <= HANDSHAKES && error === undefined; run++) {
    const t0 = performance.now();
    const fresh = pkiGetter(context, args.port);
    try {
      await fresh.get();
      if (run > 0) times.push(performance.now() - t0);
    } catch (failure) {
      error = (failure as Error).message;
    }
    fresh.release();
  }
  await context.free();
  return { rxcoap, raw: rawMeasured, handshakeMs: times.length > 0 ? median(times) : undefined, suite, error };
}

const CLIENT_RUNS = 15;

/**
 * Median wall times of `coap-client-openssl` runs, in ms, for each argument list, the lists run in turn (so drift
 * hits them alike); pinned to CPU 0 when taskset is there.
 */
function coapClientWalls(argLists: readonly (readonly string[])[]): number[] {
  const times: number[][] = argLists.map(() => []);
  const pinned = pinningAvailable();
  for (let run = 0; run <= CLIENT_RUNS; run++) {
    argLists.forEach((args, index) => {
      const t0 = performance.now();
      const result = pinned
        ? spawnSync('taskset', ['-c', '0', 'coap-client-openssl', ...args], { stdio: 'ignore', timeout: 10_000 })
        : spawnSync('coap-client-openssl', args, { stdio: 'ignore', timeout: 10_000 });
      if (result.status !== 0) throw new Error(`coap-client-openssl ${args.join(' ')} exited with ${result.status ?? result.signal}`);
      if (run > 0) times[index].push(performance.now() - t0);
    });
  }
  return times.map(median);
}

/** Parent side: two rows. */
export async function figureDtlsPki(): Promise<TableRow[]> {
  const handshakeFigure = 'DTLS-PKI new session + 1st GET';
  const getFigure = 'DTLS-PKI GET 1 outst. vs raw PSK';
  let server: RunningServer | undefined;
  try {
    server = await startLibcoapServer({ cpu: 0, pskKey: KEY, args: ['-c', path.join(FIXTURES, 'server.pem'), '-j', path.join(FIXTURES, 'server.key')] });
    const result = await runChild<DtlsPkiChildResult>('dtls-pki', { port: server.port + 1 } satisfies DtlsPkiChildArgs, 0, 120_000);
    const rows: TableRow[] = [];
    const [secure, plain] = coapClientWalls([['-C', PKI.pkiKey.caFile, `coaps://127.0.0.1:${server.port + 1}/`], [`coap://127.0.0.1:${server.port}/`]]);
    const theirs = secure - plain;
    if (result.handshakeMs === undefined) {
      rows.push({ figure: handshakeFigure, goal: '<= 1.5x', error: result.error ?? 'no handshake measured' });
    } else {
      rows.push({
        figure: handshakeFigure,
        ours: result.handshakeMs,
        theirs,
        unit: 'ms',
        ratio: result.handshakeMs / theirs,
        goal: '<= 1.5x',
        note: `rxcoap in-process, median of ${HANDSHAKES}; coap-client-openssl -C: wall ${secure.toFixed(1)} ms minus its coap:// run ${plain.toFixed(1)} ms (medians of ${CLIENT_RUNS}, interleaved)`,
      });
    }
    const { rxcoap, raw } = result;
    if (rxcoap.error !== undefined || raw.error !== undefined) {
      rows.push({ figure: getFigure, goal: '>= 0.85x', error: [rxcoap.error && `rxcoap: ${rxcoap.error}`, raw.error && `raw: ${raw.error}`].filter(Boolean).join('; ') });
    } else {
      rows.push({
        figure: getFigure,
        ours: rxcoap.rate,
        theirs: raw.rate,
        unit: 'req/s',
        ratio: rxcoap.rate / raw.rate,
        goal: '>= 0.85x',
        note: `rxcoap over ${result.suite ?? 'certificate DTLS'} vs raw node-dtls-client PSK (CCM_8 first), coap-server-openssl -c -j -k, CPU 0`,
      });
    }
    return rows;
  } catch (error) {
    return [{ figure: handshakeFigure, goal: '<= 1.5x', error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}
