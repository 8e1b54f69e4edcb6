/**
 * The two replies the message layer sends on its own (RFC 7252 §4.2, §4.3): an empty ACK for a CON it accepts,
 * an RST for a message it cannot or will not process. Both are 4-byte Empty messages.
 */

/** An empty ACK (type 2, code 0.00) for `messageId`. */
export function emptyAck(messageId: number): Uint8Array {
  return Uint8Array.of(0x60, 0x00, messageId >> 8, messageId & 0xff);
}

/** An RST (type 3, code 0.00) for `messageId`. */
export function reset(messageId: number): Uint8Array {
  return Uint8Array.of(0x70, 0x00, messageId >> 8, messageId & 0xff);
}

/** An empty CON (CoAP ping, RFC 7252 §4.3) with `messageId`. */
export function emptyCon(messageId: number): Uint8Array {
  return Uint8Array.of(0x40, 0x00, messageId >> 8, messageId & 0xff);
}
