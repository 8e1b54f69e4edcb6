/**
 * Block2 downloads (RFC 7959 §2.4): after a response with Block2 M=1 the client asks for the following blocks
 * itself, each in its own exchange with a fresh token, and puts the body back together.
 *
 *   client                                server
 *     | GET /big  Size2:0 (Block2:0/0/64)    |
 *     |<-- 2.05 Block2:0/1/64 ETag:e1 Size2:300
 *     | GET /big  Block2:1/0/64              |   same options, Block2 only changes, no Observe
 *     |<-- 2.05 Block2:1/1/64 ETag:e1        |
 *     | ...                                  |
 *     |<-- 2.05 Block2:4/0/64 ETag:e1        |   M=0: body complete
 *
 * Rules kept here:
 * - The next NUM is computed from the byte offset, so a server that answers with a smaller SZX is followed
 *   (RFC 7959 §2.4: later blocks use its size).
 * - An ETag that changes mid-transfer means the representation changed: start again at block 0, a bounded
 *   number of times (RFC 7959 §2.4: "the client ... SHOULD restart"), then {@link CoapBlockError}.
 * - A Content-Format that changes mid-transfer cannot be stitched together: {@link CoapBlockError}.
 * - The body never grows past `maxBodySize`: a Size2 above it fails at once, and so does the block that would
 *   cross it, before its bytes are stored.
 */
import { Observable, type Subscription } from 'rxjs';
import { CoapBlockError } from '../errors';
import { blockSize, decodeBlock, encodeBlock, type BlockValue } from '../codec/block';
import { OptionNumber } from '../codec/option-numbers';
import { decodeUint } from '../codec/option-values';
import { codeToString, getOption, withOption, withoutOption, type CoapPdu } from '../codec/pdu';
import { subscribeGuarded } from '../util/operate';
import { MAX_SZX } from './block-size';
import type { RequestTemplate } from './request';
import type { BlockProgress } from './response';

/** One result of a block-wise request: a partial block, or the whole body. */
export interface BlockwiseResult {
  /** The response: the last block's, with the first block's options when the body was reassembled. */
  readonly pdu: CoapPdu;
  /** This block (partial results) or the whole body. */
  readonly payload: Uint8Array;
  /** Where this block sits in the body; set on partial results only. */
  readonly progress?: BlockProgress;
}

/** Something a block-wise transfer reports (surfaced as a session event). */
export interface BlockwiseEvent {
  readonly type: 'block-restart';
  readonly reason: string;
}

/** How {@link block2Transfer} runs. */
export interface Block2Config {
  /** Sends one request (fresh token) and emits its response. */
  readonly send: (request: RequestTemplate) => Observable<CoapPdu>;
  /** Emit one result with the whole body (true) or each block with progress (false). */
  readonly singleBody: boolean;
  /** Largest body accepted, in bytes. */
  readonly maxBodySize: number;
  /** Restarts after an ETag change before giving up. @defaultValue 3 */
  readonly maxEtagRestarts?: number;
  /** Largest SZX the client asks for (0..6). @defaultValue 6 */
  readonly maxSzx?: number;
  readonly onEvent?: (event: BlockwiseEvent) => void;
}

/** The Block2 value of a response, or undefined. */
export function responseBlock2(pdu: CoapPdu): BlockValue | undefined {
  const value = getOption(pdu, OptionNumber.Block2);
  return value === undefined ? undefined : decodeBlock(value);
}

/**
 * The request that follow-ups are made of: the original without Block2 (set per block), without Observe
 * (RFC 7959 §2.6 / RFC 7641 §3.4: only the first request registers) and without Size2 (asked once).
 */
export function followUpTemplate(request: RequestTemplate): RequestTemplate {
  let options = request.options;
  for (const number of [OptionNumber.Observe, OptionNumber.Block2, OptionNumber.Size2, OptionNumber.Echo]) {
    if (getOption({ options }, number) !== undefined) options = withoutOption(options, number);
  }
  return options === request.options ? request : { ...request, options };
}

/**
 * Fetches the rest of a body whose first response (`first`, block 0) is in hand. Emits the blocks (partial
 * mode) or the whole body once (single-body mode), then completes. Unsubscribing stops at once.
 *
 * @param followUp - the request to repeat per block (see {@link followUpTemplate}); its Block2 is set here
 * @param first - the response carrying Block2 NUM 0
 */
