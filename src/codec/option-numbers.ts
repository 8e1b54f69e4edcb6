/**
 * Option numbers from the IANA "CoAP Option Numbers" registry for the RFCs rxcoap implements.
 * Properties of each option (format, length, repeatable, critical, unsafe, no-cache-key) are in `option-registry.ts`.
 */
export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  OSCORE: 9,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  HopLimit: 16,
  Accept: 17,
  QBlock1: 19,
  LocationQuery: 20,
  EDHOC: 21,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  QBlock2: 31,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  Echo: 252,
  NoResponse: 258,
  RequestTag: 292,
} as const;
/** Name of a known option. */
export type OptionName = keyof typeof OptionNumber;

/** RFC 8323 §5.3-5.5: signaling options (their numbers are scoped by the signal code). */
export const SignalOption = {
  /** CSM */
  MaxMessageSize: 2,
  BlockWiseTransfer: 4,
  ExtendedTokenLength: 6,
  /** Ping/Pong */
  Custody: 2,
  /** Release */
  AlternativeAddress: 2,
  HoldOff: 4,
  /** Abort */
  BadCsmOption: 2,
} as const;

/** RFC 7252 §5.4.1: odd option numbers are critical. */
export function isCritical(number: number): boolean {
  return (number & 1) === 1;
}

/** RFC 7252 §5.4.2: bit 1 marks an option unsafe to forward. */
export function isUnsafe(number: number): boolean {
  return (number & 2) === 2;
}

/** RFC 7252 §5.4.2: NoCacheKey is bits 2..4 all set (0b11100). */
export function isNoCacheKey(number: number): boolean {
  return (number & 0x1e) === 0x1c;
}
