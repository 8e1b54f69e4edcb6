/**
 * One cell of the loss matrix: a fresh lossy proxy (src/testing/lossy-proxy.ts) with the cell's impairment in one
 * direction, fresh client sessions through it, and per cell
 *
 * - CON requests, each carrying its own id that the server echoes back, run in NSTART lanes over several
 *   sessions: successes, typed failures, latency, and any response delivered twice or to the wrong request;
 * - observations, one resource each, updated in rounds by the server side: the application must see strictly
 *   increasing values (no duplicate, no older notification after a newer one) ending with the last one;
 * - block-wise transfers: a PUT of a body several blocks long (Block1), then a GET of it (Block2), compared.
 *
 *   requests:    client sessions ──► proxy A ──► target.requests  (test peer /echo, or libcoap -e PUT echo)
 *   data:        client sessions ──► proxy B ──► target.data      (/obs/k observable, /blob/k)
 *   updates:     control session ─────────────► target.data      (no loss: the server side changes state)
 *
 * Every wait is bounded: a request still running 20 s after it started is counted as hung (a bug, not a
 * documented failure), and the cell ends after its settle window whatever happens.
 */
import { randomBytes } from 'node:crypto';
import type { Observable, Subscription } from 'rxjs';
import { CoapContext, type ClientSession, type CoapResponse, type TransmissionParameters } from '../src/node';
import { startLossyProxy, type LossSpec, type LossyProxy } from '../src/testing';
import { Tally, errorName, quantile, sleep, waitUntil } from './measure';

/** What a cell does to the datagrams, in one direction. */
export interface CellSpec {
  /** `'loss 20 % c→s'` */
  readonly name: string;
  readonly toServer?: LossSpec;
  readonly toClient?: LossSpec;
  /** True when the cell drops datagrams: only then are timeouts (and stale observations) documented outcomes. */
  readonly lossy: boolean;
}

/** Sizes of a cell. */
export interface CellWorkload {
  readonly requests: number;
  readonly observations: number;
  /** Server-side updates per observation. */
  readonly updates: number;
  readonly blockTransfers: number;
  readonly blockBytes: number;
  /** Sessions for the requests, and for the observations and transfers. */
  readonly requestSessions: number;
  readonly dataSessions: number;
}

/** The server side a cell runs against. */
export interface MatrixTarget {
  /** `'test peer'`, `'libcoap 4.3.1'` */
  readonly name: string;
  /** Where request traffic goes. */
  readonly requests: { readonly host: string; readonly port: number };
  /** Where observations and block-wise transfers go. */
  readonly data: { readonly host: string; readonly port: number };
  /** The request with id `id`; its response body must be `String(id)`. */
  request(session: ClientSession, id: number): Observable<CoapResponse>;
  /** Sets observed resource `k` to `value` and notifies its observers; resolves once done. */
  update(k: number, value: number): Promise<void>;
  /** Longest time to wait, after the last update, for every observation to see the last value, in ms. */
  readonly settle: number;
  /** Failure names that are this server's own faults (shown, but not held against the client). */
  readonly serverFaults?: ReadonlySet<string>;
}

/** The outcome of one cell. */
export interface CellResult {
  readonly target: string;
  readonly cell: string;
  readonly lossy: boolean;
  readonly requests: number;
  readonly requestsOk: number;
  readonly requestFailures: Tally;
  readonly p50: number;
  readonly p99: number;
  readonly observations: number;
  readonly observationsOk: number;
  readonly observationFailures: Tally;
  readonly notificationsDelivered: number;
  readonly transfers: number;
  readonly transfersOk: number;
  readonly transferFailures: Tally;
  /** Responses delivered twice or to the wrong request, and notifications not newer than the one before. */
  readonly duplicatesDelivered: number;
  readonly retransmissions: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly seconds: number;
  /** Failures that are not documented outcomes of the cell (hung requests, corrupt bodies, any failure without loss). */
  readonly problems: string[];
  /** Failures that are the server's own faults (see {@link MatrixTarget.serverFaults}). */
  readonly serverFaults: string[];
}

/** A request that has not ended this long after its start is hung (the RFC schedule ends it within 5 s here). */
const HUNG_AFTER = 20_000;
/** Longest wait for observation registrations. */
const REGISTRATION_WAIT = 8_000;

/** A GET after a block-wise PUT returned only the tail of the body: the server stored the last block(s) alone. */
export const KEPT_LAST_BLOCK = 'server kept only the last block';

/** Failure names that loss explains: the RFC 7252 §4.2 schedule ran out. */
const DOCUMENTED_UNDER_LOSS = new Set(['CoapTimeoutError', 'stale']);

interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly latency: number;
  /** Values delivered after the first (must be 0), or a body that was not this request's. */
  readonly wrong: number;
}

