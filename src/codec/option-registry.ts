/**
 * What rxcoap knows about each CoAP option: name, value format, length range and the properties the
 * option number encodes (RFC 7252 §5.4.6). The exchange layer uses it to reject responses that carry
 * an unknown critical option (RFC 7252 §5.4.1) and to treat values outside their length range like
 * unrecognized options (RFC 7252 §5.4.3); the CLI and logs use {@link formatOptionValue}.
 *
 * Option number bits (RFC 7252 §5.4.6, Figure 11):
 *
 *     0   1   2   3   4   5   6   7
 *   +---+---+---+---+---+---+---+---+
 *   |           | NoCacheKey| U | C |
 *   +---+---+---+---+---+---+---+---+
 *
 * Signaling options (RFC 8323 §5) have numbers scoped by the signal code (7.01-7.05), so they are
 * looked up with the signal code as a second argument.
 */
import { CoapOptionError } from '../errors';
import { decodeBlock } from './block';
import { contentFormatName } from './content-format';
import { decodeString, decodeUint } from './option-values';
import { OptionNumber, SignalOption, isCritical, isNoCacheKey, isUnsafe } from './option-numbers';
import { SignalCode, type CoapOption } from './pdu';

/** RFC 7252 §3.2 option value formats. */
export type OptionFormat = 'empty' | 'opaque' | 'uint' | 'string';

/** Properties of one registered option. */
export interface OptionInfo {
  /** Option number (scoped by {@link OptionInfo.signalCode} for signaling options). */
  readonly number: number;
  /** Registered name, e.g. `'Uri-Path'`. */
  readonly name: string;
  /** Value format (RFC 7252 §3.2). */
  readonly format: OptionFormat;
  /** Shortest valid value in bytes. */
  readonly minLength: number;
  /** Longest valid value in bytes. */
  readonly maxLength: number;
  /** May occur more than once in a message. */
  readonly repeatable: boolean;
  /** Odd number: a recipient that does not understand it must reject the message (RFC 7252 §5.4.1). */
  readonly critical: boolean;
  /** A proxy that does not understand it must not forward the message (RFC 7252 §5.4.2). */
  readonly unsafe: boolean;
  /** Not part of the cache key (RFC 7252 §5.4.2). */
  readonly noCacheKey: boolean;
  /** For signaling options: the signal code that scopes the number (RFC 8323 §5.2). */
  readonly signalCode: number | undefined;
  /** The specification that defines it, e.g. `'RFC 7252'`. */
  readonly reference: string;
}

function option(
  number: number,
  name: string,
  format: OptionFormat,
  minLength: number,
  maxLength: number,
  repeatable: boolean,
  reference: string,
): OptionInfo {
  return {
    number,
    name,
    format,
    minLength,
    maxLength,
    repeatable,
    critical: isCritical(number),
    unsafe: isUnsafe(number),
    noCacheKey: isNoCacheKey(number),
    signalCode: undefined,
    reference,
  };
}

function signalOption(
  signalCode: number,
  number: number,
  name: string,
  format: OptionFormat,
  minLength: number,
  maxLength: number,
  repeatable: boolean,
): OptionInfo {
  // RFC 8323 §5.2: signaling options are critical when odd (like RFC 7252 §5.4.1); they are never
  // forwarded or cached, so unsafe and NoCacheKey do not apply.
  return { number, name, format, minLength, maxLength, repeatable, critical: isCritical(number), unsafe: false, noCacheKey: false, signalCode, reference: 'RFC 8323' };
}

