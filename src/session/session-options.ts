/**
 * Options of contexts and sessions. A session inherits every default from its context unless it sets its own
 * (libcoap: `coap_context_set_*` then `coap_new_client_session*`).
 */
import type { SchedulerLike } from 'rxjs';
import { CoapArgumentError } from '../errors';
import type { TokenGenerator } from '../exchange/token';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { Transport, TransportFactory } from '../transport/transport';
import type { BlockModeFlags, BlockModeOptions } from './block-mode';
import type { CoapProto } from './transport-registry';
import type { PkiCredentials } from '../pki-credentials';
import { checkBackoff, checkBlockSize, checkInteger, checkOptionalFunction, checkOptionalInteger, checkRecord, describeValue, invalidArgument, isRecord } from '../validate';

export { BlockMode, type BlockModeFlags, type BlockModeOptions, type ResolvedBlockMode } from './block-mode';

import type { PskCredentials } from '../psk-credentials';
export type { BytesOrText, PskCredentials, PskIdentityKey, ResolvedPsk } from '../psk-credentials';
export { resolvePsk } from '../psk-credentials';

/** Receives log lines. Keys never reach it. */
export interface CoapLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  /**
   * Called with every message sent and received when present (for `-v 7` style tracing): a datagram, or one
   * RFC 8323 frame (`framing` `'stream'`) or WebSocket message (`'websocket'`) on reliable transports.
   */
  pdu?(direction: 'sent' | 'received', frame: Uint8Array, framing?: 'datagram' | 'stream' | 'websocket'): void;
}

