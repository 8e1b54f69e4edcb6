/**
 * Block-wise requests (RFC 7959, RFC 9175): the entry point `session.request()` uses when the library does
 * block-wise transfers (libcoap `COAP_BLOCK_USE_LIBCOAP`). One request becomes:
 *
 *   body larger than a block?  ── yes ──► Block1 upload (block1.ts) ─┐
 *            │ no                                                    ├─► final response has Block2 M=1?
 *            └──────────────► one request ───────────────────────────┘      yes ► Block2 download (block2.ts)
 *
 * Every message goes through {@link echoSender} (fresh token, RFC 9175 §2 Echo). Block sizes come from the
 * path MTU ({@link chooseBlockSzx}), the context's `maxBlockSize` and the request's hints.
 */
import { Observable } from 'rxjs';
import { blockSize, decodeBlock, encodeBlock, sizeToSzx } from '../codec/block';
import { OptionNumber } from '../codec/option-numbers';
import { decodeUint } from '../codec/option-values';
import { EMPTY_BYTES, getOption, Method, ResponseCode, withOption, withoutOption, type CoapOption, type CoapPdu } from '../codec/pdu';
import { startBlock1Transfer, type Block1Outcome } from './block1';
import { BERT_SZX, chooseBertSize, chooseBlockSzx, MAX_SZX, messageOverhead, RESPONSE_OPTIONS_ALLOWANCE } from './block-size';
import { followUpTemplate, responseBlock2, startBlock2Transfer, type BlockwiseEvent, type BlockwiseResult, type BlockwiseSink } from './block2';
import { echoSender, withEchoValue, type EchoState } from './echo';
import type { ExchangeContext } from './exchange-context';
import { startRequest, type RequestTemplate } from './request';
import { newRequestTag, REQUEST_TAG_LENGTH } from './request-tag';

export type { BlockwiseEvent, BlockwiseResult } from './block2';

/** Options of {@link blockwiseRequest}. */
export interface BlockwiseOptions {
  /** Send as CON. @defaultValue true */
  readonly confirmable?: boolean;
  /** Token of the first message (follow-ups always take fresh ones). */
  readonly token?: Uint8Array;
  /** Largest CoAP message to send, header excluded, in bytes (libcoap `coap_session_max_pdu_size`). */
  readonly maxPduSize: number;
  /** Largest block size to use, in bytes (16..1024). */
  readonly maxBlockSize: number;
  /** Emit one result with the whole body (true) or every block with progress (false). */
  readonly singleBody: boolean;
  /** A Request-Tag only on bodies sent block-wise (libcoap `COAP_BLOCK_NO_PREEMPTIVE_RTAG`). */
  readonly noPreemptiveRequestTag: boolean;
  /** Largest body a download may grow to, in bytes. */
  readonly maxBodySize: number;
  /** Restarts after an ETag change mid-download before failing. @defaultValue 3 */
  readonly maxEtagRestarts?: number;
  /** Block2 hint: block size, and with `num` > 0 random access to that one block (coap-client `-b num,size`). */
  readonly block2?: { readonly num?: number; readonly size: number };
  /** Block1 size hint, in bytes. */
  readonly block1Size?: number;
  /**
   * Both CSMs carry Block-Wise-Transfer (RFC 8323 §6): BERT (SZX 7) for uploads that fit two or more 1024-byte
   * blocks per message, and BERT blocks taken in downloads. Reliable transports only.
   */
  readonly bert?: boolean;
  /** The session's Echo state (RFC 9175 §2). */
  readonly echo?: EchoState;
  /** Source of Request-Tag bytes, uniform in [0, 1). @defaultValue `crypto.getRandomValues` */
  readonly random?: () => number;
  /** Block-wise events, e.g. a restart after an ETag change. */
  readonly onEvent?: (event: BlockwiseEvent) => void;
}

/** Bytes the library may add to a request's options: Request-Tag, Size1, Size2 (each with a 2-byte extended delta). */
const ADDED_OPTIONS_SIZE = 3 + REQUEST_TAG_LENGTH + (3 + 4) + 3;

/** Largest Echo option (RFC 9175 §2.2.1: 40 bytes of value). */
const MAX_ECHO_OPTION_SIZE = 3 + 40;

