/**
 * Every public error of rxcoap. One file below all layers, because every layer throws these
 * (undici `lib/core/errors.js` style): a base class with a stable `code`, a brand that survives two
 * copies of the package, default messages, and typed context fields instead of context in the text.
 * @packageDocumentation
 */

/**
 * Brands that survive two copies of the package (an Angular app plus a library bundling its own rxcoap):
 * `Symbol.for` gives both copies the same keys. Every class names itself under `kClassBrand`; an instance
 * lists the brands of its class chain under `kBrands`, and `instanceof` compares those, not constructors.
 */
const kBrands = Symbol.for('rxcoap.error.brands');
const kClassBrand = Symbol.for('rxcoap.error.class');

/** Stable machine-readable codes, one per error class. */
export type CoapErrorCode =
  | 'COAP_ERR_DECODE'
  | 'COAP_ERR_ENCODE'
  | 'COAP_ERR_URI'
  | 'COAP_ERR_TIMEOUT'
  | 'COAP_ERR_RESET'
  | 'COAP_ERR_TRANSPORT'
  | 'COAP_ERR_DTLS'
  | 'COAP_ERR_TLS'
  | 'COAP_ERR_RESPONSE'
  | 'COAP_ERR_SESSION_CLOSED'
  | 'COAP_ERR_BLOCK'
  | 'COAP_ERR_ABORTED'
  | 'COAP_ERR_OPTION'
  | 'COAP_ERR_ARGUMENT';

/**
 * Base class of every error rxcoap raises. Check with `instanceof CoapError` (or any subclass) or by `code`;
 * both work across two copies of the package.
 */
export class CoapError extends Error {
  /** @internal The brand of this class (every subclass sets its own). */
  static readonly [kClassBrand]: string = 'CoapError';

  /** Stable code, e.g. `'COAP_ERR_TIMEOUT'`. */
  readonly code: CoapErrorCode;

  constructor(code: CoapErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'CoapError';
  }

  /** Brand check so `instanceof` works across two copies of the package (undici #4472), for every class. */
  static override [Symbol.hasInstance](instance: unknown): boolean {
    if (typeof instance !== 'object' || instance === null) return false;
    const brands = (instance as Record<symbol, unknown>)[kBrands];
    if (!Array.isArray(brands)) return false;
    return brands.includes((this as unknown as Record<symbol, unknown>)[kClassBrand]);
  }

  /** @internal The brands of this instance's class chain, most derived first. */
  get [kBrands](): string[] {
    const brands: string[] = [];
    for (let type = this.constructor as unknown; typeof type === 'function'; type = Object.getPrototypeOf(type)) {
      const brand = Object.prototype.hasOwnProperty.call(type, kClassBrand) ? (type as unknown as Record<symbol, unknown>)[kClassBrand] : undefined;
      if (typeof brand === 'string') brands.push(brand);
    }
    return brands;
  }
}

/** Sub-codes of {@link CoapDecodeError}. */
export type CoapDecodeReason =
  | 'TRUNCATED_HEADER'
  | 'BAD_VERSION'
  | 'RESERVED_TOKEN_LENGTH'
  | 'TRUNCATED_TOKEN'
  | 'RESERVED_DELTA'
  | 'RESERVED_LENGTH'
  | 'TRUNCATED_OPTION'
  | 'EMPTY_PAYLOAD'
  | 'EMPTY_MESSAGE_NOT_EMPTY'
  | 'MESSAGE_TOO_LARGE'
  | 'BAD_FRAME'
  | 'BAD_OPTION_VALUE'
  | 'BAD_PAYLOAD'
  | 'BAD_OPTION_NUMBER';

/**
 * A datagram or stream frame is not a valid CoAP message.
 * On UDP the message is dropped (and may be answered with RST); on a stream (`fatal`) the connection is aborted.
 */
export class CoapDecodeError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapDecodeError';

  /** What exactly is wrong, e.g. `'RESERVED_DELTA'`. */
  readonly reason: CoapDecodeReason;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /** True when the input stream cannot continue (stream framing); false for a single bad datagram. */
  readonly fatal: boolean;
  /** Message ID when the header was readable (lets the message layer answer a bad CON with RST). */
  readonly messageId: number | undefined;

  constructor(reason: CoapDecodeReason, message: string, init: { offset?: number; fatal?: boolean; messageId?: number } = {}) {
    super('COAP_ERR_DECODE', `invalid CoAP message: ${message}`);
    this.name = 'CoapDecodeError';
    this.reason = reason;
    this.offset = init.offset ?? 0;
    this.fatal = init.fatal ?? false;
    this.messageId = init.messageId;
  }
}