/** Subscribes to `source`, expects exactly one response with body `expected`; bounded by HUNG_AFTER. */
function runOnce(source: Observable<CoapResponse>, expected: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let delivered = 0;
    let wrong = 0;
    let settled = false;
    let subscription: Subscription | undefined;
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      resolve(outcome);
    };
    const watchdog = setTimeout(() => {
      subscription?.unsubscribe();
      finish({ ok: false, error: 'hung', latency: performance.now() - started, wrong });
    }, HUNG_AFTER);
    subscription = source.subscribe({
      next: (response) => {
        delivered++;
        if (delivered > 1 || response.text() !== expected) wrong++;
      },
      error: (error: unknown) => finish({ ok: false, error: errorName(error), latency: performance.now() - started, wrong }),
      complete: () => finish({ ok: delivered === 1 && wrong === 0, error: delivered === 0 ? 'no response' : undefined, latency: performance.now() - started, wrong }),
    });
    if (settled) subscription.unsubscribe();
  });
}

/** One observation's record. */
interface Watched {
  readonly values: number[];
  error: string | undefined;
  subscription: Subscription | undefined;
  /** Notifications not newer than the one before (duplicates or misordered). */
  notFresher: number;
}

function watch(session: ClientSession, k: number): Watched {
  const watched: Watched = { values: [], error: undefined, subscription: undefined, notFresher: 0 };
  watched.subscription = session.observe(`/obs/${k}`).subscribe({
    next: (notification) => {
      const value = Number(notification.text());
      const last = watched.values.at(-1);
      if (last !== undefined && !(value > last)) watched.notFresher++;
      watched.values.push(value);
    },
    error: (error: unknown) => {
      watched.error = errorName(error);
    },
    complete: () => {
      watched.error ??= 'completed early';
    },
  });
  return watched;
}

/** A block-wise round trip: PUT the body, GET it back, compare. */
async function transfer(session: ClientSession, t: number, bytes: number): Promise<{ ok: boolean; error?: string }> {
  const body = new Uint8Array(randomBytes(bytes));
  const put = await runBlock(session.put(`/blob/${t}`, { payload: body, contentFormat: 'octet-stream' }));
  if (put.error !== undefined) return { ok: false, error: put.error };
  if (put.response === undefined || !put.response.ok) return { ok: false, error: `PUT ${put.response?.codeText ?? 'no response'}` };
  const get = await runBlock(session.get(`/blob/${t}`));
  if (get.error !== undefined) return { ok: false, error: get.error };
  const payload = get.response?.payload;
  if (payload === undefined || payload.length !== body.length || Buffer.compare(Buffer.from(payload), Buffer.from(body)) !== 0) {
    // The signature of a server that took a duplicate of the final Block1 for a new transfer starting there.
    const tail = payload !== undefined && payload.length > 0 && payload.length < body.length && Buffer.from(body).subarray(body.length - payload.length).equals(Buffer.from(payload));
    return { ok: false, error: tail ? KEPT_LAST_BLOCK : 'corrupt body' };
  }
  return { ok: true };
}

