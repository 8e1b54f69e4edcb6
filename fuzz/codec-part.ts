/**
 * Part 1: the codec decoders on random bytes and on mutations of valid encodings. The codec is pure and total
 * (ARCHITECTURE.md): any input gives a value or a typed `CoapError`; anything else thrown is an untyped error,
 * printed with its input in hex. An input that takes longer than {@link SLOW_INPUT_MS} counts as hung.
 */
import { decodeBlock } from '../src/codec/block';
import { parseLinkFormat, linkContentFormats, linkInterfaces, linkResourceTypes } from '../src/codec/link-format';
import { findUnknownCritical, formatOptionValue, optionValueProblem, validateOptionValue } from '../src/codec/option-registry';
import { decodeString, decodeUint } from '../src/codec/option-values';
import { cborDiagnostic, decodeCbor, decodeJson, decodeText } from '../src/codec/payload';
import { SignalCode, type CoapOption } from '../src/codec/pdu';
import { decodeStreamFrame, encodeStreamFrame, StreamDeframer } from '../src/codec/stream-codec';
import { decodeDatagram, encodeDatagram } from '../src/codec/udp-codec';
import { optionsToUri, parseCoapUri, pathToOptions, queryToOptions } from '../src/codec/uri';
import { decodeWsMessage, encodeWsMessage } from '../src/codec/ws-codec';
import { datagramFraming, streamFraming, webSocketFraming } from '../src/testing/hostile-framing';
import { chance, mutateBytes, mutateResponse, pick, randomBytes, randomFrame, randomInt } from '../src/testing/mutate';
import { seededRandom, type RandomSource } from '../src/testing/seeded-random';
import { Deadline, type PartBudget } from './budget';
import { sampleHeap } from './heap';
import { randomCbor, randomLinkFormat, randomPdu, randomText, randomUri } from './codec-inputs';
import { describeError, hex, isTypedError, stackOf, type PartTally } from './tally';

/** A decoder call slower than this counts as a hung input (the codec is the hot path; 1 ms is already slow). */
const SLOW_INPUT_MS = 250;

const encoder = new TextEncoder();

/** One decoder target: makes an input, runs the decoders on it. */
interface Target {
  readonly name: string;
  readonly weight: number;
  /** Returns a description of the input (for a failure report) and the calls to make. */
  run(random: RandomSource, call: (what: string, input: Uint8Array | string, decode: () => unknown) => void): void;
}

function bytesOrText(input: Uint8Array | string): string {
  return typeof input === 'string' ? `text ${JSON.stringify(input.length > 300 ? input.slice(0, 300) + '...' : input)}` : `hex ${hex(input, 200)}`;
}