/** A PDU cannot be encoded (token too long, option value out of range, message too large). */
export class CoapEncodeError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapEncodeError';

  constructor(message: string) {
    super('COAP_ERR_ENCODE', `cannot encode CoAP message: ${message}`);
    this.name = 'CoapEncodeError';
  }
}

/** A URI cannot be used as a CoAP request target. */
export class CoapUriError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapUriError';

  /** The URI text that was rejected. */
  readonly uri: string;
  constructor(uri: string, message: string) {
    super('COAP_ERR_URI', `invalid CoAP URI: ${message}`);
    this.name = 'CoapUriError';
    this.uri = uri;
  }
}

/**
 * Where a message went or came from: an IP endpoint or a Unix-domain socket path. Tell them apart with
 * `isUnixPeer` and print either with `formatPeer` (both in `peer-address.ts`).
 */
export type PeerAddress = IpPeerAddress | UnixPeerAddress;

/** An IP peer (UDP, DTLS, TCP, TLS, multicast), named by host and port. */
export interface IpPeerAddress {
  /** IP address or host name; IPv6 without brackets (zone IDs as `fe80::1%eth0`). */
  readonly host: string;
  readonly port: number;
}

/** A Unix-domain peer (datagram or stream), named by its socket path. */
export interface UnixPeerAddress {
  /** The socket's file system path, e.g. `/tmp/server.sock`. */
  readonly path: string;
}

/**
 * No answer within the transmission parameters' limits.
 * For a CON request: the request may or may not have reached the server.
 */
export class CoapTimeoutError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapTimeoutError';

  readonly peer: PeerAddress | undefined;
  /** Token of the exchange, as hex. */
  readonly token: string | undefined;
  readonly messageId: number | undefined;
  /** How many times the message was sent in all. */
  readonly attempts: number;
  /** Milliseconds from the first transmission to giving up. */
  readonly elapsed: number;

  constructor(message: string, info: { peer?: PeerAddress; token?: string; messageId?: number; attempts?: number; elapsed?: number } = {}) {
    super('COAP_ERR_TIMEOUT', message);
    this.name = 'CoapTimeoutError';
    this.peer = info.peer;
    this.token = info.token;
    this.messageId = info.messageId;
    this.attempts = info.attempts ?? 1;
    this.elapsed = info.elapsed ?? 0;
  }
}

/** The peer answered with RST: it did not want or could not process the message. */
export class CoapResetError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapResetError';

  readonly peer: PeerAddress | undefined;
  readonly messageId: number | undefined;
  constructor(message = 'the peer reset the exchange', info: { peer?: PeerAddress; messageId?: number } = {}) {
    super('COAP_ERR_RESET', message);
    this.name = 'CoapResetError';
    this.peer = info.peer;
    this.messageId = info.messageId;
  }
}

/**
 * The connection failed or ended under the exchange: ICMP port unreachable, bind or DNS failure, a closed
 * socket, a TCP connection lost, a Release or Abort from the server (RFC 8323 §5.5-5.6). The request may or may
 * not have reached the server.
 */
export class CoapTransportError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapTransportError';

  /** The system error code when there is one, e.g. `'ECONNREFUSED'`. */
  readonly syscallCode: string | undefined;
  readonly peer: PeerAddress | undefined;
  /**
   * Why, when known: `'refused'`, `'reset'`, `'closed-by-peer'`, `'unreachable'`, `'resolve-failed'`, `'bind-failed'`,
   * `'connect-timeout'`, `'released'` (7.04), `'aborted'` (7.05), `'keepalive'` (the peer stopped answering
   * pings), `'csm-timeout'` (no CSM from the peer in time), `'path-in-use'` (a Unix socket path is bound by someone
   * else, or is no socket: never taken over), `'error'`.
   */
  readonly reason: string | undefined;
  /** Release: the Alternative-Address options (where to reconnect instead). */
  readonly alternativeAddresses: readonly string[] | undefined;
  /** Release: Hold-Off, in seconds. */
  readonly holdOff: number | undefined;
  /** Abort: the diagnostic payload. */
  readonly diagnostic: string | undefined;
  /** Abort: the Bad-CSM-Option number. */
  readonly badCsmOption: number | undefined;
  constructor(
    message: string,
    info: {
      syscallCode?: string;
      peer?: PeerAddress;
      cause?: unknown;
      reason?: string;
      alternativeAddresses?: readonly string[];
      holdOff?: number;
      diagnostic?: string;
      badCsmOption?: number;
    } = {},
  ) {
    super('COAP_ERR_TRANSPORT', message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'CoapTransportError';
    this.syscallCode = info.syscallCode;
    this.peer = info.peer;
    this.reason = info.reason;
    this.alternativeAddresses = info.alternativeAddresses;
    this.holdOff = info.holdOff;
    this.diagnostic = info.diagnostic;
    this.badCsmOption = info.badCsmOption;
  }
}

