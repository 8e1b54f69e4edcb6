/**
 * Codec benchmark: encode and decode operations per second, rxcoap's UDP codec against the
 * `coap-packet` package's `generate`/`parse`, on three messages:
 *   - a small GET (8-byte token, two Uri-Path options),
 *   - a 2.05 Content with 8 options and a 512-byte payload,
 *   - a Block2 2.05 with a 1024-byte payload.
 * Each figure is the median of several short windows after a warm-up (ARCHITECTURE.md: ratios only).
 * Goals (ARCHITECTURE.md): decode >= 1x `parse` while validating fully; encode >= 3x `generate`.
 *
 * Run: `npm run build && node dist/bench/codec.js`.
 */
import type { BenchRow } from './bench-row';
import { decodeDatagram, encodeDatagram } from '../src/codec/udp-codec';
import { createPdu, Method, MessageType, ResponseCode, type CoapPdu } from '../src/codec/pdu';
import { OptionNumber } from '../src/codec/option-numbers';
import { encodeString, encodeUint } from '../src/codec/option-values';
import { encodeBlock } from '../src/codec/block';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const coapPacket = require('coap-packet') as {
  parse(buffer: Buffer): unknown;
  generate(packet: unknown, maxLength?: number): Buffer;
};

interface Case {
  name: string;
  pdu: CoapPdu;
  /** A fresh coap-packet packet object (generate mutates and sorts its input). */
  packet(): unknown;
}

const token = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const payload512 = new Uint8Array(512).fill(0x61);
const payload1024 = new Uint8Array(1024).fill(0x62);
const etag = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);

const cases: Case[] = [
  {
    name: 'small GET',
    pdu: createPdu({
      type: MessageType.CON,
      code: Method.GET,
      messageId: 0x1234,
      token,
      options: [
        { number: OptionNumber.UriPath, value: encodeString('sensors') },
        { number: OptionNumber.UriPath, value: encodeString('temperature') },
      ],
    }),
    packet: () => ({
      confirmable: true,
      code: '0.01',
      messageId: 0x1234,
      token: Buffer.from(token),
      options: [
        { name: 'Uri-Path', value: Buffer.from('sensors') },
        { name: 'Uri-Path', value: Buffer.from('temperature') },
      ],
    }),
  },
  {
    name: '2.05 + 8 options + 512 B',
    pdu: createPdu({
      type: MessageType.ACK,
      code: ResponseCode.Content,
      messageId: 0x1234,
      token,
      options: [
        { number: OptionNumber.ETag, value: etag },
        { number: OptionNumber.Observe, value: encodeUint(4711) },
        { number: OptionNumber.LocationPath, value: encodeString('a') },
        { number: OptionNumber.LocationPath, value: encodeString('b') },
        { number: OptionNumber.ContentFormat, value: encodeUint(50) },
        { number: OptionNumber.MaxAge, value: encodeUint(3600) },
        { number: OptionNumber.LocationQuery, value: encodeString('x=1') },
        { number: OptionNumber.Size2, value: encodeUint(512) },
      ],
      payload: payload512,
    }),
    packet: () => ({
      ack: true,
      code: '2.05',
      messageId: 0x1234,
      token: Buffer.from(token),
      options: [
        { name: 'ETag', value: Buffer.from(etag) },
        { name: 'Observe', value: Buffer.from(encodeUint(4711)) },
        { name: 'Location-Path', value: Buffer.from('a') },
        { name: 'Location-Path', value: Buffer.from('b') },
        { name: 'Content-Format', value: Buffer.from(encodeUint(50)) },
        { name: 'Max-Age', value: Buffer.from(encodeUint(3600)) },
        { name: 'Location-Query', value: Buffer.from('x=1') },
        { name: 'Size2', value: Buffer.from(encodeUint(512)) },
      ],
      payload: Buffer.from(payload512),
    }),
  },
  {
    name: 'Block2 2.05 + 1024 B',
    pdu: createPdu({
      type: MessageType.ACK,
      code: ResponseCode.Content,
      messageId: 0x1234,
      token,
      options: [
        { number: OptionNumber.ETag, value: etag },
        { number: OptionNumber.ContentFormat, value: encodeUint(42) },
        { number: OptionNumber.Block2, value: encodeBlock({ num: 5, more: true, szx: 6 }) },
        { number: OptionNumber.Size2, value: encodeUint(1048576) },
      ],
      payload: payload1024,
    }),
    packet: () => ({
      ack: true,
      code: '2.05',
      messageId: 0x1234,
      token: Buffer.from(token),
      options: [
        { name: 'ETag', value: Buffer.from(etag) },
        { name: 'Content-Format', value: Buffer.from(encodeUint(42)) },
        { name: 'Block2', value: Buffer.from(encodeBlock({ num: 5, more: true, szx: 6 })) },
        { name: 'Size2', value: Buffer.from(encodeUint(1048576)) },
      ],
      payload: Buffer.from(payload1024),
    }),
  },
];

