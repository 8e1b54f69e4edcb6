/**
 * The hostile peer's mutation engine: turns a real response into a broken one, drawn from a seeded random
 * source so a run replays. Byte-level mutations (bit flips, truncation, junk) find what nobody thought of;
 * structure-aware ones (a Block2 option of 4 bytes, a TKL that lies, an unknown critical option, a token of
 * another exchange) reach the layers above the decoder, which byte noise almost never gets past.
 *
 * Framing-agnostic: the header is written by a {@link HostileFraming}, so TCP, TLS and WebSocket peers reuse
 * every mutation with their own framing. Test kit only.
 */
import { OptionNumber } from '../codec/option-numbers';
import { MessageType, type CoapPdu } from '../codec/pdu';
import { datagramFraming, rawFromPdu, writeRawBody, type HostileFraming, type RawMessage, type RawOption } from './hostile-framing';
import type { RandomSource } from './seeded-random';

/** The mutations, by name (counted in the hostile peer's stats and printed with an offending input). */
export const MUTATION_KINDS = [
  // bytes
  'bit-flip',
  'byte-set',
  'truncate',
  'extend',
  'insert',
  'delete',
  'oversize',
  // header
  'type',
  'code',
  'message-id',
  'token',
  'token-length-reserved',
  'token-length-lie',
  'extended-token',
  'version',
  'empty-with-body',
  // options
  'block2-long',
  'block2-bad',
  'block1-bad',
  'observe-long',
  'observe-bad',
  'size-huge',
  'unknown-critical',
  'unknown-elective',
  'reserved-delta',
  'reserved-length',
  'option-number-overflow',
  'option-truncated',
  'repeated-option',
  'option-value-garbage',
  'etag',
  'content-format-bad',
  'max-age-bad',
  'echo-bad',
  // payload
  'empty-payload-marker',
  'payload-garbage',
  // two at once
  'stacked',
] as const;

/** One of {@link MUTATION_KINDS}. */
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** A mutated frame and what was done to it. */
export interface Mutation {
  readonly kind: MutationKind;
  readonly frame: Uint8Array;
}

/** An integer in [min, max]. */
export function randomInt(random: RandomSource, min: number, max: number): number {
  return max <= min ? min : min + Math.floor(random() * (max - min + 1));
}

/** True with probability `p`. */
export function chance(random: RandomSource, p: number): boolean {
  return random() < p;
}

