/**
 * A transport whose datagrams pass the logger's `pdu` tracing (coap-client `-v 7`): the one place a session
 * looks at raw frames. Reliable stacks trace after deframing instead (the stack's `trace`).
 */
import { map } from 'rxjs';
import type { Transport } from '../transport/transport';

/** `transport` with every frame sent and received passed to `trace` first. */
export function tracedTransport<T extends Transport>(
  transport: T,
  trace: (direction: 'sent' | 'received', frame: Uint8Array) => void,
): Transport {
  return {
    ...transport,
    frames$: transport.frames$.pipe(map((frame) => (trace('received', frame), frame))),
    send(frame) {
      trace('sent', frame);
      transport.send(frame);
    },
    // Methods live on the prototype of a class transport, which the spread above does not copy.
    frameSource: transport.frameSource?.bind(transport),
    reply:
      transport.reply === undefined
        ? undefined
        : (frame) => {
            trace('sent', frame);
            transport.reply!(frame);
          },
    multicast: transport.multicast,
    setMulticastHops: transport.setMulticastHops?.bind(transport),
    events$: transport.events$,
    maxFrameOverhead: transport.maxFrameOverhead,
    reliable: transport.reliable,
    local: transport.local,
    remote: transport.remote,
  };
}