/** Defaults a context gives its sessions. */
export interface CoapContextOptions {
  /** Where every timer runs. @defaultValue rxjs `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** RFC 7252 §4.8 parameters. */
  readonly transmission?: Partial<TransmissionParameters>;
  /**
   * Block-wise behaviour: an object (`{ singleBody: false }`) or libcoap flags
   * (`BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY`). @defaultValue `{ useLibrary: true, singleBody: true }`
   */
  readonly blockMode?: BlockModeOptions | BlockModeFlags;
  /** Largest block size to use: a power of two in 16..1024, whatever the MTU allows. @defaultValue 1024 */
  readonly maxBlockSize?: number;
  /** Largest body a block-wise download may grow to, in bytes (a positive integer). @defaultValue 8 MiB */
  readonly maxBodySize?: number;
  /** Default PSK for `newClientSessionPsk` calls that give none. */
  readonly psk?: PskCredentials;
  /** Default certificate credentials of `newClientSessionPki` sessions. */
  readonly pki?: PkiCredentials;
  /** Default keepalive of reliable sessions, in seconds (see `ClientSessionOptions.keepalive`). */
  readonly keepalive?: number;
  /** Default reconnect behaviour of sessions (see `ClientSessionOptions.reconnect`). */
  readonly reconnect?: ReconnectOptions | boolean;
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

/**
 * The local side to bind: `'127.0.0.1'`, `'127.0.0.1:5000'`, `'[::1]:5000'` or an object; for a Unix datagram
 * session `{ path }`, the session's own socket path (libcoap's AF_UNIX `local_if`, unique per session).
 */
export type LocalInterface = string | { readonly address?: string; readonly port?: number } | { readonly path: string };

/**
 * Where a session connects: a URI without path or query (`'coap://host:port'`, or a Unix socket path as libcoap
 * writes it, `'coap://%2Ftmp%2Fserver.sock'`), `{ host, port }` with a host name or IP address (no brackets, no
 * port in the host), or `{ path }`, a Unix-domain socket (datagram for `udp`, stream for `tcp`).
 */
export type ServerAddress = string | { readonly host: string; readonly port?: number } | { readonly path: string };

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
  /**
   * Carry the session over your own link instead of a registered socket: a serial line, a MessagePort to a worker,
   * a radio, a tunnel, or the fake transport of `rxcoap/testing` in virtual time. The factory follows the one
   * transport contract ({@link TransportFactory}, {@link Transport}): subscribing opens the link and emits one
   * `Transport` (`frames$`, `send`, `events$`, `reliable`, `framing`, `local`, `remote`, `maxFrameOverhead`);
   * unsubscribing closes it; a lost link errors the Observable with `CoapTransportError`.
   *
   * The transport picks the stack: `framing: 'datagram'` (one RFC 7252 message per frame; the message layer
   * retransmits CONs), `'stream'` (RFC 8323 §3.2 frames in chunks cut anywhere) or `'websocket'` (one RFC 8323 §4
   * message per frame); both reliable framings exchange CSMs and skip the message layer. The datagram and stream
   * framings are installed, not bundled by default: `rxcoap/node` installs both (and `createFakeTransport` the
   * datagram one); elsewhere (a browser) call `useDatagramStack()` or `useStreamFraming()` once, else the requests
   * fail with `CoapArgumentError`. `server` still names the
   * peer (Uri-Host, messages): use the scheme of the framing (`coap://` for datagrams, `coap+tcp://` for a
   * stream, `coap+ws://` for messages) so that `maxPduSize()` before the first connection matches too. No socket
   * is opened and no name is resolved. Run `describeTransportContract` (`rxcoap/testing`) on your factory.
   *
   * @example
   * ```ts
   * const session = ctx.newClientSession({ server: 'coap+tcp://sensor', transport: () => serialTransport('/dev/ttyUSB0') });
   * ```
   */
  readonly transport?: TransportFactory;
  readonly logger?: CoapLogger;
  /**
   * Reliable transports (TCP, TLS, WebSockets): send a Ping after this many seconds without anything from the
   * server, and fail the session after 3 unanswered (libcoap `coap_context_set_keepalive`). 0 = off. The context's
   * value when absent.
   */
  readonly keepalive?: number;
  /** Reliable transports: how long to wait for the server's CSM (and a Pong), in milliseconds. @defaultValue 10000 */
  readonly csmTimeout?: number;
  /**
   * Opt-in: when the connection is lost, reconnect with back-off (on the scheduler), send the CSM again and
   * re-register the live observations, which go on on the same Observables. Requests in flight still fail (they
   * may not be safe to repeat). `true` takes the defaults. The context's value when absent.
   */
  readonly reconnect?: ReconnectOptions | boolean;
  /**
   * Multicast sessions (the server is a group address, RFC 7252 §8.2): the servers' leisure, in milliseconds.
   * A multicast request emits every answer until leisure plus a margin (the transmission parameters'
   * ACK_TIMEOUT, for the way back) has passed, then completes. @defaultValue 5000 (RFC 7252 DEFAULT_LEISURE)
   */
  readonly leisure?: number;
  /**
   * Multicast sessions: the interface the requests leave by. IPv6: the interface name (`'eth0'`, as the zone of
   * `coap://[ff02::fd%25eth0]`, which also sets it); IPv4: the interface's own address. @defaultValue the system's
   */
  readonly multicastInterface?: string;
}

/** How a session reconnects (`reconnect` option). */
export interface ReconnectOptions {
  /** Delay before the first attempt, in milliseconds; each next attempt waits twice as long. @defaultValue 1000 */
  readonly initialDelay?: number;
  /** Longest delay between attempts, in milliseconds. @defaultValue 30000 */
  readonly maxDelay?: number;
  /** Attempts before giving up (`reconnect-failed`; the observations then fail). @defaultValue 10 */
  readonly maxAttempts?: number;
}

/** Options of `ctx.newClientSessionPsk()`. */
export interface ClientSessionPskOptions extends ClientSessionOptions {
  /** Credentials; the context's `psk` when absent. */
  readonly psk?: PskCredentials;
}

/** Options of `ctx.newClientSessionPki()`. */
export interface ClientSessionPkiOptions extends ClientSessionOptions {
  /** Certificate credentials and verification rules; the context's `pki` when absent. */
  readonly pki?: PkiCredentials;
}


function portNumber(text: string, localIf: string, field: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw invalidArgument(field, "must be 'address', 'address:port' or '[v6]:port' with a port in 0..65535", localIf);
  return Number(text);
}

