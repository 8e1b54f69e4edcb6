/**
 * Reference counting as libcoap's `coap_session_reference` / `coap_session_release`: starts at 1; the owner's
 * `onZero` runs once when it reaches 0.
 */
import { CoapArgumentError } from '../errors';

/** A reference count. */
export class RefCount {
  #count = 1;
  readonly #onZero: () => void;

  constructor(onZero: () => void) {
    this.#onZero = onZero;
  }

  get count(): number {
    return this.#count;
  }

  /** Adds a reference; throws when already released. */
  reference(): number {
    if (this.#count === 0) throw new CoapArgumentError('the session was already released');
    return ++this.#count;
  }

  /** Drops a reference; at 0 runs `onZero`. Releasing a released session does nothing. */
  release(): number {
    if (this.#count === 0) return 0;
    if (--this.#count === 0) this.#onZero();
    return this.#count;
  }

  /** Drops every reference (context free). */
  releaseAll(): void {
    if (this.#count === 0) return;
    this.#count = 0;
    this.#onZero();
  }
}
