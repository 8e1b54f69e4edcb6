/** The framings the frame operators take, checked at the call (a wrong name is a programming error). */
import type { Framing } from '../transport/transport';
import { invalidArgument } from '../validate';

const FRAMINGS: ReadonlySet<unknown> = new Set<Framing>(['datagram', 'stream', 'websocket']);

/** Throws `CoapArgumentError` unless `framing` is `'datagram'`, `'stream'` or `'websocket'`. */
export function checkFraming(framing: unknown): asserts framing is Framing {
  if (!FRAMINGS.has(framing)) throw invalidArgument('framing', "must be 'datagram', 'stream' or 'websocket'", framing);
}
