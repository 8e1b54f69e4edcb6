/**
 * Request-Tag values (RFC 9175 §3): one short opaque value per request body, so a server never mixes the blocks
 * of two bodies (two uploads at once, or a new upload after an abandoned one: RFC 9175 §3.4).
 *
 * When a request gets one (libcoap's `COAP_BLOCK_NO_PREEMPTIVE_RTAG` decides the same way):
 * - a body sent in several Block1 blocks always carries one (RFC 9175 §3.4.1: body integrity);
 * - by default a body that fits one message carries one too ("pre-emptive"), so a retry of it after a 4.13 or
 *   the Block2 follow-ups of its response stay tied to that body;
 * - with `noPreemptiveRequestTag`, only bodies sent block-wise carry one;
 * - requests without a body never carry one.
 */
import { OptionNumber } from '../codec/option-numbers';
import { getOption, withOption, type CoapOption } from '../codec/pdu';

/** Bytes per Request-Tag: unique enough among the bodies one client has in flight (RFC 9175 §3.2: 0..8). */
export const REQUEST_TAG_LENGTH = 4;

/**
 * A fresh Request-Tag value.
 * @param random - uniform in [0, 1); by default bytes come from `crypto.getRandomValues`
 */
export function newRequestTag(random?: () => number, length = REQUEST_TAG_LENGTH): Uint8Array {
  const tag = new Uint8Array(length);
  if (random === undefined) globalThis.crypto.getRandomValues(tag);
  else for (let i = 0; i < length; i++) tag[i] = Math.floor(random() * 256) & 0xff;
  return tag;
}

/**
 * Whether a request body gets a Request-Tag.
 * @param bodyLength - bytes of the body
 * @param blockwise - the body goes in several Block1 blocks
 * @param noPreemptiveRequestTag - BlockMode `noPreemptiveRequestTag`
 */
export function wantsRequestTag(bodyLength: number, blockwise: boolean, noPreemptiveRequestTag: boolean): boolean {
  if (blockwise) return true; // RFC 9175 §3.4.1
  return bodyLength > 0 && !noPreemptiveRequestTag;
}

/** The options with `tag` as Request-Tag, unless the caller already set one (then theirs is kept). */
export function withRequestTag(options: readonly CoapOption[], tag: Uint8Array): CoapOption[] {
  if (getOption({ options }, OptionNumber.RequestTag) !== undefined) return options as CoapOption[];
  return withOption(options, OptionNumber.RequestTag, [tag]);
}