/**
 * Parses and checks a local interface: `'127.0.0.1'`, `'127.0.0.1:5000'`, `':5000'`, `'[::1]:5000'`, `'::1'`, or
 * `{ address?, port? }`.
 */
export function parseLocalInterface(localIf: unknown, field = 'localIf'): { address?: string; port?: number; path?: string } {
  if (localIf === undefined) return {};
  if (typeof localIf !== 'string') {
    checkRecord(localIf, field, "an address string ('127.0.0.1:5000') or { address?, port? }");
    if ('path' in localIf) {
      const path = localIf.path;
      if (typeof path !== 'string' || !path.startsWith('/')) throw invalidArgument(`${field}.path`, 'must be an absolute socket path', path);
      if ('address' in localIf || 'port' in localIf) throw invalidArgument(field, 'takes either { path } (Unix) or { address?, port? } (IP), not both', localIf);
      return { path };
    }
    const { address, port } = localIf as { address?: unknown; port?: unknown };
    if (address !== undefined && (typeof address !== 'string' || address === '')) throw invalidArgument(`${field}.address`, 'must be a non-empty string', address);
    checkOptionalInteger(port, `${field}.port`, 0, 65535);
    return { address, port };
  }
  if (localIf === '') throw invalidArgument(field, 'must not be empty', localIf);
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(localIf);
  if (bracketed !== null) return { address: bracketed[1], port: bracketed[2] === undefined ? undefined : portNumber(bracketed[2], localIf, field) };
  const colons = localIf.split(':').length - 1;
  if (colons === 1) {
    const [address, port] = localIf.split(':');
    return { address: address === '' ? undefined : address, port: portNumber(port, localIf, field) };
  }
  return { address: localIf };
}

/** The MTU must leave room for a minimal message. */
export function checkMtu(mtu: unknown, field = 'mtu'): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 64 || mtu > 65535) {
    throw new CoapArgumentError(`MTU must be an integer in 64..65535, got ${describeValue(mtu)}`, { field });
  }
  return mtu;
}

/** rxjs `SchedulerLike`: `now()` and `schedule()`. */
function checkScheduler(value: unknown, field: string): void {
  if (value === undefined) return;
  const scheduler = value as Partial<SchedulerLike> | null;
  if ((typeof value !== 'object' && typeof value !== 'function') || scheduler === null || typeof scheduler.now !== 'function' || typeof scheduler.schedule !== 'function') {
    throw invalidArgument(field, 'must be an rxjs SchedulerLike (with now() and schedule())', value);
  }
}

function checkLogger(value: unknown, field: string): void {
  if (value === undefined) return;
  checkRecord(value, field, 'an object with debug/info/warn/pdu methods');
  for (const method of ['debug', 'info', 'warn', 'pdu']) checkOptionalFunction(value[method], `${field}.${method}`);
}

/** RFC 7252 §5.3.1: 0..8 bytes. */
function checkTokenLength(value: unknown, field: string): void {
  checkOptionalInteger(value, field, 0, 8);
}

/**
 * Checks the context options that need no resolving (the transmission parameters, block mode and PSK are
 * checked where they are resolved). Throws {@link CoapArgumentError} naming the field.
 */
export function checkContextOptions(options: unknown): asserts options is CoapContextOptions {
  checkRecord(options, 'options', 'an object of context options');
  const context = options as CoapContextOptions;
  checkScheduler(context.scheduler, 'scheduler');
  if (context.maxBlockSize !== undefined) checkBlockSize(context.maxBlockSize, 'maxBlockSize');
  if (context.maxBodySize !== undefined) checkInteger(context.maxBodySize, 'maxBodySize', 1, Number.MAX_SAFE_INTEGER);
  checkLogger(context.logger, 'logger');
  checkOptionalFunction(context.random, 'random');
  checkTokenLength(context.tokenLength, 'tokenLength');
  checkOptionalFunction(context.tokenGenerator, 'tokenGenerator');
  if (context.mtu !== undefined) checkMtu(context.mtu);
}