/** The DTLS handshake or record layer failed. The text never contains keys. */
export class CoapDtlsError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapDtlsError';

  /** What probably failed, e.g. `'handshake-timeout'`, `'bad-psk'`, `'alert'`, `'closed-by-peer'`. */
  readonly reason: string;
  readonly peer: PeerAddress | undefined;
  constructor(reason: string, message: string, info: { peer?: PeerAddress; cause?: unknown } = {}) {
    super('COAP_ERR_DTLS', message, { cause: info.cause });
    this.name = 'CoapDtlsError';
    this.reason = reason;
    this.peer = info.peer;
  }
}

/**
 * The TLS handshake or connection failed (CoAP over TLS, RFC 8323). The text never contains keys.
 * `reason`: `'untrusted'`, `'expired'`, `'name-mismatch'`, `'cn-rejected'`, `'revoked'`, `'revocation-unknown'` (no
 * usable CRL), `'client-cert-required'`, `'client-cert-rejected'`, `'bad-psk'`, `'identity-hint-rejected'`,
 * `'handshake-timeout'`, `'handshake-failed'`, `'alert'`, `'closed-by-peer'`.
 */
export class CoapTlsError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapTlsError';

  /** What probably failed (see the class description). */
  readonly reason: string;
  readonly peer: PeerAddress | undefined;
  constructor(reason: string, message: string, info: { peer?: PeerAddress; cause?: unknown } = {}) {
    super('COAP_ERR_TLS', message, { cause: info.cause });
    this.name = 'CoapTlsError';
    this.reason = reason;
    this.peer = info.peer;
  }
}

/** Raised only when the user asks for 4.xx/5.xx responses as errors (`throwOnErrorCode()`). */
export class CoapResponseError<R = unknown> extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapResponseError';

  /** The response that was not a success. */
  readonly response: R;
  constructor(message: string, response: R) {
    super('COAP_ERR_RESPONSE', message);
    this.name = 'CoapResponseError';
    this.response = response;
  }
}

/** The session was released or its context freed while the exchange was in flight. */
export class CoapSessionClosedError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapSessionClosedError';

  constructor(message = 'the session was closed while the exchange was in flight') {
    super('COAP_ERR_SESSION_CLOSED', message);
    this.name = 'CoapSessionClosedError';
  }
}

/** A block-wise transfer cannot complete (ETag changed too often, body too large, 4.08, bad block). */
export class CoapBlockError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapBlockError';

  constructor(message: string) {
    super('COAP_ERR_BLOCK', message);
    this.name = 'CoapBlockError';
  }
}

/** A response carried an option the client must understand but does not (RFC 7252 §5.4.1). */
export class CoapOptionError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapOptionError';

  readonly optionNumber: number;
  constructor(optionNumber: number, message: string) {
    super('COAP_ERR_OPTION', message);
    this.name = 'CoapOptionError';
    this.optionNumber = optionNumber;
  }
}

/** An argument passed by the caller is invalid (bad key length, MTU too small, unsupported scheme). */
export class CoapArgumentError extends CoapError {
  /** @internal */
  static override readonly [kClassBrand]: string = 'CoapArgumentError';

  /**
   * The argument or option that is wrong, as the caller wrote it: `'server.host'`, `'transmission.ackTimeout'`,
   * `'options[0].value'`, `'init'`. Undefined when no single field is to blame.
   */
  readonly field: string | undefined;

  constructor(message: string, info: { field?: string; cause?: unknown } = {}) {
    super('COAP_ERR_ARGUMENT', message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'CoapArgumentError';
    this.field = info.field;
  }
}
