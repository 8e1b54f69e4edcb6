/**
 * Options of contexts and sessions. A session inherits every default from its context unless it sets its own
 * (libcoap: `coap_context_set_*` then `coap_new_client_session*`).
 */
import type { SchedulerLike } from 'rxjs';
import { CoapArgumentError } from '../errors';
import type { TokenGenerator } from '../exchange/token';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { TransportFactory } from '../transport/transport';
import type { CoapProto } from './transport-registry';

/** Bytes or text (UTF-8). */
export type BytesOrText = Uint8Array | string;

/** Identity and key chosen for an identity hint. */
export interface PskIdentityKey {
  readonly identity: BytesOrText;
  readonly key: BytesOrText;
}

/** Pre-shared key credentials (libcoap `coap_dtls_cpsk_t`). */
export interface PskCredentials {
  /** PSK identity, at most 128 bytes. */
  readonly identity: BytesOrText;
  /** The key, 1..64 bytes. Never logged. */
  readonly key: BytesOrText;
  /** Server Name Indication to send (libcoap `client_sni`). */
  readonly clientSni?: string;
  /**
   * Chooses identity and key for the server's identity hint, or null to abort (libcoap `validate_ih_call_back`).
   * See the README: the DTLS engine may not surface the hint.
   */
  readonly validateIdentityHint?: (hint: string) => PskIdentityKey | null;
}

/** PSK credentials as bytes, checked. */
export interface ResolvedPsk {
  readonly identity: Uint8Array;
  readonly key: Uint8Array;
  readonly clientSni?: string;
  readonly validateIdentityHint?: (hint: string) => { identity: Uint8Array; key: Uint8Array } | null;
}

/**
 * Block-wise behaviour (libcoap `coap_context_set_block_mode`).
 * - `useLibrary` (COAP_BLOCK_USE_LIBCOAP): the library does block-wise transfers. Default true.
 * - `singleBody` (COAP_BLOCK_SINGLE_BODY): emit one response with the whole body; otherwise emit each block as
 *   a partial response with progress. Default true.
 * - `noPreemptiveRequestTag` (COAP_BLOCK_NO_PREEMPTIVE_RTAG): Request-Tag only on Block1 bodies.
 */
export interface BlockMode {
  readonly useLibrary?: boolean;
  readonly singleBody?: boolean;
  readonly noPreemptiveRequestTag?: boolean;
}

/** Receives log lines. Keys never reach it. */
export interface CoapLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  /** Called with every datagram sent and received when present (for `-v 7` style tracing). */
  pdu?(direction: 'sent' | 'received', frame: Uint8Array): void;
}

/** Defaults a context gives its sessions. */
export interface CoapContextOptions {
  /** Where every timer runs. @defaultValue rxjs `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** RFC 7252 §4.8 parameters. */
  readonly transmission?: Partial<TransmissionParameters>;
  readonly blockMode?: BlockMode;
  /** Largest block size to use (16..1024), whatever the MTU allows. @defaultValue 1024 */
  readonly maxBlockSize?: number;
  /** Largest body a block-wise download may grow to, in bytes. @defaultValue 8 MiB */
  readonly maxBodySize?: number;
  /** Default PSK for `newClientSessionPsk` calls that give none. */
  readonly psk?: PskCredentials;
  readonly logger?: CoapLogger;
  /** Jitter and initial message ID source, uniform in [0, 1). @defaultValue Math.random */
  readonly random?: () => number;
  /** Token length 0..8 for the default generator. @defaultValue 8 */
  readonly tokenLength?: number;
  /** Token source. @defaultValue 8 random bytes from `crypto.getRandomValues` */
  readonly tokenGenerator?: TokenGenerator;
  /** Path MTU in bytes. @defaultValue 1152 */
  readonly mtu?: number;
}

/** The local side to bind: `'127.0.0.1'`, `'127.0.0.1:5000'`, `'[::1]:5000'` or an object. */
export type LocalInterface = string | { readonly address?: string; readonly port?: number };

/** Where a session connects. */
export type ServerAddress = string | { readonly host: string; readonly port?: number };

/** Options of `ctx.newClientSession()`. */
export interface ClientSessionOptions {
  /** `coap://host:port` (or `coaps://` for PSK sessions), or `{ host, port }`; port 0 or absent = the scheme default. */
  readonly server: ServerAddress;
  /** Protocol; by default from the URI scheme, else `udp`. */
  readonly proto?: CoapProto;
  /** Local address and port to send from. */
  readonly localIf?: LocalInterface;
  readonly transmission?: Partial<TransmissionParameters>;
  readonly mtu?: number;
  readonly tokenLength?: number;
  /** Replace the socket with any transport (a fake one in tests, a custom tunnel). */
  readonly transport?: TransportFactory;
  /** Maximum observations re-registered after Max-Age runs out; see observe. */
  readonly logger?: CoapLogger;
}

/** Options of `ctx.newClientSessionPsk()`. */
export interface ClientSessionPskOptions extends ClientSessionOptions {
  /** Credentials; the context's `psk` when absent. */
  readonly psk?: PskCredentials;
}

const encoder = new TextEncoder();

function toBytes(value: BytesOrText): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** Checks PSK credentials as libcoap does (identity <= 128 bytes, key 1..64 bytes). Error texts never hold keys. */
export function resolvePsk(psk: PskCredentials | undefined): ResolvedPsk {
  if (psk === undefined) {
    throw new CoapArgumentError('a coaps:// session needs PSK credentials: pass psk: { identity, key } to the session or the context');
  }
  const identity = toBytes(psk.identity);
  const key = toBytes(psk.key);
  if (identity.length > 128) throw new CoapArgumentError(`PSK identity is ${identity.length} bytes; at most 128 are allowed`);
  if (key.length === 0) throw new CoapArgumentError('PSK key is empty');
  if (key.length > 64) throw new CoapArgumentError(`PSK key is ${key.length} bytes; at most 64 are allowed`);
  const validate = psk.validateIdentityHint;
  return {
    identity,
    key,
    clientSni: psk.clientSni,
    validateIdentityHint:
      validate === undefined
        ? undefined
        : (hint) => {
            const chosen = validate(hint);
            return chosen === null ? null : { identity: toBytes(chosen.identity), key: toBytes(chosen.key) };
          },
  };
}

/** Parses a local interface spec. */
export function parseLocalInterface(localIf: LocalInterface | undefined): { address?: string; port?: number } {
  if (localIf === undefined) return {};
  if (typeof localIf !== 'string') return { address: localIf.address, port: localIf.port };
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(localIf);
  if (bracketed !== null) return { address: bracketed[1], port: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const colons = localIf.split(':').length - 1;
  if (colons === 1) {
    const [address, port] = localIf.split(':');
    return { address: address === '' ? undefined : address, port: Number(port) };
  }
  return { address: localIf };
}

/** The MTU must leave room for a minimal message. */
export function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 64 || mtu > 65535) throw new CoapArgumentError(`MTU must be an integer in 64..65535, got ${mtu}`);
  return mtu;
}
