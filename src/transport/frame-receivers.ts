/**
 * The subscribers of a socket transport's `frames$`, for transports that own their socket's listener (TCP,
 * WebSockets, Unix datagrams, multicast): each subscription gets the frames from then on, unsubscribing removes
 * it, and closing completes them all. One array, made on the first subscription. With `keepEarly`, frames that
 * arrive before the first subscription are kept for it (a server's CSM may come in the tick the connection opens).
 */
import { Observable, type Subscriber } from 'rxjs';

/** The live subscribers of one transport's frames. */
export class FrameReceivers {
  #receivers: Subscriber<Uint8Array>[] | undefined;
  #early: Uint8Array[] | undefined;
  /** Set from the start unless `keepEarly`: frames nobody listens to are dropped. */
  #subscribedOnce: boolean;
  #closed = false;

  constructor(keepEarly = false) {
    this.#subscribedOnce = !keepEarly;
  }

  /** A new `frames$`: subscribing adds a receiver (completed at once once closed). */
  observable(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((receiver) => {
      if (this.#closed) {
        receiver.complete();
        return undefined;
      }
      (this.#receivers ??= []).push(receiver);
      if (!this.#subscribedOnce) {
        this.#subscribedOnce = true;
        const early = this.#early;
        this.#early = undefined;
        if (early !== undefined) for (const frame of early) receiver.next(frame);
      }
      return () => {
        const receivers = this.#receivers;
        const index = receivers === undefined ? -1 : receivers.indexOf(receiver);
        if (index >= 0) receivers!.splice(index, 1);
      };
    });
  }

  /** True when someone listens. */
  get listening(): boolean {
    return this.#receivers !== undefined && this.#receivers.length > 0;
  }

  /**
   * Passes one frame to every receiver (a copy of the list: a receiver may unsubscribe while it runs); with
   * nobody subscribed yet and `keepEarly`, keeps it for the first.
   */
  deliver(frame: Uint8Array): void {
    const receivers = this.#receivers;
    if (receivers === undefined || receivers.length === 0) {
      if (!this.#subscribedOnce) (this.#early ??= []).push(frame);
      return;
    }
    if (receivers.length === 1) receivers[0].next(frame);
    else for (const receiver of receivers.slice()) receiver.next(frame);
  }

  /** Later subscriptions complete at once and kept frames are dropped; the receivers stay as they are. */
  stop(): void {
    this.#closed = true;
    this.#early = undefined;
  }

  /** Completes every receiver; later subscriptions complete at once. */
  close(): void {
    this.stop();
    const receivers = this.#receivers;
    this.#receivers = undefined;
    for (const receiver of receivers ?? []) receiver.complete();
  }
}
