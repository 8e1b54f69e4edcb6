/**
 * Capabilities and Settings Messages (RFC 8323 §5.3): what each side of a reliable connection tells the other
 * first. Pure functions: building our CSM and reading the peer's.
 *
 *   7.01 CSM   Max-Message-Size (2, uint)   largest message the sender can receive; 1152 until a CSM says more
 *              Block-Wise-Transfer (4, empty) the sender supports block-wise transfers, and BERT (RFC 8323 §6)
 */
import { SignalOption } from '../codec/option-numbers';
import { decodeUint, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, SignalCode, type CoapOption, type CoapPdu } from '../codec/pdu';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../codec/stream-codec';

/** What a CSM says (and what holds before one arrived). */
export interface PeerCapabilities {
  /** RFC 8323 §5.3.1: the largest message the peer accepts, in bytes. */
  readonly maxMessageSize: number;
  /** RFC 8323 §5.3.2: the peer supports block-wise transfers, including BERT. */
  readonly blockWiseTransfer: boolean;
}

/** RFC 8323 §5.3: what may be assumed of a peer before its CSM arrives. */
export const BASE_CAPABILITIES: PeerCapabilities = { maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE, blockWiseTransfer: false };

/**
 * Our CSM. Never empty: libcoap's WebSocket server drops messages of 2 bytes or less, so Max-Message-Size is
 * always sent, even when it is the default.
 */
export function csmPdu(maxMessageSize: number, blockWiseTransfer: boolean): CoapPdu {
  const options: CoapOption[] = [{ number: SignalOption.MaxMessageSize, value: encodeUint(maxMessageSize) }];
  if (blockWiseTransfer) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
  return { type: 0, code: SignalCode.CSM, messageId: 0, token: EMPTY_BYTES, options, payload: EMPTY_BYTES };
}

/**
 * The capabilities a CSM from the peer gives, on top of what held before (RFC 8323 §5.3: a later CSM updates
 * only what it carries).
 */
export function readCsm(pdu: CoapPdu, previous: PeerCapabilities): PeerCapabilities {
  let { maxMessageSize, blockWiseTransfer } = previous;
  for (const option of pdu.options) {
    if (option.number === SignalOption.MaxMessageSize && option.value.length <= 4) maxMessageSize = decodeUint(option.value);
    else if (option.number === SignalOption.BlockWiseTransfer) blockWiseTransfer = true;
  }
  return { maxMessageSize, blockWiseTransfer };
}
