/**
 * Server side of RFC 7959 Block2: cuts one block out of a response body, honouring the block number
 * and size the client asked for (random access) and the largest size the server serves.
 */
import { blockSize, type BlockValue } from '../codec/block';

/** One block of a body, or the whole body when it fits. */
export type Block2Slice =
  /** The body fits in one block and the client asked for block 0 (or nothing): send it whole. */
  | { readonly kind: 'whole' }
  /** Send `payload` with Block2 = `block`. */
  | { readonly kind: 'block'; readonly payload: Uint8Array; readonly block: BlockValue }
  /** The requested block starts past the end of the body. */
  | { readonly kind: 'out-of-range' };

/**
 * Picks the block to send.
 * @param body - the whole representation
 * @param requested - the request's Block2 value, if any
 * @param maxSzx - largest SZX the server serves (6 = 1024 bytes)
 */
export function sliceBlock2(body: Uint8Array, requested: BlockValue | undefined, maxSzx: number): Block2Slice {
  // BERT (SZX 7) is for reliable transports only; over datagrams treat it as 1024-byte blocks.
  const requestedSzx = requested === undefined ? maxSzx : Math.min(requested.szx, 6);
  const szx = Math.min(requestedSzx, maxSzx);
  const size = blockSize(szx);
  // RFC 7959 §2.4: with a smaller size than the client asked for, the block number is rescaled so it
  // still addresses the same offset.
  const offset = requested === undefined ? 0 : requested.num * blockSize(requestedSzx);
  if (offset === 0 && body.length <= size) return { kind: 'whole' };
  if (offset >= body.length) return { kind: 'out-of-range' };
  const end = Math.min(offset + size, body.length);
  return {
    kind: 'block',
    payload: body.subarray(offset, end),
    block: { num: offset / size, more: end < body.length, szx },
  };
}

/**
 * A 4-byte ETag for a body (32-bit FNV-1a), so block-wise transfers of a resource without a scripted
 * ETag still let the client detect a change between blocks (RFC 7959 §2.4).
 */
export function bodyEtag(body: Uint8Array): Uint8Array {
  let hash = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) {
    hash ^= body[i];
    hash = Math.imul(hash, 0x01000193);
  }
  return Uint8Array.of(hash >>> 24, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff);
}