const WINDOWS = 7;
const WINDOW_MS = 200;
const WARMUP_MS = 300;

/** Sink that keeps results alive so the JIT cannot drop the work. */
let sink = 0;

/** Operations per second of `work` (called in batches), median of several windows. */
function measure(work: () => number): number {
  const batch = 256;
  const run = (ms: number): number => {
    const start = process.hrtime.bigint();
    const limit = BigInt(ms) * 1_000_000n;
    let ops = 0;
    let elapsed = 0n;
    do {
      for (let i = 0; i < batch; i++) sink += work();
      ops += batch;
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < limit);
    return ops / (Number(elapsed) / 1e9);
  };
  run(WARMUP_MS);
  const rates: number[] = [];
  for (let i = 0; i < WINDOWS; i++) rates.push(run(WINDOW_MS));
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

/** Measures every figure and returns the table rows. */
export async function runCodecBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const testCase of cases) {
    const ours = encodeDatagram(testCase.pdu);
    const theirs = coapPacket.generate(testCase.packet());
    // Both sides decode what a socket delivers: a Buffer.
    const oursBuffer = Buffer.from(ours);
    const theirsBuffer = Buffer.from(theirs);
    const pdu = testCase.pdu;
    // coap-packet's generate sorts (mutates) its input, so each call gets a fresh packet object, as a
    // caller building a message would; building our PDU is likewise included via createPdu.
    const encodeOurs = measure(() => encodeDatagram(createPdu(pdu)).length);
    const encodeTheirs = measure(() => coapPacket.generate(testCase.packet()).length);
    rows.push(row(`encode: ${testCase.name}`, encodeOurs, encodeTheirs, '>= 3x'));
    const decodeOurs = measure(() => decodeDatagram(oursBuffer).options.length);
    const decodeTheirs = measure(() => ((coapPacket.parse(theirsBuffer) as { options: unknown[] }).options.length));
    rows.push(row(`decode: ${testCase.name}`, decodeOurs, decodeTheirs, '>= 1x'));
  }
  return rows;
}

function row(figure: string, ours: number, theirs: number, goal: string): BenchRow {
  return { figure, ours: Math.round(ours), theirs: Math.round(theirs), unit: 'ops/s', ratio: Math.round((ours / theirs) * 100) / 100, goal };
}

/** Prints rows as an aligned table. */
export function formatBenchTable(rows: readonly BenchRow[]): string {
  const header = ['figure', 'ours', 'theirs (coap-packet)', 'unit', 'ratio', 'goal'];
  const lines = [header, ...rows.map((r) => [r.figure, r.ours.toLocaleString('en-US'), r.theirs.toLocaleString('en-US'), r.unit, `${r.ratio.toFixed(2)}x`, r.goal])];
  const widths = header.map((_, i) => Math.max(...lines.map((line) => line[i].length)));
  return lines.map((line) => line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
}

if (require.main === module) {
  runCodecBench().then(
    (rows) => {
      console.log(formatBenchTable(rows));
      if (sink === -1) console.log(sink);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