export function block2Transfer(followUp: RequestTemplate, first: CoapPdu, config: Block2Config): Observable<BlockwiseResult> {
  const maxRestarts = config.maxEtagRestarts ?? 3;
  const capSzx = Math.min(config.maxSzx ?? MAX_SZX, MAX_SZX);
  return new Observable<BlockwiseResult>((subscriber) => {
    let inner: Subscription | undefined;
    let restarts = 0;
    // The run's first block: its ETag, Content-Format, code and options define the body.
    let head = first;
    let etag = getOption(first, OptionNumber.ETag);
    let contentFormat = getOption(first, OptionNumber.ContentFormat);
    let total: number | undefined;
    let body: BodyBuffer | undefined;
    let offset = 0;
    let szx = capSzx;

    const startRun = (response: CoapPdu): void => {
      head = response;
      etag = getOption(response, OptionNumber.ETag);
      contentFormat = getOption(response, OptionNumber.ContentFormat);
      offset = 0;
      total = sizeOf(response);
      if (total !== undefined && total > config.maxBodySize) {
        throw new CoapBlockError(`the body is ${total} bytes (Size2), more than maxBodySize ${config.maxBodySize}`);
      }
      body = config.singleBody ? new BodyBuffer(total, config.maxBodySize) : undefined;
    };

    const take = (response: CoapPdu, block: BlockValue): void => {
      const size = blockSize(block.szx);
      const at = block.num * size;
      if (at !== offset) throw new CoapBlockError(`expected the block at byte ${offset}, the server sent block ${block.num} (byte ${at})`);
      const payload = response.payload;
      if (payload.length > size || (block.more && payload.length !== size)) {
        throw new CoapBlockError(`block ${block.num} carries ${payload.length} bytes, its size is ${size}`);
      }
      if (offset + payload.length > config.maxBodySize) {
        throw new CoapBlockError(`the body grows past maxBodySize ${config.maxBodySize} bytes`);
      }
      total = sizeOf(response) ?? total;
      offset += payload.length;
      if (body !== undefined) body.append(payload);
      else {
        subscriber.next({
          pdu: response,
          payload,
          progress: { offset: at, received: offset, total, complete: !block.more },
        });
      }
      if (!block.more) {
        if (body !== undefined) {
          // The whole body: the last block's header with the first block's options (ETag, Content-Format,
          // Max-Age, Location-*), without Block2 since it is no longer one block.
          subscriber.next({ pdu: { ...response, options: withoutOption(head.options, OptionNumber.Block2) }, payload: body.bytes() });
        }
        subscriber.complete();
        return;
      }
      // RFC 7959 §2.4: the server may answer with a smaller block size; keep to it (or ours, if smaller).
      szx = Math.min(block.szx, capSzx);
      while (szx > 0 && offset % blockSize(szx) !== 0) szx--;
      request(offset / blockSize(szx));
    };

    const request = (num: number): void => {
      const options = withOption(followUp.options, OptionNumber.Block2, [encodeBlock({ num, more: false, szx })]);
      inner?.unsubscribe();
      inner = subscribeGuarded(config.send({ ...followUp, options }), subscriber, { next: onResponse, complete: () => undefined });
    };

    const onResponse = (response: CoapPdu): void => {
      const block = responseBlock2(response);
      if (response.code !== head.code) {
        throw new CoapBlockError(`block-wise transfer interrupted: the server answered ${codeToString(response.code)} at byte ${offset}`);
      }
      if (!sameBytes(getOption(response, OptionNumber.ETag), etag)) {
        // RFC 7959 §2.4: the representation changed under us; its blocks cannot be mixed with the old ones.
        if (restarts >= maxRestarts) throw new CoapBlockError(`the ETag changed ${restarts + 1} times during the transfer; giving up`);
        restarts++;
        config.onEvent?.({ type: 'block-restart', reason: `ETag changed at byte ${offset}` });
        if (block !== undefined && block.num === 0) {
          startRun(response);
          take(response, block);
        } else {
          etag = getOption(response, OptionNumber.ETag);
          offset = 0;
          request(0);
        }
        return;
      }
      if (!sameBytes(getOption(response, OptionNumber.ContentFormat), contentFormat)) {
        throw new CoapBlockError(`the Content-Format changed at byte ${offset} of a block-wise transfer`);
      }
      if (block === undefined) throw new CoapBlockError(`the response at byte ${offset} has no Block2 option`);
      if (offset === 0 && block.num === 0) startRun(response);
      take(response, block);
    };

    subscriber.add(() => {
      inner?.unsubscribe();
      inner = undefined;
      body = undefined;
    });
    try {
      const block = responseBlock2(first);
      if (block === undefined) {
        subscriber.next({ pdu: first, payload: first.payload });
        subscriber.complete();
        return;
      }
      if (block.num !== 0) throw new CoapBlockError(`the first response carries block ${block.num}, not block 0`);
      szx = Math.min(block.szx, capSzx);
      startRun(first);
      take(first, block);
    } catch (error) {
      subscriber.error(error);
    }
  });
}

/** Size2 of a response, if any. */
function sizeOf(pdu: CoapPdu): number | undefined {
  const value = getOption(pdu, OptionNumber.Size2);
  return value === undefined ? undefined : decodeUint(value);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The growing body: exact when Size2 said how big, else doubling, never above `limit` bytes (so memory never
 * grows past maxBodySize).
 */
class BodyBuffer {
  #bytes: Uint8Array;
  #length = 0;
  readonly #limit: number;

  constructor(expected: number | undefined, limit: number) {
    this.#limit = limit;
    this.#bytes = new Uint8Array(Math.min(expected ?? 4096, limit));
  }

  append(part: Uint8Array): void {
    const needed = this.#length + part.length;
    if (needed > this.#bytes.length) {
      const grown = new Uint8Array(Math.min(Math.max(needed, this.#bytes.length * 2), this.#limit));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(part, this.#length);
    this.#length = needed;
  }

  bytes(): Uint8Array {
    return this.#length === this.#bytes.length ? this.#bytes : this.#bytes.slice(0, this.#length);
  }
}
