/**
 * The request fast path of a session: one object per plain request (no Observable chain), handing over to the
 * block-wise machinery only when the response asks for it (more blocks, an Echo).
 */
import { map, type Subscriber, type Subscription } from 'rxjs';
import type { CoapPdu } from '../codec/pdu';
import { continueAfterResponse, needsFollowUp, type BlockwiseOptions, type BlockwiseResult } from '../exchange/blockwise';
import { RequestExchange, type RequestTemplate } from '../exchange/request';
import { CoapResponse } from '../exchange/response';
import type { FailureWatcher, Stack } from './pipeline';
import type { RequestInit } from './request-init';

/** A block-wise result as the response the user sees. */
export function toResponse(result: BlockwiseResult, stack: Stack): CoapResponse {
  return new CoapResponse(result.pdu, stack.peer, { payload: result.payload, progress: result.progress });
}

/**
 * One plain request on the session's fast path: the exchange itself (it extends {@link RequestExchange}), it
 * watches the stack for failure and turns the response into a `CoapResponse`, handing over to the block-wise
 * machinery only when the response asks for it. One object per request instead of a nest of closures; it is
 * the subscription's teardown too.
 */
export class SessionRequest extends RequestExchange implements FailureWatcher {
  readonly #stack: Stack;
  readonly #request: RequestTemplate;
  readonly #blockwise: BlockwiseOptions | undefined;
  readonly #subscriber: Subscriber<CoapResponse>;
  #followUp: Subscription | undefined;
  previousWatcher: FailureWatcher | null = null;
  nextWatcher: FailureWatcher | null = null;

  constructor(stack: Stack, request: RequestTemplate, init: RequestInit, blockwise: BlockwiseOptions | undefined, subscriber: Subscriber<CoapResponse>) {
    super(stack, init);
    this.#stack = stack;
    this.#request = request;
    this.#blockwise = blockwise;
    this.#subscriber = subscriber;
    stack.watch(this); // fails the subscriber at once when the stack already failed
    if (!subscriber.closed) this.start(request);
  }

  protected override exchangeResponse(pdu: CoapPdu): void {
    const stack = this.#stack;
    if (this.#blockwise !== undefined && needsFollowUp(pdu)) {
      this.#followUp = continueAfterResponse(stack, this.#request, pdu, this.#blockwise)
        .pipe(map((result) => toResponse(result, stack)))
        .subscribe(this.#subscriber);
      return;
    }
    this.#subscriber.next(new CoapResponse(pdu, stack.peer));
    this.#subscriber.complete();
  }

  protected override exchangeError(error: unknown): void {
    this.#subscriber.error(error);
  }

  stackFailed(error: unknown): void {
    this.#subscriber.error(error);
  }

  unsubscribe(): void {
    this.#stack.unwatch(this);
    if (this.waitingForResponse) this.cancel(); // answered: nothing to cancel (no call)
    this.#followUp?.unsubscribe();
  }
}
