/**
 * What a request Observable emits: one CoAP response (or notification, or block-wise partial), with typed
 * accessors for the options users read most. Any response code is a value, not an error.
 */
import type { PeerAddress } from '../errors';
import { decodeBlock, type BlockValue } from '../codec/block';
import { OptionNumber } from '../codec/option-numbers';
import { decodeString, decodeUint } from '../codec/option-values';
import { codeName, codeToString, getOption, getOptions, messageTypeNames, type CoapOption, type CoapPdu, type MessageType } from '../codec/pdu';
import { decodeInstalledCbor } from '../codec/installed-cbor-decoder';
import { decodeJson, decodeText } from '../codec/payload';

/** Progress of a block-wise body, on partial responses (block mode without `singleBody`). */
export interface BlockProgress {
  /** Offset of this part's first byte in the whole body. */
  readonly offset: number;
  /** Bytes received so far, this part included. */
  readonly received: number;
  /** Total size when the server said (Size2), else undefined. */
  readonly total: number | undefined;
  /** True on the last part. */
  readonly complete: boolean;
}

/** A CoAP response as seen by the user. */
export class CoapResponse {
  /** Numeric code (2.05 = 69). */
  readonly code: number;
  readonly type: MessageType;
  readonly messageId: number;
  readonly token: Uint8Array;
  /** Options in wire order (sorted by number). */
  readonly options: readonly CoapOption[];
  /** Body bytes: the whole body once block-wise reassembly is done, or this part for partial responses. */
  readonly payload: Uint8Array;
  /** Where the response came from. */
  readonly remote: PeerAddress;
  /** Set on block-wise partial responses. */
  readonly progress: BlockProgress | undefined;

  constructor(pdu: CoapPdu, remote: PeerAddress, init: { payload?: Uint8Array; progress?: BlockProgress } = {}) {
    this.code = pdu.code;
    this.type = pdu.type;
    this.messageId = pdu.messageId;
    this.token = pdu.token;
    this.options = pdu.options;
    this.payload = init.payload ?? pdu.payload;
    this.remote = remote;
    this.progress = init.progress;
  }

  /** `'2.05'`. */
  get codeText(): string {
    return codeToString(this.code);
  }

  /** `'2.05 Content'`. */
  get codeName(): string {
    return codeName(this.code);
  }

  /** `'CON'`, `'NON'`, `'ACK'` or `'RST'`. */
  get typeName(): string {
    return messageTypeNames[this.type];
  }

  /** Response class: 2, 4 or 5. */
  get codeClass(): number {
    return this.code >> 5;
  }

  /** True for 2.xx. */
  get ok(): boolean {
    return this.code >> 5 === 2;
  }

  /** First value of an option. */
  option(number: number): Uint8Array | undefined {
    return getOption(this, number);
  }

  /** Every value of a repeatable option. */
  optionValues(number: number): Uint8Array[] {
    return getOptions(this, number);
  }

  get contentFormat(): number | undefined {
    return uintOption(this, OptionNumber.ContentFormat);
  }

  get etag(): Uint8Array | undefined {
    return getOption(this, OptionNumber.ETag);
  }

  /** Max-Age in seconds (RFC 7252 §5.10.5: 60 when absent). */
  get maxAge(): number {
    return uintOption(this, OptionNumber.MaxAge) ?? 60;
  }

  /** Observe sequence number of a notification. */
  get observe(): number | undefined {
    return uintOption(this, OptionNumber.Observe);
  }

  get block1(): BlockValue | undefined {
    const value = getOption(this, OptionNumber.Block1);
    return value === undefined ? undefined : decodeBlock(value);
  }

  get block2(): BlockValue | undefined {
    const value = getOption(this, OptionNumber.Block2);
    return value === undefined ? undefined : decodeBlock(value);
  }

  get size1(): number | undefined {
    return uintOption(this, OptionNumber.Size1);
  }

  get size2(): number | undefined {
    return uintOption(this, OptionNumber.Size2);
  }

  /** Location-Path segments (after a 2.01 Created). */
  get locationPath(): string[] {
    return getOptions(this, OptionNumber.LocationPath).map(decodeString);
  }

  /** Location-Query items. */
  get locationQuery(): string[] {
    return getOptions(this, OptionNumber.LocationQuery).map(decodeString);
  }

  /** Body as UTF-8 text. */
  text(): string {
    return decodeText(this.payload);
  }

  /** Body parsed as JSON. Throws `CoapDecodeError` when it is not JSON. */
  json<T = unknown>(): T {
    return decodeJson(this.payload) as T;
  }

  /**
   * Body decoded as CBOR. Throws `CoapDecodeError` when it is not CBOR. Needs the CBOR decoder, which
   * `rxcoap/node` installs and a browser app installs with `import 'rxcoap/cbor'`: without it throws
   * `CoapArgumentError` (the core leaves the decoder out of bundles that read no CBOR).
   */
  cbor<T = unknown>(): T {
    return decodeInstalledCbor(this.payload) as T;
  }
}

function uintOption(response: Pick<CoapPdu, 'options'>, number: number): number | undefined {
  const value = getOption(response, number);
  return value === undefined ? undefined : decodeUint(value);
}
