/**
 * `decodeFrames(framing)`: the framing step under a stack, as an operator. Turns what a transport's `frames$`
 * emits into PDUs with the codec the sessions use (src/codec):
 * - `'datagram'`: one frame is one RFC 7252 message (`decodeDatagram`). A frame that is not CoAP is dropped and
 *   reported to `onDecodeError` (RFC 7252 §4.2: a bad datagram is ignored, the association lives on);
 * - `'stream'`: frames are chunks of an RFC 8323 §3.2 byte stream cut anywhere, joined by one `StreamDeframer`
 *   per subscription; a malformed stream cannot be resynchronized, so the Observable errors with the fatal
 *   `CoapDecodeError`;
 * - `'websocket'`: one frame is one RFC 8323 §4 message (`decodeWsMessage`); a malformed one is fatal too.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { CoapDecodeError } from '../errors';
import type { CoapPdu } from '../codec/pdu';
import { StreamDeframer } from '../codec/stream-codec';
import { decodeDatagram } from '../codec/udp-codec';
import { decodeWsMessage } from '../codec/ws-codec';
import type { Framing } from '../transport/transport';
import { checkFraming } from './framing';

/** Options of {@link decodeFrames}. */
export interface DecodeFramesOptions {
  /**
   * `'stream'` only: the largest frame accepted, in bytes; a longer one is a fatal `'MESSAGE_TOO_LARGE'` error
   * before its body is buffered (RFC 8323 §5.3.1: the Max-Message-Size this side advertises).
   * @defaultValue 1152
   */
  readonly maxMessageSize?: number;
  /** `'datagram'` only: called with each dropped datagram's error. */
  readonly onDecodeError?: (error: CoapDecodeError, frame: Uint8Array) => void;
}

/**
 * Decodes frames into PDUs; see the module comment for what each framing does with a bad frame.
 * Reliable framings give PDUs of type CON with message ID 0 (there are none on the wire).
 * @example `transport.frames$.pipe(decodeFrames('stream'))`
 */
export function decodeFrames(framing: Framing, options: DecodeFramesOptions = {}): OperatorFunction<Uint8Array, CoapPdu> {
  checkFraming(framing);
  const onDecodeError = options.onDecodeError;
  return (source) =>
    new Observable<CoapPdu>((subscriber) => {
      const deframer = framing === 'stream' ? new StreamDeframer({ maxMessageSize: options.maxMessageSize }) : undefined;
      return source.subscribe({
        next(frame) {
          if (framing === 'datagram') {
            let pdu: CoapPdu;
            try {
              pdu = decodeDatagram(frame);
            } catch (error) {
              // Guarded: a throwing callback must not tear down the stream of datagrams.
              try {
                if (error instanceof CoapDecodeError) onDecodeError?.(error, frame);
                else throw error;
              } catch (callbackError) {
                subscriber.error(callbackError);
              }
              return;
            }
            subscriber.next(pdu);
            return;
          }
          let pdus: CoapPdu[];
          try {
            pdus = deframer !== undefined ? deframer.push(frame) : [decodeWsMessage(frame)];
          } catch (error) {
            subscriber.error(error); // RFC 8323 §5.6: fatal, the connection is to be aborted
            return;
          }
          for (let i = 0; i < pdus.length && !subscriber.closed; i++) subscriber.next(pdus[i]);
        },
        error: (error) => subscriber.error(error),
        complete() {
          // A byte stream that ends inside a frame lost that frame: say so instead of completing quietly.
          if (deframer !== undefined && !deframer.idle) {
            subscriber.error(new CoapDecodeError('BAD_FRAME', 'the stream ended inside a frame', { fatal: true }));
          } else subscriber.complete();
        },
      });
    });
}