/** Every request/response option rxcoap knows, in number order (IANA "CoAP Option Numbers"). */
export const OPTION_REGISTRY: readonly OptionInfo[] = [
  // RFC 7252 §5.10 table, plus the options of later RFCs by number.
  option(OptionNumber.IfMatch, 'If-Match', 'opaque', 0, 8, true, 'RFC 7252'),
  option(OptionNumber.UriHost, 'Uri-Host', 'string', 1, 255, false, 'RFC 7252'),
  option(OptionNumber.ETag, 'ETag', 'opaque', 1, 8, true, 'RFC 7252'),
  option(OptionNumber.IfNoneMatch, 'If-None-Match', 'empty', 0, 0, false, 'RFC 7252'),
  option(OptionNumber.Observe, 'Observe', 'uint', 0, 3, false, 'RFC 7641'),
  option(OptionNumber.UriPort, 'Uri-Port', 'uint', 0, 2, false, 'RFC 7252'),
  option(OptionNumber.LocationPath, 'Location-Path', 'string', 0, 255, true, 'RFC 7252'),
  option(OptionNumber.OSCORE, 'OSCORE', 'opaque', 0, 255, false, 'RFC 8613'),
  option(OptionNumber.UriPath, 'Uri-Path', 'string', 0, 255, true, 'RFC 7252'),
  option(OptionNumber.ContentFormat, 'Content-Format', 'uint', 0, 2, false, 'RFC 7252'),
  option(OptionNumber.MaxAge, 'Max-Age', 'uint', 0, 4, false, 'RFC 7252'),
  option(OptionNumber.UriQuery, 'Uri-Query', 'string', 0, 255, true, 'RFC 7252'),
  // RFC 8768 §3: Hop-Limit is a 1-byte uint (1..255).
  option(OptionNumber.HopLimit, 'Hop-Limit', 'uint', 1, 1, false, 'RFC 8768'),
  option(OptionNumber.Accept, 'Accept', 'uint', 0, 2, false, 'RFC 7252'),
  option(OptionNumber.QBlock1, 'Q-Block1', 'uint', 0, 3, false, 'RFC 9177'),
  option(OptionNumber.LocationQuery, 'Location-Query', 'string', 0, 255, true, 'RFC 7252'),
  // draft-ietf-lake-edhoc / RFC 9668 §3.1: EDHOC is an empty, critical option.
  option(OptionNumber.EDHOC, 'EDHOC', 'empty', 0, 0, false, 'RFC 9668'),
  option(OptionNumber.Block2, 'Block2', 'uint', 0, 3, false, 'RFC 7959'),
  option(OptionNumber.Block1, 'Block1', 'uint', 0, 3, false, 'RFC 7959'),
  option(OptionNumber.Size2, 'Size2', 'uint', 0, 4, false, 'RFC 7959'),
  option(OptionNumber.QBlock2, 'Q-Block2', 'uint', 0, 3, true, 'RFC 9177'),
  option(OptionNumber.ProxyUri, 'Proxy-Uri', 'string', 1, 1034, false, 'RFC 7252'),
  option(OptionNumber.ProxyScheme, 'Proxy-Scheme', 'string', 1, 255, false, 'RFC 7252'),
  option(OptionNumber.Size1, 'Size1', 'uint', 0, 4, false, 'RFC 7252'),
  // RFC 9175 §2.2.1: Echo is 1..40 bytes of opaque data.
  option(OptionNumber.Echo, 'Echo', 'opaque', 1, 40, false, 'RFC 9175'),
  option(OptionNumber.NoResponse, 'No-Response', 'uint', 0, 1, false, 'RFC 7967'),
  // RFC 9175 §3.2.1: Request-Tag is 0..8 bytes, repeatable.
  option(OptionNumber.RequestTag, 'Request-Tag', 'opaque', 0, 8, true, 'RFC 9175'),
];

/** Signaling options of RFC 8323 §5.3-5.6 (and RFC 8974 §2.3), each scoped by its signal code. */
export const SIGNAL_OPTION_REGISTRY: readonly OptionInfo[] = [
  signalOption(SignalCode.CSM, SignalOption.MaxMessageSize, 'Max-Message-Size', 'uint', 0, 4, false),
  signalOption(SignalCode.CSM, SignalOption.BlockWiseTransfer, 'Block-Wise-Transfer', 'empty', 0, 0, false),
  signalOption(SignalCode.CSM, SignalOption.ExtendedTokenLength, 'Extended-Token-Length', 'uint', 0, 3, false),
  signalOption(SignalCode.Ping, SignalOption.Custody, 'Custody', 'empty', 0, 0, false),
  signalOption(SignalCode.Pong, SignalOption.Custody, 'Custody', 'empty', 0, 0, false),
  signalOption(SignalCode.Release, SignalOption.AlternativeAddress, 'Alternative-Address', 'string', 1, 255, true),
  signalOption(SignalCode.Release, SignalOption.HoldOff, 'Hold-Off', 'uint', 0, 3, false),
  signalOption(SignalCode.Abort, SignalOption.BadCsmOption, 'Bad-CSM-Option', 'uint', 0, 2, false),
];

// Lookup tables built once. Option numbers in the registry are < 512, so a dense array is the
// fastest lookup for the common case; the Map holds the signaling scopes.
const byNumber: (OptionInfo | undefined)[] = [];
for (const info of OPTION_REGISTRY) byNumber[info.number] = info;
const bySignal = new Map<number, OptionInfo>();
for (const info of SIGNAL_OPTION_REGISTRY) bySignal.set(((info.signalCode as number) << 16) | info.number, info);

function nameKey(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}
const byName = new Map<string, OptionInfo>();
for (const info of OPTION_REGISTRY) byName.set(nameKey(info.name), info);
const signalByName = new Map<string, OptionInfo>();
for (const info of SIGNAL_OPTION_REGISTRY) signalByName.set(`${info.signalCode}:${nameKey(info.name)}`, info);

function isSignalCode(code: number | undefined): code is number {
  return code !== undefined && code >> 5 === 7;
}

/**
 * Properties of an option, or undefined when rxcoap does not know it.
 * @param number - the option number
 * @param signalCode - for signaling messages (7.xx), the message code that scopes the number
 */
