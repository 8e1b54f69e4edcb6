/**
 * `joinBlocks()`: block-wise partial responses (block mode without `singleBody`, RFC 7959 §2.4) into one response
 * with the whole body, for code that wants the parts' progress on one path and the body on another. Each part's
 * `progress` (offset, received, total, complete) says where it goes; a response without `progress` is whole
 * already and passes through.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { CoapBlockError } from '../errors';
import { OptionNumber } from '../codec/option-numbers';
import { withoutOption } from '../codec/pdu';
import { CoapResponse } from '../exchange/response';
import { checkOptionalInteger } from '../validate';

/** Options of {@link joinBlocks}. */
export interface JoinBlocksOptions {
  /** Largest body joined, in bytes; a larger one errors with `CoapBlockError`. @defaultValue 16 MiB */
  readonly maxBodySize?: number;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

/**
 * Emits one response per block-wise body: the last part's header (code, type, token) with the first part's options
 * without Block2 (ETag, Content-Format, Max-Age: what the transfer engine puts on a single body), and every part's
 * bytes in order. A part that does not start where the body ends errors with `CoapBlockError`, and so does a
 * source that completes in the middle of a body.
 * @example `session.get('/firmware').pipe(tap(showProgress), joinBlocks())` (block mode `{ singleBody: false }`)
 */
export function joinBlocks(options: JoinBlocksOptions = {}): OperatorFunction<CoapResponse, CoapResponse> {
  checkOptionalInteger(options.maxBodySize, 'maxBodySize', 0, Number.MAX_SAFE_INTEGER);
  const maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY;
  return (source) =>
    new Observable<CoapResponse>((subscriber) => {
      let first: CoapResponse | undefined;
      let body: Uint8Array | undefined;
      let length = 0;
      return source.subscribe({
        next(part) {
          const progress = part.progress;
          if (progress === undefined) {
            subscriber.next(part);
            return;
          }
          if (progress.offset === 0) {
            // Block 0: a (re)started body. The engine restarts at 0 when the ETag changes (RFC 7959 §2.4).
            first = part;
            length = 0;
            body = new Uint8Array(Math.min(progress.total ?? Math.max(part.payload.length, 1024), maxBodySize));
          } else if (first === undefined || progress.offset !== length) {
            subscriber.error(new CoapBlockError(`a part at byte ${progress.offset} does not follow the ${length} bytes joined so far`));
            return;
          }
          const end = length + part.payload.length;
          if (end > maxBodySize) {
            subscriber.error(new CoapBlockError(`the body grows past maxBodySize ${maxBodySize} bytes`));
            return;
          }
          if (end > body!.length) {
            const grown = new Uint8Array(Math.min(Math.max(end, body!.length * 2), maxBodySize));
            grown.set(body!.subarray(0, length));
            body = grown;
          }
          body!.set(part.payload, length);
          length = end;
          if (!progress.complete) return;
          const head = first!;
          const whole = length === body!.length ? body! : body!.slice(0, length);
          first = undefined;
          body = undefined;
          length = 0;
          const pdu = { type: part.type, code: part.code, messageId: part.messageId, token: part.token, options: withoutOption(head.options, OptionNumber.Block2) };
          subscriber.next(new CoapResponse({ ...pdu, payload: whole }, part.remote));
        },
        error: (error) => subscriber.error(error),
        complete() {
          if (first !== undefined) subscriber.error(new CoapBlockError(`the responses ended after ${length} bytes of a block-wise body`));
          else subscriber.complete();
        },
      });
    });
}
