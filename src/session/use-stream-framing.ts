/**
 * Installs RFC 8323 §3.2 byte-stream framing (the Len/Extended-Length deframer and encoder) that sessions over
 * byte-stream transports (TCP, TLS, a serial line) run on. Kept out of the core's imports so that a browser app
 * speaking CoAP over WebSockets (one message per frame, RFC 8323 §4) does not bundle it (about 1 KB gzipped).
 */
import { encodeStreamFrame, StreamDeframer } from '../codec/stream-codec';
import type { OutgoingPdu } from '../codec/pdu';
import { installStreamFraming, type StreamFraming } from './reliable-stack';

/**
 * Makes sessions over byte-stream transports work: transports whose `framing` is `'stream'` (or that are
 * `reliable` and name no framing), such as a custom transport given as `transport` to `newClientSession` (a Web
 * Serial port, a Node Duplex). Call it once, before the first such session; calling it again does nothing new.
 *
 * `rxcoap/node` calls it (TCP and TLS). A browser app needs it only for a byte-stream transport of its own;
 * WebSocket sessions (`coap+ws://`) never do. A module that makes such a transport can call it in its factory
 * function, so that its users need not know (examples/serial-transport.ts does). Without it, a stream session's
 * requests fail with `CoapArgumentError` (`field` `'transport'`) saying to call this.
 *
 * @example
 * ```ts
 * import { CoapContext, useStreamFraming } from 'rxcoap';
 *
 * useStreamFraming();
 * const session = new CoapContext().newClientSession({ server: 'coap+tcp://device', transport: () => mySerialTransport() });
 * ```
 */
export function useStreamFraming(): void {
  installStreamFraming(STREAM_FRAMING);
}

const STREAM_FRAMING: StreamFraming = {
  deframer: (maxMessageSize: number) => new StreamDeframer({ maxMessageSize }),
  encode: (pdu: OutgoingPdu) => encodeStreamFrame(pdu),
};