/** RFC 7252 §5.3.1: tokens are at most 8 bytes; sizes are chosen before the token is. */
const MAX_TOKEN_LENGTH = 8;

/**
 * Sends `request` with block-wise transfers as needed and emits the response: once with the whole body
 * (`singleBody`), or once per block with progress. Cold; unsubscribing stops the transfer at once.
 */
export function blockwiseRequest(ctx: ExchangeContext, request: RequestTemplate, options: BlockwiseOptions): Observable<BlockwiseResult> {
  return new Observable<BlockwiseResult>((subscriber) => {
    const confirmable = options.confirmable ?? true;
    const echo = options.echo;
    // One sender for every message of the request: they go one at a time (upload blocks, then download blocks).
    const send = echoSender(ctx, { confirmable, echo });

    // A Block2 option set by hand counts as the hint (random access when its NUM > 0).
    const given = getOption(request, OptionNumber.Block2);
    const hint = options.block2 ?? (given === undefined ? undefined : fromBlockValue(given));
    const base: RequestTemplate = given === undefined ? request : { ...request, options: withoutOption(request.options, OptionNumber.Block2) };

    const overhead =
      messageOverhead(MAX_TOKEN_LENGTH, base.options) + ADDED_OPTIONS_SIZE + (echo?.pending === true ? MAX_ECHO_OPTION_SIZE : 0);
    const block1Cap = Math.min(options.maxBlockSize, options.block1Size ?? 1024);
    // RFC 8323 §6: BERT when both CSMs carry Block-Wise-Transfer and at least two 1024-byte blocks fit a message.
    const bertSize = options.bert === true && block1Cap >= 1024 ? chooseBertSize(options.maxPduSize, overhead) : 0;
    const block1Szx = bertSize > 0 ? BERT_SZX : chooseBlockSzx(options.maxPduSize, overhead, block1Cap);
    // The blocks we receive carry the server's options, not ours: reserve room for those too.
    const responseOverhead = Math.max(overhead, MAX_TOKEN_LENGTH + RESPONSE_OPTIONS_ALLOWANCE);
    let block2Szx = chooseBlockSzx(options.maxPduSize, responseOverhead, Math.min(options.maxBlockSize, hint?.size ?? 1024));
    const randomAccess = hint?.num !== undefined && hint.num > 0;
    if (randomAccess) block2Szx = sizeToSzx(hint!.size);

    // RFC 7959 §2.4 early negotiation: ask for smaller blocks in the first request when the path needs them;
    // RFC 7959 §4: Size2 = 0 asks the server for the total, so the progress of partial results has one (a
    // single body has no progress, and small requests stay as small as the user made them).
    const finalOptions = (sent: readonly CoapOption[]): CoapOption[] => {
      let out = sent as CoapOption[];
      if (randomAccess || hint !== undefined || block2Szx < MAX_SZX) {
        out = withOption(out, OptionNumber.Block2, [encodeBlock({ num: hint?.num ?? 0, more: false, szx: block2Szx })]);
      }
      if (!options.singleBody && getOption({ options: out }, OptionNumber.Size2) === undefined) out = withOption(out, OptionNumber.Size2, [EMPTY_BYTES]);
      return out;
    };

    // Upload (if any), then download (if any), each block an exchange of its own. Two cancellers: the upload
    // may end synchronously (a fast fake transport), having started the download before its own canceller is
    // returned; cancelling an upload that ended does nothing.
    let cancelDownload: (() => void) | undefined;
    const afterUpload = (outcome: Block1Outcome): void => {
      const response = outcome.response;
      const block = responseBlock2(response);
      if (block === undefined) {
        subscriber.next({ pdu: response, payload: response.payload });
        subscriber.complete();
        return;
      }
      if (randomAccess) {
        // One block asked for, one block given: no continuation.
        const offset = block.num * blockSize(block.szx);
        const size2 = getOption(response, OptionNumber.Size2);
        subscriber.next({
          pdu: response,
          payload: response.payload,
          progress: {
            offset,
            received: offset + response.payload.length,
            total: size2 === undefined ? undefined : decodeUint(size2),
            complete: !block.more,
          },
        });
        subscriber.complete();
        return;
      }
      cancelDownload = startBlock2Transfer(
        followUpFor(outcome.sent, outcome.blockwise),
        response,
        {
          send,
          singleBody: options.singleBody,
          maxBodySize: options.maxBodySize,
          maxEtagRestarts: options.maxEtagRestarts,
          maxSzx: bertDownload(options, hint) ? BERT_SZX : block2Szx,
          bert: options.bert,
          onEvent: options.onEvent,
        },
        subscriber,
      );
    };
    const cancelUpload = startBlock1Transfer(
      base,
      {
        send: (message, first, callbacks) => send(message, callbacks, first ? options.token : undefined),
        szx: block1Szx,
        bertSize,
        noPreemptiveRequestTag: options.noPreemptiveRequestTag,
        newRequestTag: () => newRequestTag(options.random),
        finalOptions,
      },
      {
        done(outcome) {
          try {
            afterUpload(outcome);
          } catch (error) {
            subscriber.error(error);
          }
        },
        error: (error) => subscriber.error(error),
      },
    );
    return () => {
      cancelUpload();
      cancelDownload?.();
    };
  });
}

