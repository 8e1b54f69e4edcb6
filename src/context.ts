/**
 * CoapContext: libcoap's `coap_context_t` on the client side. It holds the defaults sessions inherit
 * (scheduler, transmission parameters, block mode, PSK, MTU, logger) and the sessions it created;
 * `free()` ends them all.
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { CoapArgumentError, CoapUriError } from './errors';
import { OptionNumber } from './codec/option-numbers';
import { encodeString, encodeUint } from './codec/option-values';
import type { CoapOption } from './codec/pdu';
import { DEFAULT_PORTS, parseCoapUri, type CoapScheme } from './codec/uri';
import { isMulticastHost } from './peer-address';
import { randomTokenGenerator, type TokenGenerator } from './exchange/token';
import { resolveTransmissionParameters, type TransmissionParameters } from './message-layer/transmission-params';
import { ClientSession } from './session/client-session';
import { resolveBlockMode, type BlockModeFlags, type BlockModeOptions, type ResolvedBlockMode } from './session/block-mode';
import {
  checkContextOptions,
  checkMtu,
  checkSessionOptions,
  parseLocalInterface,
  resolveReconnect,
  type ClientSessionOptions,
  type ClientSessionPkiOptions,
  type ClientSessionPskOptions,
  type CoapContextOptions,
  type ResolvedPsk,
} from './session/session-options';
import { defaultCredentials, isReliableProto, transportFor, type CoapProto } from './session/transport-registry';
import type { PkiCredentials } from './pki-credentials';
import { checkPkiWhenUsable } from './session/pki-check';
import { resolvePskWhenUsable } from './session/psk-check';

/** Default path MTU (libcoap COAP_DEFAULT_MTU). */
export const DEFAULT_MTU = 1152;

/** RFC 7252 §8.2: how long a server may wait before answering a multicast request, in milliseconds. */
export const DEFAULT_LEISURE = 5000;

/** Default largest body of a block-wise download. */
export const DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024;

/**
 * Shared state and defaults for client sessions (libcoap `coap_new_context`). The constructor and every method
 * check their arguments and throw {@link CoapArgumentError} naming the field.
 */