/** One element of a non-empty list. */
export function pick<T>(random: RandomSource, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** `length` random bytes. */
export function randomBytes(random: RandomSource, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** A big-endian value of exactly `length` bytes. */
function fixedUint(value: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return bytes;
}

/**
 * Weights of the mutations: byte noise is cheap and broad, the structural ones are what reach the exchange
 * layer (a Block2 option of 4 bytes crashed the process once, issue 16 finding 1), so they weigh more.
 */
const WEIGHTS: Readonly<Record<MutationKind, number>> = {
  'bit-flip': 6,
  'byte-set': 3,
  truncate: 4,
  extend: 2,
  insert: 2,
  delete: 2,
  oversize: 1,
  type: 3,
  code: 4,
  'message-id': 3,
  token: 5,
  'token-length-reserved': 2,
  'token-length-lie': 2,
  'extended-token': 2,
  version: 1,
  'empty-with-body': 1,
  'block2-long': 4,
  'block2-bad': 5,
  'block1-bad': 3,
  'observe-long': 3,
  'observe-bad': 4,
  'size-huge': 3,
  'unknown-critical': 3,
  'unknown-elective': 2,
  'reserved-delta': 2,
  'reserved-length': 2,
  'option-number-overflow': 1,
  'option-truncated': 2,
  'repeated-option': 3,
  'option-value-garbage': 4,
  etag: 3,
  'content-format-bad': 2,
  'max-age-bad': 2,
  'echo-bad': 2,
  'empty-payload-marker': 1,
  'payload-garbage': 3,
  stacked: 3,
};

const CUMULATIVE: readonly [number, MutationKind][] = (() => {
  let total = 0;
  return MUTATION_KINDS.map((kind) => [(total += WEIGHTS[kind]), kind] as [number, MutationKind]);
})();
const TOTAL_WEIGHT = CUMULATIVE[CUMULATIVE.length - 1][0];

/** Draws a mutation kind by weight. */
export function drawMutationKind(random: RandomSource): MutationKind {
  const at = random() * TOTAL_WEIGHT;
  for (const [limit, kind] of CUMULATIVE) if (at < limit) return kind;
  return 'bit-flip';
}

/** The byte-level mutations, which need no decoded message. */
const BYTE_KINDS: readonly MutationKind[] = ['bit-flip', 'byte-set', 'truncate', 'extend', 'insert', 'delete'];

/**
 * Mutates any bytes (a frame, a record, a URI): flips, sets, cuts, appends, inserts or deletes.
 * @param bytes - not modified
 * @param kind - one of the byte-level kinds; drawn when absent
 */
export function mutateBytes(bytes: Uint8Array, random: RandomSource, kind: MutationKind = pick(random, BYTE_KINDS)): Mutation {
  const length = bytes.length;
  switch (kind) {
    case 'bit-flip': {
      const out = bytes.slice();
      if (length === 0) return { kind, frame: Uint8Array.of(1 << randomInt(random, 0, 7)) };
      for (let flips = randomInt(random, 1, 3); flips > 0; flips--) out[Math.floor(random() * length)] ^= 1 << randomInt(random, 0, 7);
      return { kind, frame: out };
    }
    case 'byte-set': {
      const out = bytes.slice();
      if (length === 0) return { kind, frame: randomBytes(random, 1) };
      // Interesting values more often than uniform ones: boundaries of nibbles and lengths.
      const interesting = [0x00, 0x0d, 0x0e, 0x0f, 0x40, 0x7f, 0x80, 0xd0, 0xe0, 0xf0, 0xff];
      for (let sets = randomInt(random, 1, 4); sets > 0; sets--) {
        out[Math.floor(random() * length)] = chance(random, 0.5) ? pick(random, interesting) : Math.floor(random() * 256);
      }
      return { kind, frame: out };
    }
    case 'truncate':
      // Often just short of the end, sometimes down to a bare header or nothing at all.
      return { kind, frame: bytes.slice(0, chance(random, 0.5) ? Math.max(0, length - randomInt(random, 1, 3)) : randomInt(random, 0, Math.max(0, length - 1))) };
    case 'extend': {
      const out = new Uint8Array(length + randomInt(random, 1, 32));
      out.set(bytes);
      out.set(randomBytes(random, out.length - length), length);
      return { kind, frame: out };
    }
    case 'insert': {
      const at = randomInt(random, 0, length);
      const junk = randomBytes(random, randomInt(random, 1, 8));
      const out = new Uint8Array(length + junk.length);
      out.set(bytes.subarray(0, at));
      out.set(junk, at);
      out.set(bytes.subarray(at), at + junk.length);
      return { kind, frame: out };
    }
    default: {
      if (length === 0) return { kind: 'delete', frame: bytes };
      const at = randomInt(random, 0, length - 1);
      const count = randomInt(random, 1, Math.min(8, length - at));
      const out = new Uint8Array(length - count);
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(at + count), at);
      return { kind: 'delete', frame: out };
    }
  }
}

/** A message being mutated: header fields, options (raw-capable) and payload. */
interface Draft {
  type: number;
  code: number;
  messageId: number;
  token: Uint8Array;
  tokenLength?: { nibble: number; extension: Uint8Array };
  version?: number;
  options: RawOption[];
  /** undefined: no payload marker. */
  payload: Uint8Array | undefined;
  /** Raw bytes that replace the whole body when set. */
  body?: Uint8Array;
}

function draftOf(pdu: CoapPdu): Draft {
  return {
    type: pdu.type,
    code: pdu.code,
    messageId: pdu.messageId,
    token: pdu.token,
    options: pdu.options.map((option) => ({ number: option.number, value: option.value })),
    payload: pdu.payload.length > 0 ? pdu.payload : undefined,
  };
}

function rawOf(draft: Draft): RawMessage {
  return {
    type: draft.type,
    code: draft.code,
    messageId: draft.messageId,
    token: draft.token,
    tokenLength: draft.tokenLength,
    version: draft.version,
    body: draft.body ?? writeRawBody(draft.options, draft.payload),
  };
}

/** Replaces every occurrence of `number` by the given values (kept in number order). */
function setOption(draft: Draft, number: number, ...values: Uint8Array[]): void {
  const kept = draft.options.filter((option) => option.number !== number || option.raw !== undefined);
  const at = kept.findIndex((option) => option.raw === undefined && option.number > number);
  const added = values.map((value) => ({ number, value }));
  if (at < 0) kept.push(...added);
  else kept.splice(at, 0, ...added);
  draft.options = kept;
}

function optionValue(draft: Draft, number: number): Uint8Array | undefined {
  return draft.options.find((option) => option.number === number && option.raw === undefined)?.value;
}

/** Unknown option numbers: odd ones are critical (RFC 7252 §5.4.6), so a client must reject the response. */
const UNKNOWN_CRITICAL = [13, 25, 29, 33, 37, 41, 45, 57, 61, 65, 101, 257, 2049, 65001, 65535] as const;
const UNKNOWN_ELECTIVE = [2, 10, 18, 22, 24, 26, 30, 34, 38, 62, 254, 2048, 65000] as const;

/** Inserts raw option bytes at a random position among the options (their delta counts from there). */
function insertRaw(draft: Draft, random: RandomSource, raw: Uint8Array): void {
  const at = randomInt(random, 0, draft.options.length);
  const previous = at === 0 ? 0 : draft.options[at - 1].number;
  draft.options.splice(at, 0, { number: previous, value: new Uint8Array(0), raw });
}

/** A Block value with the given fields, as 1..3 bytes (or exactly `length` bytes when given). */
function blockBytes(num: number, more: boolean, szx: number, length?: number): Uint8Array {
  const value = num * 16 + (more ? 8 : 0) + (szx & 7);
  if (length !== undefined) return fixedUint(value, length);
  return value < 0x100 ? fixedUint(value, value === 0 ? 0 : 1) : value < 0x10000 ? fixedUint(value, 2) : fixedUint(value, 3);
}

/** Applies one structural (or byte) mutation to a draft; returns the frame. */
function applyMutation(kind: MutationKind, pdu: CoapPdu, request: CoapPdu | undefined, random: RandomSource, framing: HostileFraming, depth: number): Uint8Array {
  const draft = draftOf(pdu);
  const encoded = (): Uint8Array => framing.encode(rawOf(draft));
  switch (kind) {
    case 'bit-flip':
    case 'byte-set':
    case 'truncate':
    case 'extend':
    case 'insert':
    case 'delete':
      return mutateBytes(framing.encode(rawFromPdu(pdu)), random, kind).frame;
    case 'oversize': {
      // Larger than any MTU: up to the largest datagram loopback carries.
      const size = chance(random, 0.5) ? randomInt(random, 1153, 9000) : randomInt(random, 9000, framing.maxFrameSize - 64);
      draft.payload = new Uint8Array(size).fill(0x61);
      return encoded();
    }
    case 'type':
      draft.type = pick(random, [MessageType.CON, MessageType.NON, MessageType.ACK, MessageType.RST].filter((type) => type !== pdu.type));
      return encoded();
    case 'code':
      draft.code = pick(random, [
        0x00, // Empty with a token: a format error
        0x01, // a GET sent back as a response
        0x05, // FETCH
        0x1f, // 0.31
        0x3f, // 1.31: reserved class
        0x5f, // 2.31 Continue out of place
        0x41, // 2.01
        0x80, // 4.00
        0x88, // 4.08 Request Entity Incomplete
        0x8d, // 4.13 Request Entity Too Large
        0xa3, // 5.03
        0xc0, // 6.00: reserved class
        0xe1, // 7.01 CSM over UDP
        0xe2, // 7.02 Ping over UDP
        0xff,
        Math.floor(random() * 256),
      ]);
      return encoded();
    case 'message-id': {
      const choice = randomInt(random, 0, 2);
      if (choice === 0) draft.messageId = (pdu.messageId + pick(random, [1, -1, 256, 0x8000])) & 0xffff;
      else if (choice === 1) draft.messageId = Math.floor(random() * 0x10000);
      // A separate or NON response that reuses the request's own message ID (a CON from the server with the
      // client's MID looks like a duplicate of something the client sent).
      else draft.messageId = request?.messageId ?? (pdu.messageId ^ 0x0100);
      return encoded();
    }
    case 'token': {
      const choice = randomInt(random, 0, 5);
      if (choice === 0) draft.token = new Uint8Array(0);
      else if (choice === 1 && pdu.token.length > 0) {
        const flipped = pdu.token.slice();
        flipped[Math.floor(random() * flipped.length)] ^= 1 << randomInt(random, 0, 7);
        draft.token = flipped;
      } else if (choice === 2) draft.token = randomBytes(random, randomInt(random, 1, 8));
      else if (choice === 3) draft.token = pdu.token.subarray(0, Math.max(0, pdu.token.length - 1));
      // RFC 8974 extended token lengths: 13..268 (one extension byte) or 269+ (two).
      else if (choice === 4) draft.token = randomBytes(random, randomInt(random, 13, 40));
      else draft.token = randomBytes(random, randomInt(random, 269, 600));
      return encoded();
    }
    case 'token-length-reserved':
      draft.tokenLength = { nibble: pick(random, [9, 10, 11, 12, 15]), extension: new Uint8Array(0) };
      return encoded();
    case 'token-length-lie': {
      // The TKL says more (or less) than the token is: the rest shifts into options or runs off the end.
      const actual = pdu.token.length;
      const said = chance(random, 0.5) ? Math.min(8, actual + randomInt(random, 1, 8)) : Math.max(0, actual - randomInt(random, 1, Math.max(1, actual)));
      draft.tokenLength = { nibble: said, extension: new Uint8Array(0) };
      return encoded();
    }
    case 'extended-token': {
      // RFC 8974 §2.1: TKL 13 (+1 byte) or 14 (+2 bytes), with a length that fits, runs past the end or is huge.
      const choice = randomInt(random, 0, 3);
      if (choice === 0) draft.token = randomBytes(random, randomInt(random, 13, 268));
      else if (choice === 1) draft.tokenLength = { nibble: 13, extension: Uint8Array.of(Math.floor(random() * 256)) };
      else if (choice === 2) draft.tokenLength = { nibble: 14, extension: Uint8Array.of(Math.floor(random() * 256), Math.floor(random() * 256)) };
      else draft.tokenLength = { nibble: pick(random, [13, 14]), extension: new Uint8Array(0) }; // extension missing
      return encoded();
    }
    case 'version':
      draft.version = pick(random, [0, 2, 3]);
      return encoded();
    case 'empty-with-body':
      // 0.00 with a token, options or payload (RFC 7252 §4.1 format error), or an empty ACK/RST that is not empty.
      draft.code = 0;
      if (draft.options.length === 0 && draft.payload === undefined) draft.payload = Uint8Array.of(0x21);
      return encoded();
    case 'block2-long': {
      // Issue 16 finding 1: `d4 0a 00 00 00 0e` is Block2 (delta 13 + 10) of 4 bytes, NUM 0, SZX 6.
      const length = randomInt(random, 4, 8);
      const value = chance(random, 0.3) ? fixedUint(0x0e, length) : randomBytes(random, length);
      if (chance(random, 0.3)) {
        draft.options = [{ number: OptionNumber.Block2, value: new Uint8Array(0), raw: Uint8Array.of(0xd0 | length, 0x0a, ...value) }];
      } else setOption(draft, OptionNumber.Block2, value);
      return encoded();
    }
    case 'block2-bad': {
      const current = optionValue(draft, OptionNumber.Block2);
      let num = randomInt(random, 0, 3);
      let szx = 2;
      let more = chance(random, 0.5);
      if (current !== undefined && current.length > 0) {
        const value = decodeBlockLoose(current);
        num = value.num;
        szx = value.szx;
        more = value.more;
      }
      const choice = randomInt(random, 0, 6);
      if (choice === 0) num = randomInt(random, 0, 0xfffff);
      else if (choice === 1) num = num + pick(random, [1, -1, 2, 100]);
      else if (choice === 2) more = !more;
      else if (choice === 3) szx = 7; // BERT over UDP
      else if (choice === 4) szx = randomInt(random, 0, 7);
      else if (choice === 5) {
        setOption(draft, OptionNumber.Block2, new Uint8Array(0));
        return encoded();
      } else {
        // A second, different Block2.
        setOption(draft, OptionNumber.Block2, blockBytes(Math.max(0, num), more, szx), blockBytes(num + 1, !more, szx));
        return encoded();
      }
      setOption(draft, OptionNumber.Block2, blockBytes(Math.max(0, num), more, szx));
      return encoded();
    }
    case 'block1-bad': {
      const choice = randomInt(random, 0, 3);
      if (choice === 0) setOption(draft, OptionNumber.Block1, randomBytes(random, randomInt(random, 4, 8)));
      else if (choice === 1) setOption(draft, OptionNumber.Block1, blockBytes(randomInt(random, 0, 0xfffff), chance(random, 0.5), randomInt(random, 0, 7)));
      else if (choice === 2) {
        // A Block1 that asks for a smaller size than the client used, mid-transfer (RFC 7959 §2.5 allows it only early).
        const current = optionValue(draft, OptionNumber.Block1);
        const value = current === undefined ? { num: 0, more: true, szx: 6 } : decodeBlockLoose(current);
        setOption(draft, OptionNumber.Block1, blockBytes(value.num, value.more, Math.max(0, value.szx - randomInt(random, 1, 6))));
      } else setOption(draft, OptionNumber.Block1, blockBytes(randomInt(random, 0, 20), true, 7));
      return encoded();
    }
    case 'observe-long':
      setOption(draft, OptionNumber.Observe, chance(random, 0.5) ? fixedUint(randomInt(random, 0, 0xffffff), randomInt(random, 4, 8)) : randomBytes(random, randomInt(random, 4, 8)));
      return encoded();
    case 'observe-bad': {
      const current = optionValue(draft, OptionNumber.Observe);
      const sequence = current === undefined ? 0 : decodeUintLoose(current);
      const next = pick(random, [
        (sequence - randomInt(random, 1, 5)) & 0xffffff, // older
        (sequence + (1 << 23)) & 0xffffff, // half the space away: "older" by RFC 7641 §3.4
        0xffffff,
        0,
        Math.floor(random() * 0x1000000),
      ]);
      setOption(draft, OptionNumber.Observe, fixedUint(next, next === 0 ? 0 : next < 0x100 ? 1 : next < 0x10000 ? 2 : 3));
      return encoded();
    }
    case 'size-huge': {
      const number = chance(random, 0.7) ? OptionNumber.Size2 : OptionNumber.Size1;
      setOption(draft, number, chance(random, 0.5) ? fixedUint(0xffffffff, 4) : randomBytes(random, randomInt(random, 5, 8)).fill(0xff, 0, 1));
      return encoded();
    }
    case 'unknown-critical':
      setOption(draft, pick(random, UNKNOWN_CRITICAL), randomBytes(random, randomInt(random, 0, 12)));
      return encoded();
    case 'unknown-elective':
      setOption(draft, pick(random, UNKNOWN_ELECTIVE), randomBytes(random, randomInt(random, 0, 300)));
      return encoded();
    case 'reserved-delta':
      // Delta nibble 15 with a length nibble that is not 15 (0xff is the payload marker): a format error.
      insertRaw(draft, random, Uint8Array.of(0xf0 | randomInt(random, 0, 14), ...randomBytes(random, randomInt(random, 0, 3))));
      return encoded();
    case 'reserved-length':
      insertRaw(draft, random, Uint8Array.of((randomInt(random, 0, 14) << 4) | 0x0f, ...randomBytes(random, randomInt(random, 0, 3))));
      return encoded();
    case 'option-number-overflow':
      setOption(draft, 65536 + randomInt(random, 0, 65804 * 2), randomBytes(random, randomInt(random, 0, 4)));
      return encoded();
    case 'option-truncated': {
      // An option header whose extension or value runs past the end of the frame.
      const choice = randomInt(random, 0, 2);
      const tail = choice === 0 ? Uint8Array.of(0xd1) : choice === 1 ? Uint8Array.of(0x1e, 0x01) : Uint8Array.of(0x18, 0x01, 0x02);
      draft.payload = undefined;
      draft.options.push({ number: 0, value: new Uint8Array(0), raw: tail });
      return encoded();
    }
    case 'repeated-option': {
      const number = pick(random, [OptionNumber.ContentFormat, OptionNumber.Block2, OptionNumber.Observe, OptionNumber.MaxAge, OptionNumber.Size2, OptionNumber.Block1, OptionNumber.ETag]);
      const existing = optionValue(draft, number) ?? randomBytes(random, randomInt(random, 0, 3));
      setOption(draft, number, existing, randomBytes(random, randomInt(random, 0, 3)));
      return encoded();
    }
    case 'option-value-garbage': {
      if (draft.options.length === 0) setOption(draft, pick(random, [4, 6, 12, 14, 23, 27, 28]), randomBytes(random, 2));
      const at = Math.floor(random() * draft.options.length);
      const option = draft.options[at];
      draft.options[at] = { number: option.number, value: randomBytes(random, pick(random, [0, 1, 2, 3, 4, 5, 9, 41, 256, 1034])) };
      return encoded();
    }
    case 'etag': {
      const choice = randomInt(random, 0, 2);
      if (choice === 0) setOption(draft, OptionNumber.ETag, randomBytes(random, randomInt(random, 1, 8))); // changed: a block restart
      else if (choice === 1) setOption(draft, OptionNumber.ETag, randomBytes(random, randomInt(random, 9, 20))); // too long
      else setOption(draft, OptionNumber.ETag, new Uint8Array(0)); // too short
      return encoded();
    }
    case 'content-format-bad':
      setOption(draft, OptionNumber.ContentFormat, pick(random, [fixedUint(70000, 3), randomBytes(random, 5), fixedUint(60, 2), fixedUint(50, 1), fixedUint(40, 1)]));
      if (chance(random, 0.5)) draft.payload = randomBytes(random, randomInt(random, 1, 40));
      return encoded();
    case 'max-age-bad':
      setOption(draft, OptionNumber.MaxAge, pick(random, [new Uint8Array(0), fixedUint(0xffffffff, 4), randomBytes(random, randomInt(random, 5, 8))]));
      return encoded();
    case 'echo-bad':
      // RFC 9175 §2.2.1: Echo is 1..40 bytes; a 4.01 with Echo asks the client to repeat the request with it.
      draft.code = 0x81;
      setOption(draft, OptionNumber.Echo, chance(random, 0.5) ? new Uint8Array(0) : randomBytes(random, randomInt(random, 41, 300)));
      return encoded();
    case 'empty-payload-marker':
      draft.payload = new Uint8Array(0);
      return encoded();
    case 'payload-garbage':
      draft.payload = randomBytes(random, randomInt(random, 1, 200));
      if (chance(random, 0.5)) setOption(draft, OptionNumber.ContentFormat, pick(random, [fixedUint(60, 1), fixedUint(50, 1), fixedUint(40, 1), fixedUint(0, 0)]));
      return encoded();
    case 'stacked': {
      if (depth > 0) return applyMutation('bit-flip', pdu, request, random, framing, depth + 1);
      // Two structural mutations: decode the first result when it still decodes, then mutate again.
      let first = drawMutationKind(random);
      if (first === 'stacked') first = 'block2-bad';
      const once = applyMutation(first, pdu, request, random, framing, depth + 1);
      let decoded: CoapPdu;
      try {
        decoded = framing.decode(once);
      } catch {
        return mutateBytes(once, random).frame;
      }
      let second = drawMutationKind(random);
      if (second === 'stacked') second = 'token';
      return applyMutation(second, decoded, request, random, framing, depth + 1);
    }
  }
}

/** Decodes a Block value of any length without throwing (the mutator reads its own garbage too). */
function decodeBlockLoose(bytes: Uint8Array): { num: number; more: boolean; szx: number } {
  const value = decodeUintLoose(bytes.subarray(Math.max(0, bytes.length - 3)));
  return { num: Math.floor(value / 16), more: (value & 8) !== 0, szx: value & 7 };
}

function decodeUintLoose(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < Math.min(bytes.length, 6); i++) value = value * 256 + bytes[i];
  return value;
}