/** Options of {@link completeBlock2Body}. */
export type CompleteBlock2Options = Pick<
  BlockwiseOptions,
  'confirmable' | 'maxPduSize' | 'maxBlockSize' | 'maxBodySize' | 'maxEtagRestarts' | 'echo' | 'onEvent' | 'bert'
>;

/**
 * Completes a body whose first block arrived in `firstResponse` (an Observe notification with Block2 M=1):
 * fetches the remaining blocks without Observe (RFC 7959 §3.4) and emits the whole body once.
 */
export function completeBlock2Body(
  ctx: ExchangeContext,
  request: RequestTemplate,
  firstResponse: CoapPdu,
  options: CompleteBlock2Options,
): Observable<BlockwiseResult> {
  return new Observable<BlockwiseResult>((subscriber) => startBody(ctx, request, firstResponse, options, subscriber));
}

/** {@link completeBlock2Body} imperatively: reports to `sink`, returns the canceller. */
function startBody(ctx: ExchangeContext, request: RequestTemplate, firstResponse: CoapPdu, options: CompleteBlock2Options, sink: BlockwiseSink): () => void {
  const overhead = Math.max(messageOverhead(MAX_TOKEN_LENGTH, request.options), MAX_TOKEN_LENGTH + RESPONSE_OPTIONS_ALLOWANCE);
  return startBlock2Transfer(
    followUpFor(request, false),
    firstResponse,
    {
      send: echoSender(ctx, { confirmable: options.confirmable ?? true, echo: options.echo }),
      singleBody: true,
      maxBodySize: options.maxBodySize,
      maxEtagRestarts: options.maxEtagRestarts,
      maxSzx: bertDownload(options, undefined) ? BERT_SZX : chooseBlockSzx(options.maxPduSize, overhead, options.maxBlockSize),
      bert: options.bert,
      onEvent: options.onEvent,
    },
    sink,
  );
}

/**
 * The request Block2 follow-ups repeat. After a Block1 upload the body is not sent again (RFC 7959 §3.2,
 * Figure 11); a FETCH body that fit one message is, since it selects the representation (RFC 8132 §2).
 */
function followUpFor(sent: RequestTemplate, uploaded: boolean): RequestTemplate {
  let options = withoutOption(withoutOption(sent.options, OptionNumber.Block1), OptionNumber.Size1);
  const keepBody = !uploaded && sent.code === Method.FETCH;
  if (!keepBody && getOption(sent, OptionNumber.ContentFormat) !== undefined) options = withoutOption(options, OptionNumber.ContentFormat);
  return followUpTemplate({ ...sent, options, payload: keepBody ? sent.payload : EMPTY_BYTES });
}

function fromBlockValue(value: Uint8Array): { num: number; size: number } {
  const block = decodeBlock(value);
  return { num: block.num, size: blockSize(Math.min(block.szx, MAX_SZX)) };
}

/**
 * True when `request` goes on the wire exactly as given under these options: no body to split, no Block2 hint
 * or early negotiation (the path takes 1024-byte blocks), no Size2, no Echo to carry. Such a request can take
 * the session's fast path, and only its response says whether block-wise work follows
 * ({@link needsFollowUp}, {@link continueAfterResponse}).
 */
