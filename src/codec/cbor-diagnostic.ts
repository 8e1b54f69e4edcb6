/**
 * CBOR (RFC 8949) well-formedness and diagnostic notation (§8), hand-written: precise offsets in errors, and the
 * checks cbor-x tolerates. The CLI and logs print payloads with it; `decodeCbor` (cbor-decode.ts) checks an item
 * with {@link cborItemEnd} before cbor-x decodes it. Malformed data throws {@link CoapDecodeError}
 * `'BAD_PAYLOAD'`.
 */
import { badPayload } from './bad-payload';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * CBOR diagnostic notation (RFC 8949 §8) of a payload, e.g. `{"temp": 21.5, 1: h'01ff', 0("2024")}`.
 * A CBOR sequence (RFC 8742) gives its items separated by `, `. Malformed data throws
 * {@link CoapDecodeError} `'BAD_PAYLOAD'`.
 */
export function cborDiagnostic(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  const reader = new CborReader(bytes);
  const parts: string[] = [];
  while (reader.offset < bytes.length) {
    const out: string[] = [];
    diagnoseItem(reader, 0, out);
    parts.push(out.join(''));
  }
  return parts.join(', ');
}

/**
 * Checks that `bytes` start with one well-formed CBOR data item, and returns the offset after it. Not well formed
 * (truncated, reserved values, too deep, bad UTF-8...) throws {@link CoapDecodeError} `'BAD_PAYLOAD'`.
 */
export function cborItemEnd(bytes: Uint8Array): number {
  return diagnoseItem(new CborReader(bytes), 0, null);
}

/** Deepest nesting accepted: keeps hostile payloads from exhausting the stack. */
const MAX_DEPTH = 256;
/** Marks the "break" stop code (0xff) inside indefinite-length items. */
const BREAK = -1;

class CborReader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.length) throw badPayload('CBOR data item is truncated', this.offset);
    return this.bytes[this.offset++];
  }

  /** RFC 8949 §3: the argument of an initial byte (additional information 0..27). */
  argument(info: number, start: number): number | bigint {
    if (info < 24) return info;
    if (info === 24) return this.byte();
    if (info === 25) return (this.byte() << 8) | this.byte();
    if (info === 26) return ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
    if (info === 27) {
      const high = ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
      const low = ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
      const value = high * 0x100000000 + low;
      return Number.isSafeInteger(value) ? value : (BigInt(high) << 32n) | BigInt(low);
    }
    throw badPayload(`CBOR additional information ${info} is reserved`, start);
  }

  take(length: number | bigint, start: number): Uint8Array {
    if (typeof length === 'bigint' || this.offset + length > this.bytes.length) throw badPayload('CBOR string runs past the end of the payload', start);
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }
}

function hexOf(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return text;
}

/** RFC 8949 §8: floats always show a fraction or exponent so they differ from integers. */
function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Object.is(value, -0)) return '-0.0';
  const text = String(value);
  if (/[.eE]/.test(text)) return text.includes('.') || !text.includes('e') ? text : text.replace('e', '.0e');
  return `${text}.0`;
}

/** RFC 8949 Appendix D: half-precision to double. */
function halfToNumber(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  let value: number;
  if (exponent === 0) value = mantissa * 2 ** -24;
  else if (exponent === 31) value = mantissa === 0 ? Infinity : NaN;
  else value = (mantissa + 1024) * 2 ** (exponent - 25);
  return half & 0x8000 ? -value : value;
}

/**
 * Walks one data item from the reader. With `out` it appends the diagnostic text; with `null` it only
 * checks well-formedness. Returns the offset after the item, or {@link BREAK} for a break stop code
 * (only allowed directly inside an indefinite-length item, which the caller checks).
 */
