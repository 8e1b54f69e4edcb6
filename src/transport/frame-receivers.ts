/**
 * The subscribers of a socket transport's `frames$`, for transports that own their socket's listener (Unix
 * datagrams, multicast): each subscription gets the frames from then on, unsubscribing removes it, and closing
 * completes them all. One array, made on the first subscription.
 */
import { Observable, type Subscriber } from 'rxjs';

/** The live subscribers of one transport's frames. */
export class FrameReceivers {
  #receivers: Subscriber<Uint8Array>[] | undefined;
  #closed = false;

  /** A new `frames$`: subscribing adds a receiver (completed at once once closed). */
  observable(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((receiver) => {
      if (this.#closed) {
        receiver.complete();
        return undefined;
      }
      (this.#receivers ??= []).push(receiver);
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

  /** Passes one frame to every receiver (a copy of the list: a receiver may unsubscribe while it runs). */
  deliver(frame: Uint8Array): void {
    const receivers = this.#receivers;
    if (receivers === undefined) return;
    if (receivers.length === 1) receivers[0].next(frame);
    else for (const receiver of receivers.slice()) receiver.next(frame);
  }

  /** Completes every receiver; later subscriptions complete at once. */
  close(): void {
    this.#closed = true;
    const receivers = this.#receivers;
    this.#receivers = undefined;
    for (const receiver of receivers ?? []) receiver.complete();
  }
}
