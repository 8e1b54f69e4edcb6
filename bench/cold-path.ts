/**
 * Diagnostic (no goal of its own; issue 18's WS-against-libcoap figure at 1 outstanding): rxcoap's own work per
 * GET when the caches are cold, as they are in a client that sends a request every few dozen milliseconds or
 * more (libcoap 4.3.4's Nagle stall holds a WebSocket client to ~23 round trips a second; a sensor poll is rarer
 * still). At such rates V8 never optimizes the request path (it stays in its baseline tier) and every request
 * starts with caches and TLBs that other processes evicted, so a request costs many times what it costs in a
 * busy loop. The Nagle-bound figure is noisy (±5 % between runs); this one isolates what rxcoap can change.
 *
 * In a child pinned to CPU 0, a session over an in-memory `websocket`-framed transport (no sockets, no `ws`):
 * - cold: before each half of a GET (subscribe and send; the response delivered up to the subscriber's
 *   complete) a 32 MiB walk evicts the caches; each half is timed alone, the walk is not;
 * - warm: the same without the walk, in batches of their own (after the cold ones);
 * - the peer is rxjs alone, measured the same way: an Observable subclass subscribed, later next + complete.
 *   That part of a request no rxcoap design can drop (requests are Observables); the rest is rxcoap's.
 * Medians of 5 batches of 100 GETs, after 200 GETs of warm-up.
 */
import { Observable, type Subscriber } from 'rxjs';
import { CoapContext } from '../src/node';
import { FrameReceivers } from '../src/transport/frame-receivers';
import type { Transport } from '../src/transport/transport';
import { runChild } from './children';
import { median } from './measure';
import type { TableRow } from './table';

export interface ColdPathResult {
  readonly coldSend: number;
  readonly coldReceive: number;
  readonly warm: number;
  readonly rxjsCold: number;
  readonly answered: number;
  readonly requests: number;
}

const EVICT = new Uint8Array(32 << 20);
let evictSum = 0;

