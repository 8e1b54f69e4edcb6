/**
 * Release (7.04) and Abort (7.05), RFC 8323 §5.5-5.6: the graceful and the abrupt end of a reliable connection.
 *
 *   7.04 Release  Alternative-Address (2, string, repeatable)  where to reconnect instead
 *                 Hold-Off (4, uint, seconds)                  how long to wait before reconnecting
 *   7.05 Abort    Bad-CSM-Option (2, uint)                     the CSM option that could not be processed
 *                 payload: diagnostic text
 */
import { CoapTransportError, type PeerAddress } from '../errors';
import { SignalOption } from '../codec/option-numbers';
import { decodeString, decodeUint, encodeString, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, SignalCode, type CoapPdu } from '../codec/pdu';

/** Our Release: we are closing on purpose. */
export function releasePdu(): CoapPdu {
  return { type: 0, code: SignalCode.Release, messageId: 0, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES };
}

/**
 * An Abort with a diagnostic (RFC 8323 §5.6: "a diagnostic payload ... SHOULD be included"), and Bad-CSM-Option
 * when a CSM option could not be processed (RFC 8323 §5.3).
 */
export function abortPdu(diagnostic: string, badCsmOption?: number): CoapPdu {
  const options = badCsmOption === undefined ? [] : [{ number: SignalOption.BadCsmOption, value: encodeUint(badCsmOption) }];
  return { type: 0, code: SignalCode.Abort, messageId: 0, token: EMPTY_BYTES, options, payload: encodeString(diagnostic) };
}

/** The error a Release from the peer ends in-flight work with: reason `released`, with where to go and when. */
export function releasedError(pdu: CoapPdu, peer: PeerAddress): CoapTransportError {
  const alternativeAddresses: string[] = [];
  let holdOff: number | undefined;
  for (const option of pdu.options) {
    if (option.number === SignalOption.AlternativeAddress) alternativeAddresses.push(decodeString(option.value));
    else if (option.number === SignalOption.HoldOff && option.value.length <= 4) holdOff = decodeUint(option.value);
  }
  const where = alternativeAddresses.length > 0 ? `; it suggests ${alternativeAddresses.join(', ')}` : '';
  const wait = holdOff === undefined ? '' : ` after ${holdOff} s`;
  return new CoapTransportError(`the server released the connection (7.04)${where}${wait}`, {
    peer,
    reason: 'released',
    alternativeAddresses,
    holdOff,
  });
}

/** The error an Abort from the peer ends everything with: reason `aborted`, with its diagnostic. */
export function abortedError(pdu: CoapPdu, peer: PeerAddress): CoapTransportError {
  const diagnostic = decodeString(pdu.payload);
  let badCsmOption: number | undefined;
  for (const option of pdu.options) if (option.number === SignalOption.BadCsmOption && option.value.length <= 4) badCsmOption = decodeUint(option.value);
  return new CoapTransportError(`the server aborted the connection (7.05)${diagnostic === '' ? '' : `: ${diagnostic}`}`, {
    peer,
    reason: 'aborted',
    diagnostic,
    badCsmOption,
  });
}
