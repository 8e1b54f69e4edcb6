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
import { CoapBlockError } from '../errors';
import { blockSize, decodeBlock, encodeBlock, type BlockValue } from '../codec/block';
import { sameBytes } from '../codec/bytes';
import { OptionNumber } from '../codec/option-numbers';
import { decodeUint } from '../codec/option-values';
import { codeToString, EMPTY_BYTES, getOption, withoutOption, type CoapOption, type CoapPdu } from '../codec/pdu';
import { MAX_SZX } from './block-size';
import type { RequestCallbacks, RequestTemplate } from './request';
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

/**
 * Sends one request (fresh token) and reports its response or error to `callbacks`, exactly once unless
 * cancelled first; returns the canceller. The sender from `echoSender` (echo.ts) has this shape.
 */
export type BlockSend = (request: RequestTemplate, callbacks: RequestCallbacks) => () => void;

/** Where an imperative block-wise transfer reports; an rxjs `Subscriber` is one. */
export interface BlockwiseSink {
  next(result: BlockwiseResult): void;
  error(error: unknown): void;
  complete(): void;
}

/** How {@link startBlock2Transfer} runs. */
export interface Block2Config {
  /** Sends one request (fresh token) and reports its response. */
  readonly send: BlockSend;
  /** Emit one result with the whole body (true) or each block with progress (false). */
  readonly singleBody: boolean;
  /** Largest body accepted, in bytes. */
  readonly maxBodySize: number;
  /** Restarts after an ETag change before giving up. @defaultValue 3 */
  readonly maxEtagRestarts?: number;
  /** Largest SZX the client asks for (0..6; 7 with `bert`). @defaultValue 6 */
  readonly maxSzx?: number;
  /** Both sides do BERT (their CSMs carry Block-Wise-Transfer, RFC 8323 §6): SZX 7 blocks are taken. */
  readonly bert?: boolean;
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
 * Fetches the rest of a body whose first response (`first`, block 0) is in hand: emits the blocks (partial mode)
 * or the whole body once (single-body mode), then completes. One closure per transfer drives every block (no
 * Observable per block). `followUp` is the request to repeat per block (see {@link followUpTemplate}); its Block2
 * is set here. Reports to `sink` (never after the returned canceller ran, nor after an error or completion);
 * a throw while handling a response becomes `sink.error`.
 */
export function startBlock2Transfer(followUp: RequestTemplate, first: CoapPdu, config: Block2Config, sink: BlockwiseSink): () => void {
  const maxRestarts = config.maxEtagRestarts ?? 3;
  const capSzx = Math.min(config.maxSzx ?? MAX_SZX, config.bert === true ? 7 : MAX_SZX);
  const maxBodySize = config.maxBodySize;
  const singleBody = config.singleBody;
  const send = config.send;
  let stopped = false;
  let cancelInner: (() => void) | undefined;
  let sends = 0;
  let restarts = 0;
  // The run's first block: its ETag, Content-Format, code and options define the body.
  let head = first;
  let etag: Uint8Array | undefined;
  let contentFormat: Uint8Array | undefined;
  let total: number | undefined;
  let body: Uint8Array | undefined; // single-body mode: the bytes so far are body[0, offset)
  let offset = 0;
  let szx = capSzx;

  // Follow-ups: the template's options with one Block2 slot, copied and filled per block (the copy keeps every
  // sent request intact for whoever holds it; only the slot changes).
  const template: CoapOption[] = [];
  let slot = -1;
  for (const option of followUp.options) {
    if (option.number === OptionNumber.Block2) continue;
    if (slot < 0 && option.number > OptionNumber.Block2) slot = template.push(option) - 1;
    else template.push(option);
  }
  if (slot < 0) slot = template.length;
  template.splice(slot, 0, { number: OptionNumber.Block2, value: EMPTY_BYTES });
  const code = followUp.code;
  const payload = followUp.payload;

  const stop = (): void => {
    stopped = true;
    const cancel = cancelInner;
    cancelInner = undefined;
    body = undefined;
    cancel?.();
  };

  const fail = (error: unknown): void => {
    if (stopped) return;
    stop();
    sink.error(error);
  };

  /** Block 0 of a run: its ETag, Content-Format, code, options and Size2 define the body. */
  const startRun = (response: CoapPdu, runEtag: Uint8Array | undefined, runFormat: Uint8Array | undefined, size2: Uint8Array | undefined): void => {
    head = response;
    etag = runEtag;
    contentFormat = runFormat;
    offset = 0;
    total = size2 === undefined ? undefined : decodeUint(size2);
    if (total !== undefined && total > maxBodySize) {
      throw new CoapBlockError(`the body is ${total} bytes (Size2), more than maxBodySize ${maxBodySize}`);
    }
    // Exact when Size2 said how big, else grown by doubling (never above maxBodySize).
    body = singleBody ? new Uint8Array(Math.min(total ?? 4096, maxBodySize)) : undefined;
  };

  /**
   * Handles one response (`initial`: the first one, in hand when the transfer starts): checks it against the run,
   * stores or emits its block, and asks for the next one: the whole per-block path, with no Observable, array
   * or closure made per block beyond the follow-up request itself.
   */
  const onResponse = (response: CoapPdu, initial: boolean): void => {
    // The options, read in one pass (first occurrence of each, as getOption does).
    let seenEtag: Uint8Array | undefined;
    let seenFormat: Uint8Array | undefined;
    let seenBlock: Uint8Array | undefined;
    let seenSize2: Uint8Array | undefined;
    const options = response.options;
    for (let i = 0; i < options.length; i++) {
      const option = options[i];
      const number = option.number;
      if (number === OptionNumber.ETag) seenEtag ??= option.value;
      else if (number === OptionNumber.ContentFormat) seenFormat ??= option.value;
      else if (number === OptionNumber.Block2) seenBlock ??= option.value;
      else if (number === OptionNumber.Size2) seenSize2 ??= option.value;
    }
    if (initial && seenBlock === undefined) {
      stop();
      sink.next({ pdu: response, payload: response.payload });
      sink.complete();
      return;
    }
    const value = seenBlock === undefined ? -1 : blockValueOf(seenBlock);
    let restartAtZero = false;
    if (initial) {
      if (value >= 16) throw new CoapBlockError(`the first response carries block ${Math.floor(value / 16)}, not block 0`);
      szx = Math.min(value & 7, capSzx);
      startRun(response, seenEtag, seenFormat, seenSize2);
    } else {
      if (response.code !== head.code) {
        throw new CoapBlockError(`block-wise transfer interrupted: the server answered ${codeToString(response.code)} at byte ${offset}`);
      }
      if (!sameOptionValue(seenEtag, etag)) {
        // RFC 7959 §2.4: the representation changed under us; its blocks cannot be mixed with the old ones.
        if (restarts >= maxRestarts) throw new CoapBlockError(`the ETag changed ${restarts + 1} times during the transfer; giving up`);
        restarts++;
        config.onEvent?.({ type: 'block-restart', reason: `ETag changed at byte ${offset}` });
        if (stopped) return;
        if (value >= 0 && value < 16) startRun(response, seenEtag, seenFormat, seenSize2);
        else {
          etag = seenEtag;
          offset = 0;
          restartAtZero = true;
        }
      } else {
        if (!sameOptionValue(seenFormat, contentFormat)) {
          throw new CoapBlockError(`the Content-Format changed at byte ${offset} of a block-wise transfer`);
        }
        if (value < 0) throw new CoapBlockError(`the response at byte ${offset} has no Block2 option`);
        if (offset === 0 && value < 16) startRun(response, seenEtag, seenFormat, seenSize2);
      }
    }

    if (!restartAtZero) {
      // Take the block: it must start where the body ends, be whole unless it is the last, and fit maxBodySize.
      const num = Math.floor(value / 16);
      const more = (value & 8) !== 0;
      const blockSzx = value & 7;
      const size = blockSize(blockSzx);
      const at = num * size;
      if (at !== offset) throw new CoapBlockError(`expected the block at byte ${offset}, the server sent block ${num} (byte ${at})`);
      const part = response.payload;
      const length = part.length;
      // RFC 8323 §6: a BERT block is any multiple of 1024 bytes (the last one any size); others exactly `size`.
      const bert = blockSzx === 7 && config.bert === true;
      if (bert ? more && (length === 0 || length % 1024 !== 0) : length > size || (more && length !== size)) {
        throw new CoapBlockError(`block ${num} carries ${length} bytes, its size is ${bert ? 'a multiple of 1024' : size}`);
      }
      const end = offset + length;
      if (end > maxBodySize) throw new CoapBlockError(`the body grows past maxBodySize ${maxBodySize} bytes`);
      if (seenSize2 !== undefined) total = decodeUint(seenSize2);
      if (body !== undefined) {
        if (end > body.length) {
          const grown = new Uint8Array(Math.min(Math.max(end, body.length * 2), maxBodySize));
          grown.set(body.subarray(0, offset));
          body = grown;
        }
        body.set(part, offset);
        offset = end;
      } else {
        offset = end;
        sink.next({ pdu: response, payload: part, progress: { offset: at, received: end, total, complete: !more } });
        if (stopped) return;
      }
      if (!more) {
        if (body !== undefined) {
          // The whole body: the last block's header with the first block's options (ETag, Content-Format,
          // Max-Age, Location-*), without Block2 since it is no longer one block.
          const whole = end === body.length ? body : body.slice(0, end);
          const pdu: CoapPdu = { ...response, options: withoutOption(head.options, OptionNumber.Block2) };
          stop();
          sink.next({ pdu, payload: whole });
        } else stop();
        sink.complete();
        return;
      }
      // RFC 7959 §2.4: the server may answer with a smaller block size; keep to it (or ours, if smaller).
      szx = Math.min(blockSzx, capSzx);
      while (szx > 0 && offset % blockSize(szx) !== 0) szx--;
    }

    // Ask for the block at `offset`: a fresh request (fresh token) with only Block2 changed.
    const next = template.slice();
    next[slot] = { number: OptionNumber.Block2, value: encodeBlock({ num: offset / blockSize(szx), more: false, szx }) };
    const previous = cancelInner;
    cancelInner = undefined;
    previous?.();
    const id = ++sends;
    const cancel = send({ code, options: next, payload }, callbacks);
    // A synchronous answer may already have sent the next block (and set its canceller).
    if (id === sends && !stopped) cancelInner = cancel;
  };

  // One callbacks object for every block: only one request is in flight at a time.
  const callbacks: RequestCallbacks = {
    response(response) {
      if (stopped) return;
      cancelInner = undefined;
      try {
        onResponse(response, false);
      } catch (error) {
        fail(error);
      }
    },
    error(error) {
      cancelInner = undefined;
      fail(error);
    },
  };

  try {
    onResponse(first, true);
  } catch (error) {
    fail(error);
  }
  return stop;
}

/** The Block2 value as one number (NUM * 16 + M * 8 + SZX); more than 3 bytes is a format error (RFC 7959 §2.2). */
function blockValueOf(bytes: Uint8Array): number {
  if (bytes.length > 3) decodeBlock(bytes); // throws the codec's CoapDecodeError
  let value = 0;
  for (let i = 0; i < bytes.length; i++) value = value * 256 + bytes[i];
  return value;
}

function sameOptionValue(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameBytes(a, b);
}