export function sendsAsIs(request: RequestTemplate, options: BlockwiseOptions): boolean {
  if (request.payload.length > 0 || !options.singleBody || options.block2 !== undefined || options.echo?.pending === true) return false;
  // The per-request path: the same (shared, immutable) option list under the same options object gives the
  // same answer, so the last one is kept (a request stream to one path measures its options once).
  if (request.options === lastOptions && options.maxPduSize === lastMaxPduSize && options.maxBlockSize === lastMaxBlockSize) return lastAnswer;
  if (getOption(request, OptionNumber.Block2) !== undefined) return false;
  const overhead = messageOverhead(MAX_TOKEN_LENGTH, request.options) + ADDED_OPTIONS_SIZE;
  const responseOverhead = Math.max(overhead, MAX_TOKEN_LENGTH + RESPONSE_OPTIONS_ALLOWANCE);
  const answer = chooseBlockSzx(options.maxPduSize, responseOverhead, options.maxBlockSize) === MAX_SZX;
  lastOptions = request.options;
  lastMaxPduSize = options.maxPduSize;
  lastMaxBlockSize = options.maxBlockSize;
  lastAnswer = answer;
  return answer;
}

/** The last answer of {@link sendsAsIs}, by option list identity and sizes (one slot for the whole process). */
let lastOptions: readonly CoapOption[] | undefined;
let lastMaxPduSize = -1;
let lastMaxBlockSize = -1;
let lastAnswer = false;

/** True when the response of a sent-as-is request starts more work: an Echo (RFC 9175 §2) or more blocks. */
export function needsFollowUp(response: CoapPdu): boolean {
  // One pass over the options, not a lookup per option (every response of the session comes here).
  const options = response.options;
  let block2Seen = false;
  for (let i = 0; i < options.length; i++) {
    const number = options[i].number;
    if (number === OptionNumber.Echo) return true;
    if (number === OptionNumber.Block2 && !block2Seen) {
      block2Seen = true; // the first Block2 counts, as getOption reads it
      if (decodeBlock(options[i].value).more) return true;
    }
  }
  return false;
}

/**
 * Finishes what the first response of a sent-as-is request started: answers a 4.01 Echo challenge once
 * (RFC 9175 §2.3), keeps an Echo from a 2.xx for the next request, and fetches the remaining blocks when
 * Block2 says more (whole body, like {@link blockwiseRequest} with `singleBody`).
 */
export function continueAfterResponse(ctx: ExchangeContext, request: RequestTemplate, response: CoapPdu, options: CompleteBlock2Options): Observable<BlockwiseResult> {
  return new Observable<BlockwiseResult>((subscriber) => {
    let cancelBody: (() => void) | undefined;
    const finish = (pdu: CoapPdu): void => {
      if (responseBlock2(pdu)?.more === true) {
        cancelBody = startBody(ctx, request, pdu, options, subscriber);
        return;
      }
      subscriber.next({ pdu, payload: pdu.payload });
      subscriber.complete();
    };
    const echo = getOption(response, OptionNumber.Echo);
    if (echo !== undefined && response.code === ResponseCode.Unauthorized) {
      const cancelRetry = startRequest(ctx, withEchoValue(request, echo), { confirmable: options.confirmable }, {
        response(retried) {
          try {
            const next = getOption(retried, OptionNumber.Echo);
            if (next !== undefined && retried.code !== ResponseCode.Unauthorized) options.echo?.remember(next);
            finish(retried);
          } catch (error) {
            subscriber.error(error);
          }
        },
        error: (error) => subscriber.error(error),
      });
      return () => {
        cancelRetry(); // does nothing once answered
        cancelBody?.();
      };
    }
    if (echo !== undefined) options.echo?.remember(echo);
    finish(response);
    return () => cancelBody?.();
  });
}

/** Downloads take the server's BERT blocks when both sides do BERT and no smaller size was asked for. */
function bertDownload(options: Pick<BlockwiseOptions, 'bert' | 'maxBlockSize'>, hint: { readonly size: number } | undefined): boolean {
  return options.bert === true && options.maxBlockSize >= 1024 && (hint === undefined || hint.size >= 1024);
}