function diagnoseItem(reader: CborReader, depth: number, out: string[] | null, allowBreak = false): number {
  if (depth > MAX_DEPTH) throw badPayload(`CBOR nesting is deeper than ${MAX_DEPTH}`, reader.offset);
  const start = reader.offset;
  const initial = reader.byte();
  const major = initial >> 5;
  const info = initial & 0x1f;
  if (initial === 0xff) {
    if (!allowBreak) throw badPayload('CBOR break outside an indefinite-length item', start);
    return BREAK;
  }
  if (info === 31) {
    // RFC 8949 §3.2: indefinite length for byte/text strings, arrays and maps only.
    if (major === 2 || major === 3) {
      out?.push('(_ ');
      let first = true;
      for (;;) {
        const chunkStart = reader.offset;
        const chunkInitial = reader.bytes[chunkStart];
        if (chunkInitial === 0xff) {
          reader.offset++;
          break;
        }
        if (chunkInitial === undefined || chunkInitial >> 5 !== major || (chunkInitial & 0x1f) === 31) {
          throw badPayload('CBOR indefinite-length string has a chunk of another type', chunkStart);
        }
        if (!first) out?.push(', ');
        first = false;
        diagnoseItem(reader, depth + 1, out);
      }
      out?.push(')');
      return reader.offset;
    }
    if (major === 4 || major === 5) {
      out?.push(major === 4 ? '[_ ' : '{_ ');
      let count = 0;
      for (;;) {
        const mark = out === null ? 0 : out.length;
        if (count > 0) out?.push(major === 5 && count % 2 === 1 ? ': ' : ', ');
        if (diagnoseItem(reader, depth + 1, out, true) === BREAK) {
          if (out !== null) out.length = mark;
          break;
        }
        count++;
      }
      if (major === 5 && count % 2 === 1) throw badPayload('CBOR map has a key without a value', start);
      out?.push(major === 4 ? ']' : '}');
      return reader.offset;
    }
    if (major === 7) throw badPayload('CBOR break outside an indefinite-length item', start);
    throw badPayload(`CBOR major type ${major} cannot have an indefinite length`, start);
  }
  if (major === 7) {
    if (info < 20 || info === 24) {
      const value = info === 24 ? reader.byte() : info;
      // RFC 8949 §3.3: simple values 24..31 in the two-byte form are not well-formed.
      if (info === 24 && value < 32) throw badPayload(`CBOR simple value ${value} in two bytes is not well-formed`, start);
      out?.push(`simple(${value})`);
    } else if (info === 20) out?.push('false');
    else if (info === 21) out?.push('true');
    else if (info === 22) out?.push('null');
    else if (info === 23) out?.push('undefined');
    else if (info === 25) {
      const half = (reader.byte() << 8) | reader.byte();
      out?.push(floatText(halfToNumber(half)));
    } else if (info === 26 || info === 27) {
      const size = info === 26 ? 4 : 8;
      const bytes = reader.take(size, start);
      const view = new DataView(bytes.buffer, bytes.byteOffset, size);
      out?.push(floatText(size === 4 ? view.getFloat32(0) : view.getFloat64(0)));
    } else throw badPayload(`CBOR additional information ${info} is reserved`, start);
    return reader.offset;
  }
  const argument = reader.argument(info, start);
  switch (major) {
    case 0:
      out?.push(String(argument));
      break;
    case 1:
      out?.push(typeof argument === 'bigint' ? String(-1n - argument) : String(-1 - argument));
      break;
    case 2: {
      const bytes = reader.take(argument, start);
      out?.push(`h'${hexOf(bytes)}'`);
      break;
    }
    case 3: {
      const bytes = reader.take(argument, start);
      let text: string;
      try {
        text = strictUtf8.decode(bytes);
      } catch {
        throw badPayload('CBOR text string is not valid UTF-8', start);
      }
      out?.push(JSON.stringify(text));
      break;
    }
    case 4:
    case 5: {
      if (typeof argument === 'bigint' || argument > reader.bytes.length - reader.offset) {
        throw badPayload(`CBOR ${major === 4 ? 'array' : 'map'} claims more items than the payload holds`, start);
      }
      out?.push(major === 4 ? '[' : '{');
      for (let i = 0; i < argument; i++) {
        if (i > 0) out?.push(', ');
        diagnoseItem(reader, depth + 1, out);
        if (major === 5) {
          out?.push(': ');
          diagnoseItem(reader, depth + 1, out);
        }
      }
      out?.push(major === 4 ? ']' : '}');
      break;
    }
    case 6:
      out?.push(`${argument}(`);
      diagnoseItem(reader, depth + 1, out);
      out?.push(')');
      break;
  }
  return reader.offset;
}
