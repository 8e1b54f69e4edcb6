/**
 * Which transport carries which protocol. The browser-safe core registers nothing; `rxcoap/node` registers
 * udp, dtls, tcp and tls when it is imported (MQTT.js `connect/index.ts` style), so a browser bundle never pulls
 * `node:`; a WebSocket entry registers ws and wss.
 */
import { CoapArgumentError } from '../errors';
import type { TransportFactory } from '../transport/transport';
import { webSocketTransport, type WebSocketConstructor } from '../transport/websocket';
import { installPkiCheck } from './pki-check';
import { installPskCheck } from './psk-check';

/** Session protocols (libcoap `coap_proto_t`): the URI scheme decides which one a session uses. */
export type CoapProto = 'udp' | 'dtls' | 'tcp' | 'tls' | 'ws' | 'wss';

/**
 * Credentials a transport takes (the context checks a session brings what its transport needs). `'platform'`:
 * the platform does the security itself and takes none from rxcoap (a browser's WebSocket does TLS for
 * `coaps+ws://`, with the browser's trust store).
 */
export type TransportCredentials = 'none' | 'psk' | 'pki' | 'psk-or-pki' | 'platform';

/** Everything a transport maker may need; each picks its own part. */
export interface TransportTarget {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** A Unix-domain server: its socket path (then `host` is the path too and `port` 0). */
  readonly path?: string;
  /** A Unix datagram session's own socket path (`localIf: { path }`); generated when absent. */
  readonly localPath?: string;
  /** The server is a multicast group (RFC 7252 §8): the transport sends to it and takes answers from anyone. */
  readonly multicast?: { readonly interface?: string };
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
  dtls: 'psk-or-pki',
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
  const credentials = given.credentials ?? DEFAULT_CREDENTIALS[proto];
  makers.set(proto, {
    make,
    frameOverhead: given.frameOverhead ?? 0,
    reliable: given.reliable ?? RELIABLE.has(proto),
    credentials,
  });
  // A transport that takes certificates: the context checks them from now on (pki-check.ts; browsers have none).
  if (credentials === 'pki' || credentials === 'psk-or-pki') installPkiCheck();
  // ... and pre-shared keys (psk-check.ts).
  if (credentials === 'psk' || credentials === 'psk-or-pki') installPskCheck();
}

/** The transport for `proto`, or a clear error saying how to get one. */
export function transportFor(proto: CoapProto): RegisteredTransport {
  const maker = makers.get(proto) ?? platformWebSocket(proto);
  if (maker === undefined) {
    throw new CoapArgumentError(
      proto === 'ws' || proto === 'wss'
        ? `no ${proto} transport is registered and this platform has no global WebSocket: import from 'rxcoap/node' in Node, or pass a transport factory ('transport' option)`
        : `no ${proto} transport is registered: import from 'rxcoap/node' in Node, or pass a transport factory ('transport' option)`,
      { field: 'server' },
    );
  }
  return maker;
}

/**
 * coap+ws:// and coaps+ws:// on the platform's global WebSocket (a browser's; Node 22's too) when nothing
 * registered ws or wss (rxcoap/node registers the ws package). Looked up when a session is made, not registered
 * when a module loads: the package is "sideEffects": false, so a bundler would drop a module whose only work is
 * to register. The browser does TLS itself: such a session takes no PSK or certificates.
 */
function platformWebSocket(proto: CoapProto): RegisteredTransport | undefined {
  if (proto !== 'ws' && proto !== 'wss') return undefined;
  const WebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== 'function') return undefined;
  return {
    make: (target) => webSocketTransport({ WebSocket, host: target.host, port: target.port, secure: proto === 'wss', scheduler: target.scheduler }),
    frameOverhead: 0,
    reliable: true,
    credentials: 'platform',
  };
}

/** The credentials `proto` takes by default (for sessions on a custom transport factory too). */
export function defaultCredentials(proto: CoapProto): TransportCredentials {
  return DEFAULT_CREDENTIALS[proto];
}

/** True for the protocols with signaling instead of the message layer. */
export function isReliableProto(proto: CoapProto): boolean {
  return RELIABLE.has(proto);
}
