/**
 * Which transport carries which protocol. The browser-safe core registers nothing; `rxcoap/node` registers
 * udp, dtls, tcp and tls when it is imported (MQTT.js `connect/index.ts` style), so a browser bundle never pulls
 * `node:`; a WebSocket entry registers ws and wss.
 */
import { CoapArgumentError } from '../errors';
import type { TransportFactory } from '../transport/transport';

/** Session protocols (libcoap `coap_proto_t`): the URI scheme decides which one a session uses. */
export type CoapProto = 'udp' | 'dtls' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Credentials a transport takes (the context checks a session brings what its transport needs). */
export type TransportCredentials = 'none' | 'psk' | 'pki' | 'psk-or-pki';

/** Everything a transport maker may need; each picks its own part. */
export interface TransportTarget {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** DTLS/TLS with a pre-shared key. */
  readonly psk?: import('./session-options').ResolvedPsk;
  /** TLS/DTLS with certificates or raw public keys (libcoap `coap_dtls_pki_t`), as the user gave them. */
  readonly pki?: import('../pki-credentials').PkiCredentials;
  /** Trusted roots set on the context (`ctx.setPkiRootCas`), for certificate verification. */
  readonly rootCas?: { readonly caFile?: string; readonly caDir?: string };
  readonly scheduler: import('rxjs').SchedulerLike;
}

/** Makes a transport factory for a target. */
export type TransportMaker = (target: TransportTarget) => TransportFactory;

/** What the session needs to know about a transport before it connects. */
export interface TransportProperties {
  /** Bytes a security layer adds per datagram before the handshake says exactly (DTLS). @defaultValue 0 */
  readonly frameOverhead?: number;
  /** Byte stream or WebSocket (signaling instead of the message layer). @defaultValue false */
  readonly reliable?: boolean;
  /** What credentials it takes. @defaultValue 'none' */
  readonly credentials?: TransportCredentials;
}

/** A registered transport. */
export interface RegisteredTransport {
  readonly make: TransportMaker;
  readonly frameOverhead: number;
  readonly reliable: boolean;
  readonly credentials: TransportCredentials;
}

const makers = new Map<CoapProto, RegisteredTransport>();

/** What each protocol takes unless its registration says otherwise. */
const DEFAULT_CREDENTIALS: Readonly<Record<CoapProto, TransportCredentials>> = {
  udp: 'none',
  dtls: 'psk',
  tcp: 'none',
  tls: 'psk-or-pki',
  ws: 'none',
  wss: 'psk-or-pki',
};

/** Byte streams and WebSockets: signaling instead of the message layer (RFC 8323). */
const RELIABLE: ReadonlySet<CoapProto> = new Set<CoapProto>(['tcp', 'tls', 'ws', 'wss']);

/**
 * Registers the maker for `proto` (done by `rxcoap/node`). `properties` may be a number: the frame overhead
 * (the form of earlier versions).
 */
export function registerTransport(proto: CoapProto, make: TransportMaker, properties: TransportProperties | number = {}): void {
  const given = typeof properties === 'number' ? { frameOverhead: properties } : properties;
  makers.set(proto, {
    make,
    frameOverhead: given.frameOverhead ?? 0,
    reliable: given.reliable ?? RELIABLE.has(proto),
    credentials: given.credentials ?? DEFAULT_CREDENTIALS[proto],
  });
}

/** The transport for `proto`, or a clear error saying how to get one. */
export function transportFor(proto: CoapProto): RegisteredTransport {
  const maker = makers.get(proto);
  if (maker === undefined) {
    throw new CoapArgumentError(
      `no ${proto} transport is registered: import from 'rxcoap/node' in Node, or pass a transport factory ('transport' option)`,
      { field: 'server' },
    );
  }
  return maker;
}

/** The credentials `proto` takes by default (for sessions on a custom transport factory too). */
export function defaultCredentials(proto: CoapProto): TransportCredentials {
  return DEFAULT_CREDENTIALS[proto];
}

/** True for the protocols with signaling instead of the message layer. */
export function isReliableProto(proto: CoapProto): boolean {
  return RELIABLE.has(proto);
}
