/**
 * Block1 uploads (RFC 7959 §2.5): a body larger than one block goes in blocks, each in its own exchange; the
 * server's 2.31 Continue drives the next one.
 *
 *   client                                           server
 *     | PUT Block1:0/1/64 Size1:300 Request-Tag:t       |
 *     |<-- 2.31 Block1:0/1/64                           |
 *     | PUT Block1:1/1/64 Request-Tag:t                 |
 *     |<-- 2.31 Block1:1/1/32                           |   smaller SZX: re-slice from byte 128
 *     | PUT Block1:4/1/32 Request-Tag:t                 |
 *     | ...                                             |
 *     | PUT Block1:9/0/32 Request-Tag:t                 |
 *     |<-- 2.04 Block1:9/0/32 (maybe Block2:0/1/..)     |   final response
 *
 * - One Request-Tag per body (RFC 9175 §3.4.1); a new attempt at the same body takes a new one.
 * - Size1 on the first block announces the total (RFC 7959 §4).
 * - 4.13 Request Entity Too Large: with Size1 below the body, the server will never take it
 *   ({@link CoapBlockError}); otherwise retried once in smaller blocks (RFC 7959 §2.9.3).
 * - 4.08 Request Entity Incomplete: the server lost track of the body ({@link CoapBlockError}).
 */
import { CoapBlockError } from '../errors';
import { blockSize, decodeBlock, encodeBlock, type BlockValue } from '../codec/block';
import { OptionNumber } from '../codec/option-numbers';
import { decodeUint, encodeUint } from '../codec/option-values';
import { codeToString, getOption, ResponseCode, withOption, type CoapOption, type CoapPdu } from '../codec/pdu';
import { capToSzx } from './block-size';
import type { RequestCallbacks, RequestTemplate } from './request';
import { wantsRequestTag, withRequestTag } from './request-tag';

/** How {@link startBlock1Transfer} runs. */
export interface Block1Config {
  /**
   * Sends one request and reports its response or error to `callbacks` (once, unless cancelled first); returns
   * the canceller. `first` is true for the very first message (user's token).
   */
  readonly send: (request: RequestTemplate, first: boolean, callbacks: RequestCallbacks) => () => void;
  /** Block size exponent to start with (0..6, or 7: BERT with `bertSize`). */
  readonly szx: number;
  /** BERT (SZX 7, RFC 8323 §6): payload bytes per message, a multiple of 1024. */
  readonly bertSize?: number;
  /** BlockMode `noPreemptiveRequestTag`: a Request-Tag only on bodies sent block-wise. */
  readonly noPreemptiveRequestTag: boolean;
  /** Makes a fresh Request-Tag value. */
  readonly newRequestTag: () => Uint8Array;
  /** Options for the message that completes the body (Size2 = 0, Block2 size control), applied to it only. */
  readonly finalOptions?: (options: readonly CoapOption[]) => CoapOption[];
}

/** How an upload ended. */
export interface Block1Outcome {
  /** The final response (not 2.31). */
  readonly response: CoapPdu;
  /** The body went block-wise. */
  readonly blockwise: boolean;
  /** The request as sent, last block's options included (Request-Tag of the body). */
  readonly sent: RequestTemplate;
}

/** Where {@link startBlock1Transfer} reports: exactly one is called, once, unless cancelled first. */
export interface Block1Callbacks {
  done(outcome: Block1Outcome): void;
  error(error: unknown): void;
}

/**
 * Sends `request`, splitting its payload into Block1 blocks when it does not fit one block of `config.szx`, and
 * reports the final response to `callbacks`. One closure per upload drives every block. A throw while
 * handling a response becomes `callbacks.error`. Returns the canceller.
 */
