/**
 * Block1/Block2 option values (RFC 7959 §2.2), with SZX 7 = BERT (RFC 8323 §6).
 *
 *   0 1 2 3 4 5 6 7 (and 1-2 more bytes for larger NUM)
 *  +-+-+-+-+-+-+-+-+
 *  |  NUM  |M| SZX |     block size = 2^(SZX + 4); NUM up to 2^20 - 1
 *  +-+-+-+-+-+-+-+-+
 */
import { CoapDecodeError, CoapEncodeError } from '../errors';
import { decodeUint, encodeUint } from './option-values';

/** A decoded Block1/Block2 value. */
export interface BlockValue {
  /** Block number. */
  readonly num: number;
  /** More blocks follow. */
  readonly more: boolean;
  /** Size exponent: size = 2^(szx + 4); 7 is BERT (1024-byte units, several per message). */
  readonly szx: number;
}

/** Largest block number that fits the 3-byte option (RFC 7959 §2.2). */
export const MAX_BLOCK_NUM = 0xfffff;

/** Bytes per block for an SZX (BERT counts as 1024 per unit). */
export function blockSize(szx: number): number {
  return szx === 7 ? 1024 : 1 << (szx + 4);
}

/** The SZX for a power-of-two block size 16..1024. */
export function sizeToSzx(size: number): number {
  const szx = Math.log2(size) - 4;
  if (!Number.isInteger(szx) || szx < 0 || szx > 6) throw new CoapEncodeError(`block size ${size} is not a power of two in 16..1024`);
  return szx;
}

/** Encodes a block value (minimal uint). */
export function encodeBlock(block: BlockValue): Uint8Array {
  if (!Number.isInteger(block.num) || block.num < 0 || block.num > MAX_BLOCK_NUM) throw new CoapEncodeError(`block number ${block.num} is out of range`);
  if (!Number.isInteger(block.szx) || block.szx < 0 || block.szx > 7) throw new CoapEncodeError(`block SZX ${block.szx} is out of range`);
  return encodeUint(block.num * 16 + (block.more ? 8 : 0) + block.szx);
}

/** Decodes a block value; more than 3 bytes is a format error (RFC 7959 §2.2). */
export function decodeBlock(bytes: Uint8Array): BlockValue {
  if (bytes.length > 3) throw new CoapDecodeError('BAD_OPTION_VALUE', `block option of ${bytes.length} bytes is longer than 3`);
  const value = decodeUint(bytes);
  return { num: Math.floor(value / 16), more: (value & 8) !== 0, szx: value & 7 };
}
