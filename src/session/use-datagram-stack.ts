/**
 * Installs the datagram stack: the message layer (RFC 7252 §4: CON/NON, message IDs, retransmission, ACK/RST,
 * deduplication) that sessions over datagram transports run on. Kept out of the core's imports so that a browser
 * app speaking CoAP over WebSockets does not bundle it (about 5 KB gzipped).
 */
import type { Transport } from '../transport/transport';
import { DatagramStack } from './datagram-stack';
import { installDatagramStack, type Stack, type StackConfig } from './pipeline';

/**
 * Makes sessions over datagram transports work: transports whose `framing` is `'datagram'` (or that are not
 * `reliable`), such as a custom transport given as `transport` to `newClientSession`. Call it once, before the
 * first such session; calling it again does nothing new.
 *
 * `rxcoap/node` calls it (UDP, DTLS and Unix datagram sockets), and so does `createFakeTransport` of
 * `rxcoap/testing`. A browser app needs it only for a datagram transport of its own, e.g. over a WebRTC data
 * channel or a MessagePort; WebSocket sessions (`coap+ws://`) never do. A module that makes such a transport can
 * call it in its factory function, so that its users need not know (examples/worker-transport.ts does). Without
 * it, a datagram session's requests fail with `CoapArgumentError` (`field` `'transport'`) saying to call this.
 *
 * @example
 * ```ts
 * import { CoapContext, useDatagramStack } from 'rxcoap';
 *
 * useDatagramStack();
 * const session = new CoapContext().newClientSession({ server: 'coap://device', transport: () => myDatagramTransport() });
 * ```
 */
export function useDatagramStack(): void {
  installDatagramStack(datagramStack);
}

function datagramStack(transport: Transport, config: StackConfig): Stack {
  return new DatagramStack(transport, config);
}