/** Touches one byte per cache line of 32 MiB (more than any cache here). */
function evict(): void {
  for (let i = 0; i < EVICT.length; i += 64) evictSum += EVICT[i]++;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const microseconds = (from: bigint, to: bigint): number => Number(to - from) / 1e3;

/** The server's CSM: Max-Message-Size 1152 (libcoap -X 1152), so a GET is sent as it is. */
const SERVER_CSM = Uint8Array.of(0x00, 0xe1, 0x22, 0x04, 0x80);

/** 2.05 with the request's token and a 2-byte payload, as one WebSocket message (RFC 8323 §4.2). */
function contentFor(request: Uint8Array): Uint8Array {
  const tokenLength = request[0] & 0x0f;
  const response = new Uint8Array(2 + tokenLength + 3);
  response[0] = tokenLength;
  response[1] = 0x45;
  response.set(request.subarray(2, 2 + tokenLength), 2);
  response.set([0xff, 0x68, 0x69], 2 + tokenLength);
  return response;
}

/** Child side. */
export async function coldPathChild(): Promise<ColdPathResult> {
  const receivers = new FrameReceivers(true);
  const remote = { host: '127.0.0.1', port: 80 };
  let sent: Uint8Array | undefined;
  const transport: Transport = {
    frames$: receivers.observable(),
    events$: new Observable<never>(),
    maxFrameOverhead: 0,
    reliable: true,
    framing: 'websocket',
    local: remote,
    remote,
    send: (frame) => (sent = frame.slice()),
  };
  const context = new CoapContext();
  const session = context.newClientSession({ server: 'coap+ws://127.0.0.1', transport: () => new Observable<Transport>((subscriber) => subscriber.next(transport)) });
  let answered = 0;
  const observer = { next: () => answered++ };
  const take = (): Uint8Array => {
    const frame = sent;
    sent = undefined;
    if (frame === undefined) throw new Error('cold-path: rxcoap sent nothing');
    return frame;
  };
  // Connect: our CSM, the server's, then the first GET goes out.
  session.get('/').subscribe(observer);
  await tick();
  take();
  receivers.deliver(SERVER_CSM);
  await tick();
  receivers.deliver(contentFor(take()));
  await tick();

  const oneGet = async (cold: boolean): Promise<[number, number]> => {
    if (cold) evict();
    const t0 = process.hrtime.bigint();
    session.get('/').subscribe(observer);
    const t1 = process.hrtime.bigint();
    const response = contentFor(take());
    await tick();
    if (cold) evict();
    const t2 = process.hrtime.bigint();
    receivers.deliver(response);
    const t3 = process.hrtime.bigint();
    await tick();
    return [microseconds(t0, t1), microseconds(t2, t3)];
  };
  for (let i = 0; i < 200; i++) await oneGet(false);
  const sendBatches: number[] = [];
  const receiveBatches: number[] = [];
  const warmBatches: number[] = [];
  let requests = 0;
  for (let batch = 0; batch < 5; batch++) {
    let send = 0;
    let receive = 0;
    for (let i = 0; i < 100; i++) {
      const [s, r] = await oneGet(true);
      send += s;
      receive += r;
    }
    sendBatches.push(send / 100);
    receiveBatches.push(receive / 100);
    requests += 100;
  }
  for (let batch = 0; batch < 5; batch++) {
    let warm = 0;
    for (let i = 0; i < 100; i++) {
      const [s, r] = await oneGet(false);
      warm += s + r;
    }
    warmBatches.push(warm / 100);
    requests += 100;
  }
  await context.free();
  return {
    coldSend: median(sendBatches),
    coldReceive: median(receiveBatches),
    warm: median(warmBatches),
    rxjsCold: await rxjsFloor(),
    answered: answered - 201, // less the connecting GET and the warm-up
    requests,
  };
}

/** rxjs alone, cold: subscribe an Observable subclass (its teardown an object), later next + complete. */
async function rxjsFloor(): Promise<number> {
  let held: Subscriber<number> | undefined;
  class Bare extends Observable<number> {
    constructor(readonly path: string) {
      super();
    }
    protected _subscribe(subscriber: Subscriber<number>): { unsubscribe(): void } {
      held = subscriber;
      return { unsubscribe: () => (evictSum += 1) };
    }
  }
  const observer = { next: () => (evictSum += 1) };
  const round = async (cold: boolean): Promise<number> => {
    if (cold) evict();
    const t0 = process.hrtime.bigint();
    new Bare('/').subscribe(observer);
    const t1 = process.hrtime.bigint();
    await tick();
    if (cold) evict();
    const t2 = process.hrtime.bigint();
    held!.next(1);
    held!.complete();
    const t3 = process.hrtime.bigint();
    await tick();
    return microseconds(t0, t1) + microseconds(t2, t3);
  };
  for (let i = 0; i < 200; i++) await round(false);
  const batches: number[] = [];
  for (let batch = 0; batch < 5; batch++) {
    let sum = 0;
    for (let i = 0; i < 100; i++) sum += await round(true);
    batches.push(sum / 100);
  }
  return median(batches);
}

/** The row. */
export async function figureColdPath(): Promise<TableRow[]> {
  const figure = 'Cold GET path, rxcoap own work vs rxjs alone (diagnostic)';
  try {
    const result = await runChild<ColdPathResult>('cold-path', {}, 0, 120_000);
    if (result.answered !== result.requests) return [{ figure, error: `${result.answered} of ${result.requests} GETs answered` }];
    const cold = result.coldSend + result.coldReceive;
    return [
      {
        figure,
        ours: cold,
        theirs: result.rxjsCold,
        unit: 'µs/GET',
        ratio: cold / result.rxjsCold,
        goal: 'none (issue 18)',
        note:
          `in-memory coap+ws transport, CPU 0, caches evicted (32 MiB walk) before each half of a GET: subscribe+send ${result.coldSend.toFixed(1)} µs, ` +
          `response to complete ${result.coldReceive.toFixed(1)} µs; warm (no eviction) ${result.warm.toFixed(1)} µs per GET; ` +
          `the peer is rxjs alone (an Observable subscribed, then next + complete, evicted alike): what no request Observable avoids`,
      },
    ];
  } catch (error) {
    return [{ figure, error: (error as Error).message }];
  }
}
