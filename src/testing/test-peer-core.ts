/**
 * What the parts of the test peer share: the response being built, who a request came from, the log of
 * received messages with the peer's events, and small pure helpers. Internal to `rxcoap/testing`.
 */
import type { BlockValue } from '../codec/block';
import { decodeString, decodeUint } from '../codec/option-values';
import { OptionNumber } from '../codec/option-numbers';
import { EMPTY_BYTES, getOption, getOptions, type CoapOption, type CoapPdu } from '../codec/pdu';
import type { PeerAddress } from '../errors';
import { isUnixPeer } from '../peer-address';
import type { ReceivedPdu, TestPeerEvents, TestPeerStats, TestTransport } from './test-peer-api';
import type { TestResource } from './test-resource';

/** The response a request or notification produces, before type, message ID and token are set. */
export interface ResponseParts {
  readonly code: number;
  readonly options: CoapOption[];
  readonly payload: Uint8Array;
}

/** A registered observer (RFC 7641 §4.1): keyed by client endpoint and token. */
export interface Observer {
  /** `client.key|token`. */
  readonly key: string;
  readonly client: RequestClient;
  readonly token: Uint8Array;
  readonly path: string;
  readonly request: CoapPdu;
  /** Block2 SZX the client asked for at registration. */
  readonly block2?: BlockValue;
  notifications: number;
  /** UDP: message ID of the CON notification awaiting an ACK. */
  pendingMessageId?: number;
  /** UDP: transmissions of the current CON notification (continues when a newer one replaces it, RFC 7641 §4.5.2). */
  attempts: number;
}

/** Where notifications for an observer go: the UDP listener, or one TCP/TLS connection. */
export interface ObserverChannel {
  /** Sends a notification (a final one when its code is not 2.xx). */
  deliver(observer: Observer, parts: ResponseParts, resource: TestResource | undefined): void;
  /** The observer was removed: forget what is pending for it. */
  removed(observer: Observer): void;
}

/** The client a request came from, as the transport-independent parts of the peer see it. */
export interface RequestClient {
  /** Unique per client endpoint: `'host|port'` for UDP, `'tcp#id'`/`'tls#id'` for a connection. */
  readonly key: string;
  readonly source: PeerAddress;
  readonly transport: TestTransport;
  readonly channel: ObserverChannel;
  /** Largest Block2 SZX that fits what the client accepts (its Max-Message-Size); 7 allows BERT. */
  readonly maxSzx?: number;
  /** Largest BERT payload, in 1024-byte units, when both CSMs carried Block-Wise-Transfer. */
  readonly bertUnits?: number;
}

/** The received log, the counters and the event listeners of one peer. */
export class PeerLog {
  readonly received: ReceivedPdu[] = [];
  readonly stats: TestPeerStats = {
    requests: 0,
    duplicates: 0,
    dropped: 0,
    malformed: 0,
    notifications: 0,
    retransmissions: 0,
    connections: 0,
    handshakeFailures: 0,
  };
  readonly #listeners: { [E in keyof TestPeerEvents]: Set<TestPeerEvents[E]> } = {
    message: new Set(),
    request: new Set(),
    sent: new Set(),
    connect: new Set(),
    disconnect: new Set(),
  };
  readonly #logSize: number;

  constructor(logSize: number) {
    this.#logSize = logSize;
  }

  /** Keeps a received message and emits `message`. */
  record(received: ReceivedPdu): void {
    this.received.push(received);
    if (this.received.length > this.#logSize) this.received.splice(0, this.received.length - this.#logSize);
    this.emit('message', received);
  }

  /** True when someone listens to `event` (so a sent message is only described when it is wanted). */
  has(event: keyof TestPeerEvents): boolean {
    return this.#listeners[event].size > 0;
  }

  on<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): void {
    (this.#listeners[event] as Set<TestPeerEvents[E]>).add(listener);
  }

  off<E extends keyof TestPeerEvents>(event: E, listener: TestPeerEvents[E]): void {
    (this.#listeners[event] as Set<TestPeerEvents[E]>).delete(listener);
  }

  emit<E extends keyof TestPeerEvents>(event: E, value: Parameters<TestPeerEvents[E]>[0]): void {
    for (const listener of this.#listeners[event]) (listener as (value: Parameters<TestPeerEvents[E]>[0]) => void)(value);
  }
}

const textEncoder = new TextEncoder();

/** UTF-8 bytes of a string, the bytes themselves, or none. */
export function toBytes(value: Uint8Array | string | undefined): Uint8Array {
  if (value === undefined) return EMPTY_BYTES;
  return typeof value === 'string' ? textEncoder.encode(value) : value;
}

/** `'host|port'`: a UDP client endpoint as a map key (a Unix-domain one: its path). */
export function endpointKey(address: PeerAddress): string {
  return isUnixPeer(address) ? address.path : `${address.host}|${address.port}`;
}

/** A 2.xx code. */
export function isSuccess(code: number): boolean {
  return code >> 5 === 2;
}

/** An error response with a diagnostic payload. */
export function errorResponse(code: number, diagnostic: string, options: CoapOption[] = []): ResponseParts {
  // RFC 7252 §5.5.2: a diagnostic payload is human-readable UTF-8 text.
  return { code, options, payload: textEncoder.encode(diagnostic) };
}

/**
 * RFC 7967 §2: No-Response bits 2, 8 and 16 suppress 2.xx, 4.xx and 5.xx responses (0 suppresses nothing).
 */
export function isSuppressed(request: CoapPdu, code: number): boolean {
  const value = getOption(request, OptionNumber.NoResponse);
  if (value === undefined) return false;
  const bits = decodeUint(value);
  const codeClass = code >> 5;
  const bit = codeClass === 2 ? 2 : codeClass === 4 ? 8 : codeClass === 5 ? 16 : 0;
  return (bits & bit) !== 0;
}

/** The request path from its Uri-Path options (RFC 7252 §6.5), `'/'` when there are none. */
export function pathOf(pdu: CoapPdu): string {
  const segments = getOptions(pdu, OptionNumber.UriPath);
  if (segments.length === 0) return '/';
  let path = '';
  for (const segment of segments) path += '/' + decodeString(segment);
  return path;
}