/**
 * Mutates a real response: the core of the hostile peer, independent of sockets and framing.
 *
 * @param frame - the correct response as the framing encodes it (not modified)
 * @param request - the request it answers (token- and MID-aware mutations use it), when there is one
 * @param random - the seeded source every choice is drawn from
 * @param framing - how the transport frames messages. @defaultValue {@link datagramFraming}
 * @param kind - a mutation to apply; drawn by weight when absent
 * @returns the mutated frame and the mutation's name
 */
export function mutateResponse(
  frame: Uint8Array,
  request: CoapPdu | undefined,
  random: RandomSource,
  framing: HostileFraming = datagramFraming,
  kind: MutationKind = drawMutationKind(random),
): Mutation {
  let pdu: CoapPdu;
  try {
    pdu = framing.decode(frame);
  } catch {
    return mutateBytes(frame, random);
  }
  return { kind, frame: applyMutation(kind, pdu, request, random, framing, 0) };
}

/**
 * The request's token in an otherwise hostile message: an ACK with the request's message ID and a token of
 * another exchange (or none) is the spoofed acknowledgement of issue 16 finding 2.
 */
export function spoofedAck(request: CoapPdu, random: RandomSource, framing: HostileFraming = datagramFraming, code = 0x45): Uint8Array {
  // A response code, never 0.00: an empty ACK with the request's MID is a real acknowledgement (a separate
  // response follows, RFC 7252 §5.2.2), not a spoof.
  const choice = randomInt(random, 0, 2);
  const token = choice === 0 ? new Uint8Array(0) : choice === 1 ? randomBytes(random, Math.max(1, request.token.length)) : request.token.subarray(1);
  return framing.encode({
    type: MessageType.ACK,
    code: code === 0 ? 0x45 : code,
    messageId: request.messageId,
    token,
    body: writeRawBody([], Uint8Array.of(0x73, 0x70, 0x6f, 0x6f, 0x66)),
  });
}

/** Any frame of `length` random bytes whose first byte sometimes looks like CoAP version 1. */
export function randomFrame(random: RandomSource, maxLength = 64): Uint8Array {
  const bytes = randomBytes(random, randomInt(random, 0, maxLength));
  if (bytes.length > 0 && chance(random, 0.7)) bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return bytes;
}
