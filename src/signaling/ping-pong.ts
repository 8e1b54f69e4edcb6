/**
 * Ping and Pong (RFC 8323 §5.4): either side may send a Ping (7.02) at any time; the other answers with a Pong
 * (7.03) carrying the same token. With Custody (option 2) the sender asks the receiver to have processed
 * everything it got before answering: we answer every Ping in order, after what came before it, so Custody is
 * always honoured and echoed.
 */
import { SignalOption } from '../codec/option-numbers';
import { EMPTY_BYTES, SignalCode, type CoapOption, type CoapPdu } from '../codec/pdu';

const CUSTODY: readonly CoapOption[] = [{ number: SignalOption.Custody, value: EMPTY_BYTES }];
const NONE: readonly CoapOption[] = [];

/** A Ping with `token`, asking for custody when `custody` is set. */
export function pingPdu(token: Uint8Array, custody = false): CoapPdu {
  return { type: 0, code: SignalCode.Ping, messageId: 0, token, options: custody ? CUSTODY : NONE, payload: EMPTY_BYTES };
}

/** The Pong that answers `ping` (same token; Custody echoed when asked for). */
export function pongFor(ping: CoapPdu): CoapPdu {
  const custody = ping.options.some((option) => option.number === SignalOption.Custody);
  return { type: 0, code: SignalCode.Pong, messageId: 0, token: ping.token, options: custody ? CUSTODY : NONE, payload: EMPTY_BYTES };
}
