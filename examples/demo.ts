/**
 * `npm run demo`: rxcoap end to end, with nothing outside this repository.
 *
 * 1. starts the embedded test peer (`rxcoap/testing`) on a free loopback port, serving a simulated sensor
 *    (`/sensors/temperature`, observable, SenML+CBOR, a new value every 250 ms), a 300 KiB `/firmware` with
 *    its SHA-256 at `/firmware/sha256`, and `/.well-known/core`;
 * 2. then, with the library only: discovers the resources, observes the temperature for three seconds, and
 *    downloads `/firmware` block by block (a progress bar when stderr is a terminal), checking its SHA-256.
 *
 * Exits 0 by itself (1 if anything is off), well within 20 s.
 */
import { createHash } from 'node:crypto';
import { SingleBar } from 'cli-progress';
import { firstValueFrom, lastValueFrom, map, reduce, takeUntil, tap, timer, toArray, type Observable } from 'rxjs';
import {
  CoapContext,
  ContentFormat,
  cborPayload,
  contentFormatName,
  linkContentFormats,
  linkResourceTypes,
  parseLinkFormat,
  type CoapResponse,
} from '../src/node';
import { startTestPeer } from '../src/testing/test-peer';
import { readTemperature } from './temperature-service';

const FIRMWARE_SIZE = 300 * 1024;
const NOTIFY_EVERY = 250;
const OBSERVE_FOR = 3000;
const DEADLINE = 20_000;

/** Deterministic pseudo-random bytes (xorshift32), so every run serves the same image. */
function firmwareImage(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The simulated sensor: a slow sine around 21 °C, one step per notification interval. */
function temperatureAt(step: number): number {
  return Math.round((21 + 1.5 * Math.sin(step / 4) + 0.1 * Math.sin(step * 1.7)) * 100) / 100;
}

/** A SenML+CBOR pack (RFC 8428 §6: integer labels, bn = -2, n = 0, u = 1, v = 2, t = 6). */
function senmlTemperature(celsius: number, time: number): Uint8Array {
  return cborPayload([
    new Map<number, unknown>([
      [-2, 'urn:dev:demo:'],
      [0, 'temperature'],
      [1, 'Cel'],
      [2, celsius],
      [6, time],
    ]),
  ]);
}

/**
 * Joins the parts of a block-wise body (block mode without `singleBody`: each block is emitted with its
 * progress) into one, calling `onPart` for each.
 */
function wholeBody(onPart: (response: CoapResponse) => void = () => undefined) {
  return (parts$: Observable<CoapResponse>): Observable<{ last: CoapResponse; body: Uint8Array }> =>
    parts$.pipe(
      tap(onPart),
      reduce(
        (acc, part) => {
          if (part.progress === undefined || part.progress.offset === 0) acc.chunks = [];
          acc.chunks.push(part.payload);
          acc.last = part;
          return acc;
        },
        { chunks: [] as Uint8Array[], last: undefined as CoapResponse | undefined },
      ),
      map(({ chunks, last }) => {
        if (last === undefined) throw new Error('no response');
        return { last, body: new Uint8Array(Buffer.concat(chunks)) };
      }),
    );
}

async function main(): Promise<number> {
  const started = Date.now();
  const firmware = firmwareImage(FIRMWARE_SIZE, 0xc0a9);
  const peer = await startTestPeer({
    resources: [
      {
        path: '/sensors/temperature',
        contentFormat: ContentFormat.SenmlCbor,
        observable: true,
        notifyEvery: NOTIFY_EVERY,
        linkAttributes: { rt: 'temperature-c', if: 'sensor' },
        get: () => {
          const step = Math.floor((Date.now() - started) / NOTIFY_EVERY);
          return senmlTemperature(temperatureAt(step), Math.floor(Date.now() / 1000));
        },
      },
      { path: '/firmware', contentFormat: ContentFormat.OctetStream, linkAttributes: { rt: 'firmware', sz: String(firmware.length) }, get: firmware },
      { path: '/firmware/sha256', contentFormat: ContentFormat.TextPlain, get: sha256(firmware) },
    ],
  });
  console.log(`test peer listening on ${peer.uri('/')}\n`);

  // Parts, not one body, so the download can show progress; small responses come in one part anyway.
  const ctx = new CoapContext({ blockMode: { singleBody: false } });
  const session = ctx.newClientSession({ server: peer.uri('/').replace(/\/$/, '') });
  let ok = true;
  try {
    // 1. Discovery (RFC 6690).
    const { body: core } = await firstValueFrom(session.get('/.well-known/core').pipe(wholeBody()));
    const links = parseLinkFormat(new TextDecoder().decode(core));
    console.log(`GET /.well-known/core: ${links.length} resources`);
    for (const link of links) {
      const formats = linkContentFormats(link).map((format) => contentFormatName(format) ?? String(format));
      const flags = [linkResourceTypes(link).join(' '), link.attributes.obs === true ? 'observable' : '', formats.join(', ')].filter((text) => text !== '');
      console.log(`  ${link.target.padEnd(22)} ${flags.join('  |  ')}`);
    }

    // 2. Observe the sensor for a few seconds (RFC 7641); unsubscribing deregisters.
    console.log(`\nobserving /sensors/temperature for ${OBSERVE_FOR / 1000} s:`);
    const readings = await lastValueFrom(
      session.observe('/sensors/temperature').pipe(
        takeUntil(timer(OBSERVE_FOR)),
        map(readTemperature),
        tap((reading) => console.log(`  ${reading.celsius.toFixed(2)} °C   (notification ${reading.sequence ?? '-'})`)),
        toArray(),
      ),
    );
    if (readings.length < 3) {
      console.error(`expected several notifications, got ${readings.length}`);
      ok = false;
    }

    // 3. Block-wise download (RFC 7959) with a progress bar on a terminal, then the integrity check.
    console.log(`\ndownloading /firmware (${firmware.length} bytes) block by block...`);
    const bar = process.stderr.isTTY ? new SingleBar({ format: '  [{bar}] {percentage}% | {value}/{total} bytes', barsize: 30, hideCursor: true }) : undefined;
    const downloadStart = Date.now();
    const { body: image, last } = await lastValueFrom(
      session.get('/firmware').pipe(
        wholeBody((part) => {
          if (bar === undefined || part.progress === undefined) return;
          if (part.progress.offset === 0) bar.start(part.progress.total ?? firmware.length, 0);
          bar.update(part.progress.received);
        }),
      ),
    );
    bar?.stop();
    const blocks = last.block2 === undefined ? 1 : last.block2.num + 1;
    console.log(`  ${image.length} bytes in ${blocks} blocks, ${Date.now() - downloadStart} ms`);
    const { body: expectedText } = await firstValueFrom(session.get('/firmware/sha256').pipe(wholeBody()));
    const expected = new TextDecoder().decode(expectedText).trim();
    const actual = sha256(image);
    if (actual === expected) {
      console.log(`  SHA-256 ${actual} matches the peer's`);
    } else {
      console.error(`  SHA-256 mismatch: got ${actual}, the peer has ${expected}`);
      ok = false;
    }
  } finally {
    await ctx.free();
    await peer.close();
  }
  console.log(`\n${ok ? 'demo complete' : 'demo FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return ok ? 0 : 1;
}

// The demo must end by itself: a watchdog that does not keep the process alive.
setTimeout(() => {
  console.error(`demo did not finish within ${DEADLINE / 1000} s`);
  process.exit(1);
}, DEADLINE).unref();

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    console.error('demo failed:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
