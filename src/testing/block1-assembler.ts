/**
 * Server side of RFC 7959 Block1: reassembles request bodies that arrive in blocks, one transfer per
 * (client endpoint, method, path, Request-Tag) so that two bodies sent at once with different
 * Request-Tags (RFC 9175 §3) never mix.
 */
import { blockSize, type BlockValue } from '../codec/block';

/** What to answer to one Block1 request. */
export type Block1Result =
  /** 2.31 Continue with this Block1 value (its SZX may be smaller than the client's: RFC 7959 §2.3). */
  | { readonly kind: 'continue'; readonly block: BlockValue }
  /** The last block arrived: hand `body` to the handler and echo `block` in the final response. */
  | { readonly kind: 'complete'; readonly body: Uint8Array; readonly block: BlockValue }
  /** 4.08 Request Entity Incomplete: a block out of order, or a transfer not started with block 0. */
  | { readonly kind: 'incomplete'; readonly reason: string }
  /** 4.13 Request Entity Too Large with Size1 = `limit` (RFC 7959 §2.9.3). */
  | { readonly kind: 'too-large'; readonly limit: number }
  /** 4.00 Bad Request: a non-final block whose payload is not exactly the block size (RFC 7959 §2.2). */
  | { readonly kind: 'bad-block'; readonly reason: string };

interface Transfer {
  readonly parts: Uint8Array[];
  length: number;
}

/** Reassembles Block1 bodies. Keeps at most `maxTransfers` unfinished transfers (oldest dropped first). */
export class Block1Assembler {
  readonly #transfers = new Map<string, Transfer>();
  readonly #maxBodySize: number;
  readonly #preferredSzx: number;
  readonly #maxTransfers: number;

  /**
   * @param maxBodySize - largest body accepted, in bytes
   * @param preferredSzx - largest SZX the server wants; a larger client SZX is answered with this one
   * @param maxTransfers - unfinished transfers kept at once
   */
  constructor(maxBodySize: number, preferredSzx: number, maxTransfers = 64) {
    this.#maxBodySize = maxBodySize;
    this.#preferredSzx = preferredSzx;
    this.#maxTransfers = maxTransfers;
  }

  /** Unfinished transfers. */
  get pending(): number {
    return this.#transfers.size;
  }

  /**
   * Takes one block.
   * @param key - identifies the body: client endpoint, method, path and Request-Tag
   * @param block - the request's Block1 value
   * @param payload - the block's bytes
   * @param size1 - the request's Size1 (announced total size), if any
   */
  accept(key: string, block: BlockValue, payload: Uint8Array, size1: number | undefined): Block1Result {
    // RFC 7959 §4: Size1 announces the total; refuse early when it is already too large.
    if (size1 !== undefined && size1 > this.#maxBodySize) {
      this.#transfers.delete(key);
      return { kind: 'too-large', limit: this.#maxBodySize };
    }
    // BERT (SZX 7) is for reliable transports only; count it as 1024-byte blocks here.
    const clientSize = blockSize(block.szx);
    let transfer = this.#transfers.get(key);
    if (block.num === 0) {
      transfer = { parts: [], length: 0 };
      this.#transfers.delete(key);
      this.#transfers.set(key, transfer);
      this.#evictOldest();
    } else if (transfer === undefined) {
      return { kind: 'incomplete', reason: `block ${block.num} of a body whose block 0 was not received` };
    }
    if (block.more && payload.length !== clientSize) {
      this.#transfers.delete(key);
      return { kind: 'bad-block', reason: `non-final block of ${payload.length} bytes, expected ${clientSize}` };
    }
    // Offsets, not numbers, are compared: after a server-chosen smaller SZX the client renumbers
    // (RFC 7959 §2.5, Figure 6: 0/1/128 acknowledged as 0/1/32, then 4/1/32).
    const offset = block.num * clientSize;
    if (offset < transfer.length && offset + payload.length <= transfer.length) {
      // A retransmitted block we already have (NON requests are not deduplicated): acknowledge again.
      return block.more
        ? { kind: 'continue', block: { num: block.num, more: true, szx: Math.min(block.szx, this.#preferredSzx) } }
        : { kind: 'incomplete', reason: 'final block repeated after the body completed' };
    }
    if (offset !== transfer.length) {
      this.#transfers.delete(key);
      return { kind: 'incomplete', reason: `block at offset ${offset} while ${transfer.length} bytes were received` };
    }
    transfer.parts.push(payload.slice());
    transfer.length += payload.length;
    if (transfer.length > this.#maxBodySize) {
      this.#transfers.delete(key);
      return { kind: 'too-large', limit: this.#maxBodySize };
    }
    if (block.more) {
      return { kind: 'continue', block: { num: block.num, more: true, szx: Math.min(block.szx, this.#preferredSzx) } };
    }
    this.#transfers.delete(key);
    return { kind: 'complete', body: concat(transfer.parts, transfer.length), block: { num: block.num, more: false, szx: block.szx } };
  }

  /** Forgets every unfinished transfer. */
  clear(): void {
    this.#transfers.clear();
  }

  #evictOldest(): void {
    while (this.#transfers.size > this.#maxTransfers) {
      const oldest = this.#transfers.keys().next().value as string;
      this.#transfers.delete(oldest);
    }
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
