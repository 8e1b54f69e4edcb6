/**
 * Figure 5: Observe (RFC 7641), notifications delivered per client CPU-second, rxcoap `session.observe()` vs a
 * raw dgram client that parses each notification (type, MID, token, Observe option) and ACKs the CON ones.
 * The notifier (bench/peers/notifier.ts, CPU 1) sends N notifications per registration, NON with a CON every 64th,
 * at most 128 ahead of the last acknowledged CON: the client (CPU 0) sets the pace. Each window is one
 * registration of N = 25,000 notifications; the figure is the median of delivered / (client CPU seconds).
 * Lost = N − delivered, misordered = notifications whose Observe value is not above the previous one.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Observable } from 'rxjs';
import { CoapContext, type ClientSession, type CoapResponse } from '../src/node';
import { runChild } from './children';
import { startNodePeer, type RunningServer } from './libcoap-server';
import { measureInterleaved, withTimeout, type Contender, type Measured } from './measure';
import { encodeMessage, Opt, pathOptions, readUint, walkOptions } from './peers/raw-dgram';
import { BENCH_TRANSMISSION } from './rxcoap-contender';
import type { TableRow } from './table';

/** Notifications per window. */
const PER_WINDOW = 25_000;

export interface ObserveChildArgs {
  readonly port: number;
}

interface Tally {
  delivered: number;
  lost: number;
  misordered: number;
}

export interface ObserveChildResult {
  readonly rxcoap: Measured & Tally;
  readonly raw: Measured & Tally;
}

type Observing = ClientSession & { observe?(path: string, init?: unknown): Observable<CoapResponse> };

function observeValue(response: CoapResponse): number {
  const option = response.options.find((o) => o.number === Opt.Observe);
  return option === undefined ? -1 : readUint(option.value, 0, option.value.length);
}

function rxcoapObserver(port: number, tally: Tally): Contender {
  let context: CoapContext | undefined;
  let session: Observing | undefined;
  return {
    name: 'rxcoap',
    async setup() {
      context = new CoapContext({ transmission: BENCH_TRANSMISSION });
      session = context.newClientSession({ server: `coap://127.0.0.1:${port}` }) as Observing;
      if (typeof session.observe !== 'function') throw new Error('session.observe() is not available yet');
    },
    window(ms) {
      const count = ms < 500 ? 5000 : PER_WINDOW;
      return new Promise<number>((resolve, reject) => {
        let delivered = 0;
        let last = 0;
        let misordered = 0;
        const finish = (): void => {
          clearTimeout(timer);
          subscription.unsubscribe();
          tally.delivered += delivered;
          tally.lost += count - delivered;
          tally.misordered += misordered;
          resolve(delivered);
        };
        const timer = setTimeout(finish, 10_000);
        const subscription = session!.observe!(`/stream/${count}`).subscribe({
          next: (response) => {
            const seq = observeValue(response);
            if (seq === 0) return; // the registration response
            delivered++;
            if (seq <= last) misordered++;
            last = seq;
            if (seq === count) setImmediate(finish);
          },
          error: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
      });
    },
    async teardown() {
      await context?.free();
    },
  };
}

function rawObserver(port: number, tally: Tally): Contender {
  let socket: Socket | undefined;
  let tokenCounter = 1;
  return {
    name: 'raw dgram',
    async setup() {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = createSocket('udp4');
        s.once('error', reject);
        s.bind(0, '127.0.0.1', () => s.connect(port, '127.0.0.1', () => resolve(s)));
      });
    },
    window(ms) {
      const count = ms < 500 ? 5000 : PER_WINDOW;
      const sock = socket!;
      const token = Buffer.alloc(8);
      token.writeUInt32BE(tokenCounter++, 4);
      return new Promise<number>((resolve) => {
        let delivered = 0;
        let last = 0;
        let misordered = 0;
        const ack = Buffer.of(0x60, 0, 0, 0);
        const onMessage = (msg: Buffer): void => {
          if (msg.length < 12 || msg[1] !== 0x45 || (msg[0] & 0x0f) !== 8 || msg.compare(token, 0, 8, 4, 12) !== 0) return;
          const type = (msg[0] >> 4) & 3;
          if (type === 0) {
            ack[2] = msg[2];
            ack[3] = msg[3];
            sock.send(ack);
          }
          let seq = -1;
          walkOptions(msg, (number, start, end) => {
            if (number === Opt.Observe) seq = readUint(msg, start, end);
          });
          if (seq <= 0) return;
          delivered++;
          if (seq <= last) misordered++;
          last = seq;
          if (seq === count) setImmediate(finish);
        };
        const finish = (): void => {
          clearTimeout(timer);
          sock.off('message', onMessage);
          // Deregister (RFC 7641 §3.6) so the notifier stops.
          sock.send(encodeMessage(1, 1, tokenCounter & 0xffff, token, [[Opt.Observe, Uint8Array.of(1)], ...pathOptions(`/stream/${count}`)]));
          tally.delivered += delivered;
          tally.lost += count - delivered;
          tally.misordered += misordered;
          resolve(delivered);
        };
        const timer = setTimeout(finish, 10_000);
        sock.on('message', onMessage);
        sock.send(encodeMessage(0, 1, tokenCounter & 0xffff, token, [[Opt.Observe, new Uint8Array(0)], ...pathOptions(`/stream/${count}`)]));
      });
    },
    async teardown() {
      socket?.close();
    },
  };
}

/** Child side. */
export async function observeChild(args: ObserveChildArgs): Promise<ObserveChildResult> {
  const rxTally: Tally = { delivered: 0, lost: 0, misordered: 0 };
  const rawTally: Tally = { delivered: 0, lost: 0, misordered: 0 };
  const [rxcoap, raw] = await withTimeout(
    measureInterleaved([rxcoapObserver(args.port, rxTally), rawObserver(args.port, rawTally)], { warmupMs: 300, windowMs: 1000, windows: 5, perCpuSecond: true }),
    100_000,
    'observe',
  );
  return { rxcoap: { ...rxcoap, ...rxTally }, raw: { ...raw, ...rawTally } };
}

/** Figure 5 (parent side). */
export async function figureObserve(): Promise<TableRow[]> {
  const figure = 'Observe NON notif./client CPU-s';
  const goal = '>= 0.9x';
  let server: RunningServer | undefined;
  try {
    server = await startNodePeer(1, 'notifier');
    const result = await runChild<ObserveChildResult>('observe', { port: server.port } satisfies ObserveChildArgs, 0, 120_000);
    const { rxcoap, raw } = result;
    if (rxcoap.error !== undefined || raw.error !== undefined) {
      return [{ figure, goal, error: [rxcoap.error && `rxcoap: ${rxcoap.error}`, raw.error && `raw: ${raw.error}`].filter(Boolean).join('; ') }];
    }
    const ratio = rxcoap.rate / raw.rate;
    const clean = rxcoap.lost === 0 && rxcoap.misordered === 0;
    return [
      {
        figure,
        ours: rxcoap.rate,
        theirs: raw.rate,
        unit: 'notif/s',
        ratio,
        goal: `${goal}, 0 lost/misordered`,
        met: ratio >= 0.9 && clean,
        note: `client CPU 0, notifier CPU 1 (NON, CON every 64th, window 128); rxcoap delivered ${rxcoap.delivered}, lost ${rxcoap.lost}, misordered ${rxcoap.misordered}; raw delivered ${raw.delivered}, lost ${raw.lost}, misordered ${raw.misordered}`,
      },
    ];
  } catch (error) {
    return [{ figure, goal, error: (error as Error).message }];
  } finally {
    await server?.stop();
  }
}