export function startBlock1Transfer(request: RequestTemplate, config: Block1Config, callbacks: Block1Callbacks): () => void {
  const body = request.payload;
  let stopped = false;
  let cancelInner: (() => void) | undefined;
  let sends = 0;
  let szx = config.szx;
  let blockwise = body.length > (szx === 7 ? (config.bertSize ?? 1024) : blockSize(szx));
  let retried = false;
  let first = true;
  let tagged = tagOptions(request.options);
  let offset = 0;
  // What the message in flight was: its request and, when block-wise, its Block1 value.
  let message: RequestTemplate = request;
  let sentBlock: BlockValue | undefined;

  function tagOptions(options: readonly CoapOption[]): readonly CoapOption[] {
    return wantsRequestTag(body.length, blockwise, config.noPreemptiveRequestTag) ? withRequestTag(options, config.newRequestTag()) : options;
  }

  const stop = (): void => {
    stopped = true;
    const cancel = cancelInner;
    cancelInner = undefined;
    cancel?.();
  };

  const fail = (error: unknown): void => {
    if (stopped) return;
    stop();
    callbacks.error(error);
  };

  const sendAt = (): void => {
    if (!blockwise) {
      sentBlock = undefined;
      message = { ...request, options: config.finalOptions?.(tagged) ?? tagged };
    } else {
      // BERT: several 1024-byte blocks per message; NUM still counts 1024-byte blocks (RFC 8323 §6).
      const size = szx === 7 ? (config.bertSize ?? 1024) : blockSize(szx);
      const end = Math.min(offset + size, body.length);
      sentBlock = { num: offset / blockSize(szx), more: end < body.length, szx };
      let options = withOption(tagged, OptionNumber.Block1, [encodeBlock(sentBlock)]);
      // RFC 7959 §4: Size1 with the first block tells the server the whole size up front.
      if (offset === 0) options = withOption(options, OptionNumber.Size1, [encodeUint(body.length)]);
      if (!sentBlock.more && config.finalOptions !== undefined) options = config.finalOptions(options);
      message = { ...request, options, payload: body.subarray(offset, end) };
    }
    const isFirst = first;
    first = false;
    const previous = cancelInner;
    cancelInner = undefined;
    previous?.();
    const id = ++sends;
    const cancel = config.send(message, isFirst, responseCallbacks);
    // A synchronous answer may already have sent the next block (and set its canceller).
    if (id === sends && !stopped) cancelInner = cancel;
  };

  const onResponse = (response: CoapPdu): void => {
    const sent = sentBlock;
    if (response.code === ResponseCode.RequestEntityTooLarge) {
      retryTooLarge(response, sent);
      return;
    }
    if (response.code === ResponseCode.RequestEntityIncomplete) {
      throw new CoapBlockError(`the server lost part of the body (4.08 Request Entity Incomplete) at byte ${offset}`);
    }
    const ack = blockOf(response);
    if (sent !== undefined && sent.more && response.code >> 5 === 2) {
      // RFC 7959 §2.3: 2.31 Continue (or, from older servers, any 2.xx echoing Block1 with M=1) asks for more.
      if (ack === undefined) throw new CoapBlockError(`the server answered block ${sent.num} with ${codeToString(response.code)} and no Block1 option`);
      if (ack.szx === sent.szx && sent.szx !== 7 && ack.num !== sent.num) {
        throw new CoapBlockError(`the server acknowledged block ${ack.num}, block ${sent.num} was sent`);
      }
      // RFC 7959 §2.5 (Figure 6): the whole block was taken; a smaller SZX applies from the next byte on.
      offset += message.payload.length;
      szx = Math.min(szx, ack.szx);
      sendAt();
      return;
    }
    if (response.code === ResponseCode.Continue) throw new CoapBlockError('2.31 Continue to the last block of the body');
    const outcome: Block1Outcome = { response, blockwise, sent: message };
    stop();
    callbacks.done(outcome);
  };

  const retryTooLarge = (response: CoapPdu, sent: BlockValue | undefined): void => {
    const limit = uintOf(response, OptionNumber.Size1);
    // RFC 7959 §2.9.3 and §4: Size1 in a 4.13 is the largest body the server takes.
    if (limit !== undefined && body.length > limit) {
      throw new CoapBlockError(`the body of ${body.length} bytes is larger than the server accepts (${limit} bytes)`);
    }
    if (retried) throw new CoapBlockError('the server still answers 4.13 Request Entity Too Large after a retry in smaller blocks');
    const sentSize = sent === undefined ? body.length : blockSize(sent.szx);
    if (sentSize <= 16) throw new CoapBlockError('4.13 Request Entity Too Large for a message of 16 bytes of body');
    // The server's Block1 in the 4.13 names the size it wants; else try the next smaller power of two.
    let next = blockOf(response)?.szx ?? capToSzx(sentSize - 1);
    if (limit !== undefined) next = Math.min(next, capToSzx(limit));
    if (blockSize(next) >= sentSize) next = capToSzx(sentSize - 1);
    retried = true;
    szx = next;
    blockwise = true;
    offset = 0;
    // A new attempt at the body is a new body for the server (RFC 9175 §3.4): a fresh Request-Tag.
    tagged = getOption({ options: request.options }, OptionNumber.RequestTag) === undefined ? withRequestTag(request.options, config.newRequestTag()) : request.options;
    sendAt();
  };

  // One callbacks object for every block: only one message is in flight at a time.
  const responseCallbacks: RequestCallbacks = {
    response(response) {
      if (stopped) return;
      cancelInner = undefined;
      try {
        onResponse(response);
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
    sendAt();
  } catch (error) {
    fail(error);
  }
  return stop;
}

function blockOf(pdu: CoapPdu): BlockValue | undefined {
  const value = getOption(pdu, OptionNumber.Block1);
  return value === undefined ? undefined : decodeBlock(value);
}

function uintOf(pdu: CoapPdu, number: number): number | undefined {
  const value = getOption(pdu, number);
  return value === undefined ? undefined : decodeUint(value);
}
