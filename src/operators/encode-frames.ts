/**
 * `encodeFrames(framing)`: PDUs to the frames a transport sends, with the codec the sessions use:
 * `encodeDatagram` (RFC 7252 §3), `encodeStreamFrame` (RFC 8323 §3.2) or `encodeWsMessage` (RFC 8323 §4).
 * Reliable framings have no message type or ID: those fields are ignored. A PDU that cannot be encoded (a
 * 9-byte token, a code above 255) errors the Observable with `CoapEncodeError`: it is the sender's bug.
 */
import { map, type OperatorFunction } from 'rxjs';
import type { CoapPdu, OutgoingPdu } from '../codec/pdu';
import { encodeStreamFrame } from '../codec/stream-codec';
import { encodeDatagram } from '../codec/udp-codec';
import { encodeWsMessage } from '../codec/ws-codec';
import { checkFraming } from './framing';

/**
 * Encodes PDUs as frames of `framing`.
 * @example `of(ping).pipe(encodeFrames('datagram')).subscribe((frame) => transport.send(frame))`
 */
export function encodeFrames(framing: 'datagram'): OperatorFunction<CoapPdu, Uint8Array>;
export function encodeFrames(framing: 'stream' | 'websocket'): OperatorFunction<OutgoingPdu, Uint8Array>;
export function encodeFrames(framing: 'datagram' | 'stream' | 'websocket'): OperatorFunction<CoapPdu, Uint8Array>;
export function encodeFrames(framing: 'datagram' | 'stream' | 'websocket'): OperatorFunction<CoapPdu, Uint8Array> {
  checkFraming(framing);
  const encode = framing === 'datagram' ? encodeDatagram : framing === 'stream' ? encodeStreamFrame : encodeWsMessage;
  return map((pdu: CoapPdu) => encode(pdu));
}