/** Splits bytes into 1..4 chunks at random offsets (streams arrive in pieces). */
function chunks(random: RandomSource, bytes: Uint8Array): Uint8Array[] {
  const cuts = new Set<number>();
  for (let count = randomInt(random, 0, 3); count > 0; count--) cuts.add(randomInt(random, 1, Math.max(1, bytes.length - 1)));
  const sorted = [...cuts].filter((cut) => cut > 0 && cut < bytes.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const cut of sorted) {
    out.push(bytes.slice(start, cut));
    start = cut;
  }
  out.push(bytes.slice(start));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const TARGETS: readonly Target[] = [
  {
    name: 'udp',
    weight: 30,
    run(random, call) {
      const input = chance(random, 0.3) ? randomFrame(random, 80) : mutateResponse(encodeDatagram(randomPdu(random)), undefined, random, datagramFraming).frame;
      call('decodeDatagram', input, () => decodeDatagram(input));
    },
  },
  {
    name: 'stream',
    weight: 20,
    run(random, call) {
      if (chance(random, 0.5)) {
        const input = chance(random, 0.3) ? randomFrame(random, 80) : mutateResponse(encodeStreamFrame(randomPdu(random)), undefined, random, streamFraming).frame;
        call('decodeStreamFrame', input, () => decodeStreamFrame(input));
        return;
      }
      // Several frames, some mutated, pushed in chunks into one deframer with a random size limit.
      const frames: Uint8Array[] = [];
      for (let count = randomInt(random, 1, 3); count > 0; count--) {
        const frame = encodeStreamFrame(randomPdu(random));
        frames.push(chance(random, 0.5) ? mutateResponse(frame, undefined, random, streamFraming).frame : frame);
      }
      const input = concat(frames);
      const maxMessageSize = pick(random, [64, 1152, 8192, 1 << 20]);
      call(`StreamDeframer(maxMessageSize ${maxMessageSize}).push`, input, () => {
        const deframer = new StreamDeframer({ maxMessageSize });
        for (const chunk of chunks(random, input)) deframer.push(chunk);
        return deframer.bufferedBytes;
      });
    },
  },
  {
    name: 'websocket',
    weight: 12,
    run(random, call) {
      const input = chance(random, 0.3) ? randomFrame(random, 80) : mutateResponse(encodeWsMessage(randomPdu(random)), undefined, random, webSocketFraming).frame;
      call('decodeWsMessage', input, () => decodeWsMessage(input));
    },
  },
  {
    name: 'block',
    weight: 5,
    run(random, call) {
      const input = randomBytes(random, randomInt(random, 0, 6));
      call('decodeBlock', input, () => decodeBlock(input));
    },
  },
  {
    name: 'option-values',
    weight: 8,
    run(random, call) {
      const number = chance(random, 0.7) ? pick(random, [1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 19, 20, 23, 27, 28, 31, 35, 39, 60, 252, 258, 292]) : randomInt(random, 0, 70000);
      const input = randomBytes(random, chance(random, 0.8) ? randomInt(random, 0, 9) : randomInt(random, 10, 1100));
      const signal = chance(random, 0.1) ? pick(random, [SignalCode.CSM, SignalCode.Ping, SignalCode.Release, SignalCode.Abort, 0x99]) : undefined;
      call(`option ${number} value decoders`, input, () => {
        decodeUint(input);
        decodeString(input);
        optionValueProblem(number, input, signal);
        formatOptionValue(number, input, signal);
        findUnknownCritical([{ number, value: input }], signal);
        validateOptionValue(number, input, signal);
      });
    },
  },
  {
    name: 'link-format',
    weight: 8,
    run(random, call) {
      const valid = randomLinkFormat(random);
      const input = chance(random, 0.2) ? randomText(random) : chance(random, 0.5) ? valid : new TextDecoder().decode(mutateBytes(encoder.encode(valid), random).frame);
      call('parseLinkFormat', input, () => {
        for (const link of parseLinkFormat(input)) {
          linkResourceTypes(link);
          linkInterfaces(link);
          linkContentFormats(link);
        }
      });
    },
  },
  {
    name: 'uri',
    weight: 10,
    run(random, call) {
      const valid = randomUri(random);
      const input = chance(random, 0.2) ? randomText(random) : chance(random, 0.5) ? valid : new TextDecoder().decode(mutateBytes(encoder.encode(valid), random).frame);
      call('parseCoapUri', input, () => {
        const uri = parseCoapUri(input);
        // Round trip: the options of a parsed URI compose a URI again.
        return optionsToUri({ scheme: uri.scheme, host: uri.host, port: uri.port, zoneId: uri.zoneId, options: uri.options });
      });
      const path = chance(random, 0.5) ? input : randomText(random, 40);
      call('pathToOptions / queryToOptions', path, () => {
        pathToOptions(path);
        queryToOptions(path);
      });
      const options: CoapOption[] = [];
      for (let count = randomInt(random, 0, 4); count > 0; count--) options.push({ number: pick(random, [3, 7, 11, 15]), value: randomBytes(random, randomInt(random, 0, 6)) });
      call('optionsToUri', concat(options.map((option) => option.value)), () => optionsToUri({ scheme: 'coap', host: pick(random, ['h', '::1', '']), options }));
    },
  },
  {
    name: 'payload',
    weight: 7,
    run(random, call) {
      const valid = randomCbor(random);
      const input = chance(random, 0.3) ? randomBytes(random, randomInt(random, 0, 40)) : chance(random, 0.3) ? valid : mutateBytes(valid, random).frame;
      call('decodeText / decodeJson / decodeCbor / cborDiagnostic', input, () => {
        for (const decode of [decodeText, decodeJson, decodeCbor, cborDiagnostic]) {
          try {
            decode(input);
          } catch (error) {
            if (!isTypedError(error)) throw error;
          }
        }
      });
    },
  },
];

const TOTAL_WEIGHT = TARGETS.reduce((sum, target) => sum + target.weight, 0);

function drawTarget(random: RandomSource): Target {
  let at = random() * TOTAL_WEIGHT;
  for (const target of TARGETS) if ((at -= target.weight) < 0) return target;
  return TARGETS[0];
}

/** Runs the codec part. */
export async function runCodecPart(tally: PartTally, seed: number, budget: PartBudget, verbose: boolean): Promise<void> {
  const deadline = new Deadline(budget);
  const random = seededRandom(seed);
  tally.heap.start = await sampleHeap();
  let input = 0;
  const call = (what: string, bytes: Uint8Array | string, decode: () => unknown): void => {
    tally.inputs++;
    const started = performance.now();
    try {
      decode();
    } catch (error) {
      if (!isTypedError(error)) tally.fail('untyped', describeError(error), `${what}(${bytesOrText(bytes)}) [codec input ${input}, seed ${seed}]`, stackOf(error));
      else tally.note(`error ${(error as { code: string }).code}`);
    }
    const took = performance.now() - started;
    if (took > SLOW_INPUT_MS) tally.fail('hung', `${what} took ${Math.round(took)} ms`, `${what}(${bytesOrText(bytes)})`);
  };
  while (!deadline.reached(tally.inputs)) {
    // Check the clock every 1,000 inputs only.
    for (let batch = 0; batch < 1000; batch++) {
      input++;
      const target = drawTarget(random);
      tally.note(`target ${target.name}`);
      target.run(random, call);
    }
    if (tally.heap.middle === undefined && deadline.halfway(tally.inputs)) tally.heap.middle = await sampleHeap();
    if (verbose && input % 100_000 === 0) console.log(`  codec: ${tally.inputs} inputs`);
  }
  tally.heap.end = await sampleHeap();
}