const PROTOS: ReadonlySet<string> = new Set<CoapProto>(['udp', 'dtls', 'tcp', 'tls', 'ws', 'wss']);

/** A host for `{ host, port }`: a name or an IP address, not a URI part or `host:port`. */
function checkHost(host: unknown, field: string): asserts host is string {
  if (typeof host !== 'string' || host === '') throw invalidArgument(field, 'must be a non-empty host name or IP address', host);
  if (/[\s\x00-\x1f\x7f/?#@[\]]/.test(host)) throw invalidArgument(field, 'must be a host name or IP address (no brackets, spaces, / ? # @)', host);
  if (host.split(':').length === 2) throw invalidArgument(field, 'must not carry a port (use server.port)', host);
}

/**
 * Checks the options of `newClientSession` / `newClientSessionPsk` and turns a URI string into `{ server }`.
 * The server URI itself is parsed (and checked) when the server is resolved, the transmission parameters and
 * PSK when they are resolved.
 * @param options - what the caller passed
 */
export function checkSessionOptions(options: unknown): ClientSessionPskOptions {
  if (typeof options === 'string') return { server: options };
  checkRecord(options, 'options', `a server URI or an object { server, ... }`);
  const session = options as unknown as ClientSessionPskOptions;
  const server: unknown = session.server;
  if (typeof server !== 'string') {
    checkRecord(server, 'server', "a URI ('coap://host:port'), { host, port? } or { path }");
    if ('path' in server && !('host' in server)) {
      if (typeof server.path !== 'string' || !server.path.startsWith('/')) throw invalidArgument('server.path', 'must be an absolute socket path', server.path);
    } else {
      checkHost(server.host, 'server.host');
      checkOptionalInteger(server.port, 'server.port', 0, 65535);
    }
  }
  if (session.proto !== undefined && !PROTOS.has(session.proto)) throw invalidArgument('proto', `must be one of ${[...PROTOS].join(', ')}`, session.proto);
  parseLocalInterface(session.localIf);
  if (session.mtu !== undefined) checkMtu(session.mtu);
  checkTokenLength(session.tokenLength, 'tokenLength');
  checkOptionalFunction(session.transport, 'transport');
  checkLogger(session.logger, 'logger');
  if (session.keepalive !== undefined && (typeof session.keepalive !== 'number' || !(session.keepalive >= 0) || session.keepalive > 86_400)) {
    throw invalidArgument('keepalive', 'must be a number of seconds in 0..86400', session.keepalive);
  }
  checkReconnect(session.reconnect, 'reconnect');
  if (session.leisure !== undefined && (typeof session.leisure !== 'number' || !(session.leisure >= 0) || session.leisure > 0x7fffffff)) {
    throw invalidArgument('leisure', 'must be a number of milliseconds in 0..2147483647', session.leisure);
  }
  if (session.multicastInterface !== undefined && (typeof session.multicastInterface !== 'string' || session.multicastInterface === '')) {
    throw invalidArgument('multicastInterface', 'must be an interface name (IPv6) or address (IPv4)', session.multicastInterface);
  }
  if (session.csmTimeout !== undefined && (typeof session.csmTimeout !== 'number' || !(session.csmTimeout > 0) || session.csmTimeout > 0x7fffffff)) {
    throw invalidArgument('csmTimeout', 'must be a positive number of milliseconds', session.csmTimeout);
  }
  return session;
}

/** Checks a `reconnect` option (`true`, `false` or the object form). */
export function checkReconnect(value: unknown, field: string): void {
  if (value === undefined || typeof value === 'boolean') return;
  checkRecord(value, field, 'true, false or { initialDelay?, maxDelay?, maxAttempts? }');
  checkBackoff(value, field);
}

/** The reconnect options a session runs with, or undefined for none. */
export function resolveReconnect(value: ReconnectOptions | boolean | undefined): ReconnectOptions | undefined {
  if (value === undefined || value === false) return undefined;
  return value === true ? {} : value;
}