function runBlock(source: Observable<CoapResponse>): Promise<{ response?: CoapResponse; error?: string }> {
  return new Promise((resolve) => {
    let last: CoapResponse | undefined;
    let subscription: Subscription | undefined;
    let settled = false;
    const watchdog = setTimeout(() => {
      subscription?.unsubscribe();
      done({ error: 'hung' });
    }, 60_000);
    const done = (result: { response?: CoapResponse; error?: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      resolve(result);
    };
    subscription = source.subscribe({
      next: (response) => {
        last = response;
      },
      error: (error: unknown) => done({ error: errorName(error) }),
      complete: () => done({ response: last }),
    });
  });
}

/**
 * Runs one cell against `target`.
 * @param index - the cell's index (its seed, and the base of its observation values)
 */
export async function runCell(target: MatrixTarget, spec: CellSpec, workload: CellWorkload, transmission: Partial<TransmissionParameters>, index: number): Promise<CellResult> {
  const started = performance.now();
  const proxies: LossyProxy[] = [];
  const context = new CoapContext({ transmission });
  try {
    const loss = { toServer: spec.toServer, toClient: spec.toClient };
    const requestProxy = await startLossyProxy({ target: target.requests, seed: 1000 + index, ...loss });
    const dataProxy = await startLossyProxy({ target: target.data, seed: 2000 + index, ...loss });
    proxies.push(requestProxy, dataProxy);
    const requestSessions = Array.from({ length: workload.requestSessions }, () => context.newClientSession({ server: requestProxy.uri() }));
    const dataSessions = Array.from({ length: workload.dataSessions }, () => context.newClientSession({ server: dataProxy.uri() }));
    let retransmissions = 0;
    for (const session of [...requestSessions, ...dataSessions]) {
      session.events$.subscribe((event) => {
        if (event.type === 'retransmitted') retransmissions++;
      });
    }

    // Observations first: every one registered (or failed) before the server starts changing state.
    const watched = Array.from({ length: workload.observations }, (_, k) => watch(dataSessions[k % dataSessions.length], k));
    await waitUntil(() => watched.every((w) => w.values.length > 0 || w.error !== undefined), REGISTRATION_WAIT);

    // Requests, transfers and server-side updates, all at once.
    const nstart = transmission.nstart ?? 1;
    let nextId = index * 1_000_000;
    const lastId = nextId + workload.requests;
    const outcomes: Outcome[] = [];
    const lane = async (session: ClientSession): Promise<void> => {
      while (nextId < lastId) {
        const id = nextId++;
        outcomes.push(await runOnce(target.request(session, id), String(id)));
      }
    };
    const lanes = requestSessions.flatMap((session) => Array.from({ length: nstart }, () => lane(session)));
    const transfers = Array.from({ length: workload.blockTransfers }, (_, t) => transfer(dataSessions[t % dataSessions.length], t, workload.blockBytes));
    const base = (index + 1) * 1000;
    const updating = (async () => {
      for (let round = 1; round <= workload.updates; round++) {
        await Promise.all(watched.map((_, k) => target.update(k, base + round)));
        await sleep(25);
      }
    })();
    const [transferResults] = await Promise.all([Promise.all(transfers), Promise.all(lanes), updating]);

    const final = base + workload.updates;
    const registered = (w: Watched): boolean => w.error === undefined && w.values.length > 0;
    await waitUntil(() => watched.every((w) => !registered(w) || w.values.at(-1) === final), target.settle);

    const requestFailures = new Tally();
    const latencies: number[] = [];
    let duplicatesDelivered = 0;
    for (const outcome of outcomes) {
      duplicatesDelivered += outcome.wrong;
      if (outcome.ok) latencies.push(outcome.latency);
      else requestFailures.add(outcome.error ?? (outcome.wrong > 0 ? 'wrong response' : 'unknown'));
    }
    const observationFailures = new Tally();
    let observationsOk = 0;
    let notificationsDelivered = 0;
    for (const w of watched) {
      duplicatesDelivered += w.notFresher;
      notificationsDelivered += Math.max(0, w.values.length - 1);
      if (w.error !== undefined) observationFailures.add(w.error);
      else if (w.values.length === 0) observationFailures.add('not registered');
      else if (w.values.at(-1) !== final) observationFailures.add('stale');
      else if (w.notFresher > 0) observationFailures.add('misordered');
      else observationsOk++;
      w.subscription?.unsubscribe();
    }
    const transferFailures = new Tally();
    let transfersOk = 0;
    for (const result of transferResults) {
      if (result.ok) transfersOk++;
      else transferFailures.add(result.error ?? 'unknown');
    }

    const problems: string[] = [];
    const serverFaults: string[] = [];
    for (const [what, tally] of [
      ['requests', requestFailures],
      ['observations', observationFailures],
      ['transfers', transferFailures],
    ] as const) {
      for (const name of tally.names()) {
        if (target.serverFaults?.has(name)) serverFaults.push(`${what}: ${name}`);
        else if (!spec.lossy || !DOCUMENTED_UNDER_LOSS.has(name)) problems.push(`${what}: ${name}`);
      }
    }
    if (duplicatesDelivered > 0) problems.push(`${duplicatesDelivered} duplicates delivered`);

    const stats = { toServer: requestProxy.stats.toServer, toClient: requestProxy.stats.toClient };
    const data = { toServer: dataProxy.stats.toServer, toClient: dataProxy.stats.toClient };
    const sum = (key: 'dropped' | 'duplicated' | 'reordered'): number => stats.toServer[key] + stats.toClient[key] + data.toServer[key] + data.toClient[key];
    for (const session of [...requestSessions, ...dataSessions]) session.release();
    return {
      target: target.name,
      cell: spec.name,
      lossy: spec.lossy,
      requests: workload.requests,
      requestsOk: latencies.length,
      requestFailures,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      observations: workload.observations,
      observationsOk,
      observationFailures,
      notificationsDelivered,
      transfers: workload.blockTransfers,
      transfersOk,
      transferFailures,
      duplicatesDelivered,
      retransmissions,
      dropped: sum('dropped'),
      duplicated: sum('duplicated'),
      reordered: sum('reordered'),
      seconds: (performance.now() - started) / 1000,
      problems,
      serverFaults,
    };
  } finally {
    await context.free();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  }
}

/** The cells: no impairment, then loss, duplication and reordering at 5, 20 and 50 %, each way. */
export function matrixCells(rates: readonly number[] = [0.05, 0.2, 0.5]): CellSpec[] {
  const cells: CellSpec[] = [{ name: 'none', lossy: false }];
  const kinds: Array<{ label: string; spec: (rate: number) => LossSpec; lossy: boolean }> = [
    { label: 'loss', spec: (rate) => ({ drop: rate }), lossy: true },
    { label: 'duplication', spec: (rate) => ({ duplicate: rate }), lossy: false },
    { label: 'reordering', spec: (rate) => ({ reorder: rate, reorderTimeout: 20 }), lossy: false },
  ];
  for (const kind of kinds) {
    for (const rate of rates) {
      const percent = `${Math.round(rate * 100)} %`;
      cells.push({ name: `${kind.label} ${percent} c→s`, toServer: kind.spec(rate), lossy: kind.lossy });
      cells.push({ name: `${kind.label} ${percent} s→c`, toClient: kind.spec(rate), lossy: kind.lossy });
    }
  }
  return cells;
}