export function optionInfo(number: number, signalCode?: number): OptionInfo | undefined {
  if (isSignalCode(signalCode)) return bySignal.get((signalCode << 16) | number);
  return number >= 0 && number < byNumber.length ? byNumber[number] : undefined;
}

/**
 * Looks an option up by name, ignoring case, `-` and `_` (`'Uri-Path'`, `'uri-path'`, `'UriPath'`).
 * @param name - the option name
 * @param signalCode - for signaling options, the signal code that scopes the name
 */
export function optionByName(name: string, signalCode?: number): OptionInfo | undefined {
  const key = nameKey(name);
  if (isSignalCode(signalCode)) return signalByName.get(`${signalCode}:${key}`);
  return byName.get(key);
}

/** Readable name of an option: its registered name, or `'Option 1234'` when unknown. */
export function optionName(number: number, signalCode?: number): string {
  return optionInfo(number, signalCode)?.name ?? `Option ${number}`;
}

/**
 * The first critical option in the list that rxcoap does not know, or undefined.
 * RFC 7252 §5.4.1: a response with an unrecognized critical option must be rejected
 * (the exchange layer does that); in a CON it is answered with RST.
 * @param options - the options of a received message
 * @param signalCode - for signaling messages, their code (RFC 8323 §5.2 scopes the numbers)
 */
export function findUnknownCritical(options: readonly CoapOption[], signalCode?: number): number | undefined {
  const signal = isSignalCode(signalCode);
  for (let i = 0; i < options.length; i++) {
    const number = options[i].number;
    if ((number & 1) === 0) continue;
    const known = signal ? bySignal.has(((signalCode as number) << 16) | number) : number < byNumber.length && byNumber[number] !== undefined;
    if (!known) return number;
  }
  return undefined;
}

/**
 * Why an option value is not valid for its option, or undefined when it is (or the option is unknown).
 * Checks the length range (RFC 7252 §5.4.3) and, for string options, that the value is UTF-8.
 */
export function optionValueProblem(number: number, value: Uint8Array, signalCode?: number): string | undefined {
  const info = optionInfo(number, signalCode);
  if (info === undefined) return undefined;
  const length = value.length;
  if (length < info.minLength || length > info.maxLength) {
    const range = info.minLength === info.maxLength ? `${info.minLength}` : `${info.minLength}..${info.maxLength}`;
    return `${info.name} value is ${length} bytes, not ${range}`;
  }
  if (info.format === 'string' && !isUtf8(value)) return `${info.name} value is not valid UTF-8`;
  return undefined;
}

/**
 * Throws {@link CoapOptionError} when a value is outside its option's length range or not UTF-8 for a
 * string option. RFC 7252 §5.4.3: such a value is treated like an unrecognized option (a critical one
 * rejects the message, an elective one is ignored). Unknown options pass.
 */
export function validateOptionValue(number: number, value: Uint8Array, signalCode?: number): void {
  const problem = optionValueProblem(number, value, signalCode);
  if (problem !== undefined) throw new CoapOptionError(number, `invalid option value: ${problem}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(value: Uint8Array): boolean {
  for (let i = 0; i < value.length; i++) {
    if (value[i] >= 0x80) {
      try {
        utf8.decode(value);
        return true;
      } catch {
        return false;
      }
    }
  }
  return true;
}

/** Lowercase hex of bytes, `0x`-prefixed (`''` for none). */
function hex(value: Uint8Array): string {
  if (value.length === 0) return '';
  let text = '0x';
  for (let i = 0; i < value.length; i++) text += (value[i] < 16 ? '0' : '') + value[i].toString(16);
  return text;
}

/**
 * A value for logs and the CLI: uint as a number, string as text, opaque as `0x`-hex, empty as `''`,
 * Block1/Block2/Q-Block as `"num/m/size"` (`"2/1/1024"`), Content-Format and Accept by media type when
 * registered. A value that does not fit its option's format is shown as hex.
 */
export function formatOptionValue(number: number, value: Uint8Array, signalCode?: number): string | number {
  const info = optionInfo(number, signalCode);
  if (info === undefined) return hex(value);
  switch (info.format) {
    case 'empty':
      return value.length === 0 ? '' : hex(value);
    case 'opaque':
      return hex(value);
    case 'string':
      return decodeString(value);
    case 'uint':
      break;
  }
  if (value.length > 6) return hex(value);
  if (!isSignalCode(signalCode)) {
    if (number === OptionNumber.Block1 || number === OptionNumber.Block2 || number === OptionNumber.QBlock1 || number === OptionNumber.QBlock2) {
      if (value.length > 3) return hex(value);
      const block = decodeBlock(value);
      return `${block.num}/${block.more ? 1 : 0}/${block.szx === 7 ? 'BERT' : 1 << (block.szx + 4)}`;
    }
    if (number === OptionNumber.ContentFormat || number === OptionNumber.Accept) {
      const format = decodeUint(value);
      return contentFormatName(format) ?? format;
    }
  }
  return decodeUint(value);
}