export class CoapContext {
  readonly #options: CoapContextOptions;
  readonly #sessions = new Set<ClientSession>();
  #blockMode: ResolvedBlockMode;
  /** The context's PSK, checked once: the default of `newClientSessionPsk`. */
  readonly #psk: ResolvedPsk | undefined;
  #rootCas: { readonly caFile?: string; readonly caDir?: string } | undefined;
  /** Shared by every session that sets no parameters of its own. */
  readonly #params: TransmissionParameters;
  /** Token generators by length, shared by the sessions (they hold no per-session state). */
  readonly #tokenGenerators = new Map<number, TokenGenerator>();
  readonly #servers = new Map<string, ResolvedServer>();
  readonly #onSessionClosed = (session: ClientSession): void => {
    this.#sessions.delete(session);
  };
  #freed = false;

  /**
   * @param options - defaults for the sessions; throws {@link CoapArgumentError} naming the field for a bad one
   *   (e.g. `'transmission.ackTimeout'`, `'blockMode'`, `'psk.key'`)
   */
  constructor(options: CoapContextOptions = {}) {
    checkContextOptions(options);
    this.#options = options;
    this.#params = resolveTransmissionParameters(options.transmission);
    this.#blockMode = resolveBlockMode(options.blockMode);
    this.#psk = options.psk === undefined ? undefined : resolvePskWhenUsable(options.psk);
  }

  /** The scheduler every session of this context runs its timers on. */
  get scheduler(): SchedulerLike {
    return this.#options.scheduler ?? asyncScheduler;
  }

  /** Live sessions. */
  get sessions(): ReadonlySet<ClientSession> {
    return this.#sessions;
  }

  /**
   * Block mode for sessions created from now on (libcoap `coap_context_set_block_mode`): an object
   * (`{ singleBody: false }`) or libcoap's flags (`BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY`).
   * Throws {@link CoapArgumentError} for anything else.
   */
  setBlockMode(mode: BlockModeOptions | BlockModeFlags): void {
    this.#blockMode = resolveBlockMode(mode);
  }

  /**
   * A session to a `coap://` server (libcoap `coap_new_client_session`): `newClientSession('coap://host:port')`
   * or `newClientSession({ server, ...options })`. The server URI has no path or query: requests name their paths.
   * Throws {@link CoapArgumentError} naming the field for a bad option.
   */
  newClientSession(options: ClientSessionOptions | string): ClientSession {
    return this.#newSession(checkSessionOptions(options), 'udp', {});
  }

  /**
   * A session to a `coaps://` server with a pre-shared key (libcoap `coap_new_client_session_psk2`):
   * `newClientSessionPsk({ server, psk })`, or `newClientSessionPsk('coaps://host')` with the context's `psk`.
   * Throws {@link CoapArgumentError} naming the field for a bad option or missing credentials.
   */
  newClientSessionPsk(options: ClientSessionPskOptions | string): ClientSession {
    const checked = checkSessionOptions(options);
    const psk = checked.psk === undefined ? (this.#psk ?? resolvePskWhenUsable(undefined)) : resolvePskWhenUsable(checked.psk);
    return this.#newSession(checked, 'dtls', { psk });
  }

  /**
   * A session to a `coaps://` (DTLS), `coaps+tcp://` or `coaps+ws://` server with certificates (libcoap
   * `coap_new_client_session_pki`): `newClientSessionPki({ server, pki })`, or with the context's `pki`. The server certificate is verified by
   * default, against `pki.pkiKey.caFile`, the roots of {@link CoapContext.setPkiRootCas}, or the system's.
   * Throws {@link CoapArgumentError} naming the field for a bad option.
   */
  newClientSessionPki(options: ClientSessionPkiOptions | string): ClientSession {
    const checked = checkSessionOptions(options) as ClientSessionPkiOptions;
    const pki: PkiCredentials = checked.pki ?? this.#options.pki ?? {};
    checkPkiWhenUsable(pki, checked.pki === undefined && this.#options.pki !== undefined ? 'pki (context)' : 'pki');
    return this.#newSession(checked, 'tls', { pki });
  }

  /**
   * Trusted root CAs for certificate verification of this context's sessions (libcoap
   * `coap_context_set_pki_root_cas`): a file of PEM certificates and/or a directory of them. Without any, the
   * system's trust store is used. Applies to sessions created from now on.
   */
  setPkiRootCas(caFile?: string, caDir?: string): void {
    if (caFile !== undefined && (typeof caFile !== 'string' || caFile === '')) throw new CoapArgumentError('caFile must be a file path', { field: 'caFile' });
    if (caDir !== undefined && (typeof caDir !== 'string' || caDir === '')) throw new CoapArgumentError('caDir must be a directory path', { field: 'caDir' });
    this.#rootCas = caFile === undefined && caDir === undefined ? undefined : { caFile, caDir };
  }

  /**
   * Ends every session (libcoap `coap_free_context`), as `release()` does at 0: live observations send their
   * deregistration and complete, requests still waiting for a response error with `CoapSessionClosedError`,
   * sockets close. Resolves once the sockets have had their turn to close.
   */
  free(): Promise<void> {
    this.#freed = true;
    for (const session of [...this.#sessions]) session.dispose();
    // A macrotask (browser-safe, unlike setImmediate): socket close callbacks run before it.
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  /**
   * Server address → protocol, host, port and Uri-Host/Uri-Port options, shared by the sessions to the same
   * server (many sessions to one server is how traffic to it scales, so their options should not be copies).
   */
  #resolveServer(options: ClientSessionOptions, defaultProto: CoapProto): ResolvedServer {
    if (typeof options.server !== 'string') return resolveServer(options, defaultProto);
    const key = `${options.proto ?? ''}|${options.server}`;
    let resolved = this.#servers.get(key);
    if (resolved === undefined) {
      resolved = resolveServer(options, defaultProto);
      if (this.#servers.size >= 256) this.#servers.delete(this.#servers.keys().next().value as string);
      this.#servers.set(key, resolved);
    }
    return resolved;
  }

  #tokenGenerator(length: number): TokenGenerator {
    let generator = this.#tokenGenerators.get(length);
    if (generator === undefined) this.#tokenGenerators.set(length, (generator = randomTokenGenerator(length)));
    return generator;
  }

  #newSession(options: ClientSessionOptions, defaultProto: CoapProto, credentials: { psk?: ResolvedPsk; pki?: PkiCredentials }): ClientSession {
    if (this.#freed) throw new CoapArgumentError('the context was freed');
    const context = this.#options;
    const target = this.#resolveServer(options, defaultProto);
    const registered = options.transport === undefined ? transportFor(target.proto) : undefined;
    let { psk, pki } = credentials;
    const takes = registered?.credentials ?? defaultCredentials(target.proto);
    if (takes === 'none' && (psk !== undefined || pki !== undefined)) {
      throw new CoapArgumentError(`${psk !== undefined ? 'a PSK' : 'a certificate'} session needs a secure server (coaps://, coaps+tcp://, coaps+ws://), not ${describeServer(options.server)}`, { field: 'server' });
    }
    // A browser's WebSocket does TLS itself, against the browser's trust store: rxcoap cannot hand it a key.
    if (takes === 'platform' && (psk !== undefined || pki !== undefined || context.pki !== undefined)) {
      const what = psk !== undefined ? 'a PSK' : pki !== undefined ? 'certificates' : "the context's certificates (pki)";
      throw new CoapArgumentError(
        `${describeServer(options.server)} runs on this platform's own WebSocket (a browser's), which does TLS itself: it cannot take ${what}; use newClientSession({ server }) and let the browser trust the server's certificate`,
        { field: psk !== undefined ? 'psk' : 'pki' },
      );
    }
    if (takes === 'psk' && pki !== undefined) {
      throw new CoapArgumentError('DTLS with certificates is not supported by this version: use newClientSessionPsk for coaps://', { field: 'server' });
    }
    if (takes === 'psk' && psk === undefined) {
      throw new CoapArgumentError('coaps:// needs credentials: use newClientSessionPsk({ server, psk })', { field: 'server' });
    }
    // A secure stream without credentials verifies the server against the trusted roots (RFC 8323 §9.1, §9.2).
    // DTLS without credentials is libcoap's anonymous DTLS: the transport verifies against setPkiRootCas roots if any.
    if (takes === 'psk-or-pki' && psk === undefined && pki === undefined && target.proto !== 'dtls') {
      pki = context.pki ?? {};
      checkPkiWhenUsable(pki, 'pki (context)');
    }
    const scheduler = context.scheduler ?? asyncScheduler;
    const local = parseLocalInterface(options.localIf);
    const multicast = target.path === undefined && isMulticastHost(target.host) ? checkMulticast(target.proto, options) : undefined;
    checkLocalSide(target, local);
    const transport =
      options.transport ??
      registered!.make({
        host: target.host,
        port: target.port,
        localAddress: local.address,
        localPort: local.port,
        path: target.path,
        localPath: local.path,
        multicast,
        psk,
        pki,
        rootCas: this.#rootCas,
        scheduler,
      });
    const keepalive = options.keepalive ?? context.keepalive ?? 0;
    const session = new ClientSession({
      proto: target.proto,
      server: describeServer(options.server),
      transport,
      hostOptions: target.hostOptions,
      scheduler,
      params: options.transmission === undefined ? this.#params : resolveTransmissionParameters(context.transmission, options.transmission),
      random: context.random ?? Math.random,
      tokenGenerator: context.tokenGenerator ?? this.#tokenGenerator(options.tokenLength ?? context.tokenLength ?? 8),
      mtu: checkMtu(options.mtu ?? context.mtu ?? DEFAULT_MTU),
      frameOverhead: registered?.frameOverhead ?? 0,
      reliable: registered?.reliable ?? isReliableProto(target.proto),
      signaling: { keepalive: keepalive * 1000, csmTimeout: options.csmTimeout },
      reconnect: resolveReconnect(options.reconnect ?? context.reconnect),
      blockMode: this.#blockMode,
      maxBlockSize: context.maxBlockSize ?? 1024,
      maxBodySize: context.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
      logger: options.logger ?? context.logger,
      multicast: multicast === undefined ? undefined : { leisure: options.leisure ?? DEFAULT_LEISURE },
      onClosed: this.#onSessionClosed,
    });
    this.#sessions.add(session);
    return session;
  }
}

/** A multicast session (RFC 7252 §8): plain `coap://` over UDP only (there is no multicast DTLS or TCP). */
function checkMulticast(proto: CoapProto, options: ClientSessionOptions): { interface?: string } {
  if (proto !== 'udp') throw new CoapArgumentError(`a multicast group is reached over coap:// (UDP) only, not ${SCHEME_OF_PROTO[proto]}://`, { field: 'server' });
  return { interface: options.multicastInterface };
}

/** The local side must be of the server's kind: a path for a Unix datagram server, an address for an IP one. */
function checkLocalSide(target: ResolvedServer, local: { address?: string; port?: number; path?: string }): void {
  if (target.path === undefined) {
    if (local.path !== undefined) throw new CoapArgumentError('localIf { path } is for Unix-domain servers: give an address or port for an IP server', { field: 'localIf.path' });
    return;
  }
  if (local.address !== undefined || local.port !== undefined) {
    throw new CoapArgumentError('a Unix-domain session binds a path: give localIf as { path }', { field: 'localIf' });
  }
  if (local.path !== undefined && target.proto === 'tcp') {
    throw new CoapArgumentError('a Unix stream (coap+tcp://) client socket is unnamed: node:net cannot bind it to localIf.path, and the server needs none', { field: 'localIf.path' });
  }
}

function describeServer(server: ClientSessionOptions['server']): string {
  if (typeof server === 'string') return server;
  if ('path' in server) return server.path;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${host}:${server.port ?? 0}`;
}

/** libcoap's protocols by URI scheme (RFC 7252 §6, RFC 8323 §8). */
const PROTO_OF_SCHEME: Readonly<Record<CoapScheme, CoapProto>> = {
  coap: 'udp',
  coaps: 'dtls',
  'coap+tcp': 'tcp',
  'coaps+tcp': 'tls',
  'coap+ws': 'ws',
  'coaps+ws': 'wss',
};

const SCHEME_OF_PROTO: Readonly<Record<CoapProto, CoapScheme>> = {
  udp: 'coap',
  dtls: 'coaps',
  tcp: 'coap+tcp',
  tls: 'coaps+tcp',
  ws: 'coap+ws',
  wss: 'coaps+ws',
};

/** One empty list for every session to an IP literal on the default port. */
const NO_OPTIONS: CoapOption[] = [];

interface ResolvedServer {
  readonly proto: CoapProto;
  readonly host: string;
  readonly port: number;
  readonly hostOptions: CoapOption[];
  /** A Unix-domain server's socket path. */
  readonly path?: string;
}

/**
 * A Unix-domain server (libcoap's AF_UNIX): `coap://` over datagrams, `coap+tcp://` over a stream socket. No
 * Uri-Host or Uri-Port: a path is no host (libcoap sends none either).
 */
function unixServer(proto: CoapProto, path: string): ResolvedServer {
  if (proto !== 'udp' && proto !== 'tcp') {
    throw new CoapArgumentError(`Unix-domain sockets carry coap:// (datagram) and coap+tcp:// (stream), not ${SCHEME_OF_PROTO[proto]}://`, { field: 'server' });
  }
  return { proto, host: path, port: 0, hostOptions: NO_OPTIONS, path };
}

/** Server address → protocol, host, port (0 = scheme default) and the Uri-Host/Uri-Port the requests carry. */
function resolveServer(options: ClientSessionOptions, defaultProto: CoapProto): ResolvedServer {
  const server = options.server;
  if (typeof server === 'string') {
    let uri;
    try {
      uri = parseCoapUri(server);
    } catch (error) {
      if (!(error instanceof CoapUriError)) throw error;
      throw new CoapArgumentError(`server is not a usable URI: ${error.message.replace(/^invalid CoAP URI: /, '')}`, { field: 'server', cause: error });
    }
    // The session is to a server, not a resource: a base path would be silently dropped (issue 16).
    if (uri.options.some((option) => option.number === OptionNumber.UriPath || option.number === OptionNumber.UriQuery)) {
      throw new CoapArgumentError(
        `server must be a URI without path or query ('${uri.scheme}://host:port'), got '${server}': give the path to each request instead`,
        { field: 'server' },
      );
    }
    const proto = PROTO_OF_SCHEME[uri.scheme];
    if (options.proto !== undefined && options.proto !== proto) {
      throw new CoapArgumentError(`proto '${options.proto}' does not match the ${uri.scheme}:// URI`, { field: 'proto' });
    }
    if (uri.unixPath !== undefined) return unixServer(proto, uri.unixPath);
    const host = uri.zoneId === undefined ? uri.host : `${uri.host}%${uri.zoneId}`;
    const hostOptions = uri.options.filter((option) => option.number === OptionNumber.UriHost || option.number === OptionNumber.UriPort);
    return { proto, host, port: uri.port, hostOptions: hostOptions.length === 0 ? NO_OPTIONS : hostOptions };
  }
  const proto = options.proto ?? defaultProto;
  if ('path' in server) return unixServer(proto, server.path);
  const defaultPort = DEFAULT_PORTS[SCHEME_OF_PROTO[proto]];
  const port = server.port === undefined || server.port === 0 ? defaultPort : server.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CoapArgumentError(`port ${server.port} is not in 1..65535`, { field: 'server.port' });
  const hostOptions: CoapOption[] = [];
  const isLiteral = /^[0-9.]+$/.test(server.host) || server.host.includes(':');
  if (!isLiteral) hostOptions.push({ number: OptionNumber.UriHost, value: encodeString(server.host.toLowerCase()) });
  if (port !== defaultPort) hostOptions.push({ number: OptionNumber.UriPort, value: encodeUint(port) });
  return { proto, host: server.host, port, hostOptions: hostOptions.length === 0 ? NO_OPTIONS : hostOptions };
}
