/**
 * CoapContext: libcoap's `coap_context_t` on the client side. It holds the defaults sessions inherit
 * (scheduler, transmission parameters, block mode, PSK, MTU, logger) and the sessions it created;
 * `free()` ends them all.
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { CoapArgumentError } from './errors';
import { OptionNumber } from './codec/option-numbers';
import { encodeString, encodeUint } from './codec/option-values';
import type { CoapOption } from './codec/pdu';
import { DEFAULT_PORTS, parseCoapUri } from './codec/uri';
import { randomTokenGenerator, type TokenGenerator } from './exchange/token';
import { resolveTransmissionParameters, type TransmissionParameters } from './message-layer/transmission-params';
import { ClientSession } from './session/client-session';
import {
  checkMtu,
  parseLocalInterface,
  resolvePsk,
  type BlockMode,
  type ClientSessionOptions,
  type ClientSessionPskOptions,
  type CoapContextOptions,
  type ResolvedPsk,
} from './session/session-options';
import { transportFor, type CoapProto } from './session/transport-registry';

/** Default path MTU (libcoap COAP_DEFAULT_MTU). */
export const DEFAULT_MTU = 1152;

/** Default largest body of a block-wise download. */
export const DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024;

/** Shared state and defaults for client sessions (libcoap `coap_new_context`). */
export class CoapContext {
  readonly #options: CoapContextOptions;
  readonly #sessions = new Set<ClientSession>();
  #blockMode: Required<BlockMode>;
  /** Shared by every session that sets no parameters of its own. */
  readonly #params: TransmissionParameters;
  /** Token generators by length, shared by the sessions (they hold no per-session state). */
  readonly #tokenGenerators = new Map<number, TokenGenerator>();
  readonly #servers = new Map<string, ResolvedServer>();
  readonly #onSessionClosed = (session: ClientSession): void => {
    this.#sessions.delete(session);
  };
  #freed = false;

  constructor(options: CoapContextOptions = {}) {
    this.#options = options;
    this.#params = resolveTransmissionParameters(options.transmission);
    if (options.mtu !== undefined) checkMtu(options.mtu);
    this.#blockMode = resolveBlockMode(options.blockMode);
  }

  /** The scheduler every session of this context runs its timers on. */
  get scheduler(): SchedulerLike {
    return this.#options.scheduler ?? asyncScheduler;
  }

  /** Live sessions. */
  get sessions(): ReadonlySet<ClientSession> {
    return this.#sessions;
  }

  /** Block mode for sessions created from now on (libcoap `coap_context_set_block_mode`). */
  setBlockMode(mode: BlockMode): void {
    this.#blockMode = resolveBlockMode(mode);
  }

  /** A session to a `coap://` server (libcoap `coap_new_client_session`). */
  newClientSession(options: ClientSessionOptions): ClientSession {
    return this.#newSession(options, 'udp', undefined);
  }

  /** A session to a `coaps://` server with a pre-shared key (libcoap `coap_new_client_session_psk2`). */
  newClientSessionPsk(options: ClientSessionPskOptions): ClientSession {
    return this.#newSession(options, 'dtls', resolvePsk(options.psk ?? this.#options.psk));
  }

  /**
   * Ends every session (libcoap `coap_free_context`): exchanges in flight fail with `CoapSessionClosedError`,
   * sockets close. Resolves once the sockets have had their turn to close.
   */
  free(): Promise<void> {
    this.#freed = true;
    for (const session of [...this.#sessions]) session.dispose();
    return new Promise((resolve) => setImmediate(resolve));
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

  #newSession(options: ClientSessionOptions, defaultProto: CoapProto, psk: ResolvedPsk | undefined): ClientSession {
    if (this.#freed) throw new CoapArgumentError('the context was freed');
    const context = this.#options;
    const target = this.#resolveServer(options, defaultProto);
    if (target.proto === 'dtls' && psk === undefined) {
      throw new CoapArgumentError('coaps:// needs credentials: use newClientSessionPsk({ server, psk })');
    }
    if (target.proto === 'udp' && psk !== undefined) {
      throw new CoapArgumentError(`a PSK session needs a coaps:// server, not ${describeServer(options.server)}`);
    }
    const scheduler = context.scheduler ?? asyncScheduler;
    const local = parseLocalInterface(options.localIf);
    const registered = options.transport === undefined ? transportFor(target.proto) : undefined;
    const transport =
      options.transport ??
      registered!.make({ host: target.host, port: target.port, localAddress: local.address, localPort: local.port, psk, scheduler });
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
      blockMode: this.#blockMode,
      maxBlockSize: context.maxBlockSize ?? 1024,
      maxBodySize: context.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
      logger: options.logger ?? context.logger,
      onClosed: this.#onSessionClosed,
    });
    this.#sessions.add(session);
    return session;
  }
}

function resolveBlockMode(mode: BlockMode | undefined): Required<BlockMode> {
  return {
    useLibrary: mode?.useLibrary ?? true,
    singleBody: mode?.singleBody ?? true,
    noPreemptiveRequestTag: mode?.noPreemptiveRequestTag ?? false,
  };
}

function describeServer(server: ClientSessionOptions['server']): string {
  if (typeof server === 'string') return server;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${host}:${server.port ?? 0}`;
}

/** One empty list for every session to an IP literal on the default port. */
const NO_OPTIONS: CoapOption[] = [];

interface ResolvedServer {
  readonly proto: CoapProto;
  readonly host: string;
  readonly port: number;
  readonly hostOptions: CoapOption[];
}

/** Server address → protocol, host, port (0 = scheme default) and the Uri-Host/Uri-Port the requests carry. */
function resolveServer(options: ClientSessionOptions, defaultProto: CoapProto): ResolvedServer {
  const server = options.server;
  if (typeof server === 'string') {
    const uri = parseCoapUri(server);
    if (uri.reliable) throw new CoapArgumentError(`${uri.scheme}:// is not supported by this version`);
    if (uri.unixPath !== undefined) throw new CoapArgumentError('Unix-domain sockets are not supported by this version');
    const proto: CoapProto = uri.secure ? 'dtls' : 'udp';
    if (options.proto !== undefined && options.proto !== proto) {
      throw new CoapArgumentError(`proto '${options.proto}' does not match the ${uri.scheme}:// URI`);
    }
    const host = uri.zoneId === undefined ? uri.host : `${uri.host}%${uri.zoneId}`;
    const hostOptions = uri.options.filter((option) => option.number === OptionNumber.UriHost || option.number === OptionNumber.UriPort);
    return { proto, host, port: uri.port, hostOptions: hostOptions.length === 0 ? NO_OPTIONS : hostOptions };
  }
  const proto = options.proto ?? defaultProto;
  const defaultPort = DEFAULT_PORTS[proto === 'dtls' ? 'coaps' : 'coap'];
  const port = server.port === undefined || server.port === 0 ? defaultPort : server.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CoapArgumentError(`port ${server.port} is not in 1..65535`);
  const hostOptions: CoapOption[] = [];
  const isLiteral = /^[0-9.]+$/.test(server.host) || server.host.includes(':');
  if (!isLiteral) hostOptions.push({ number: OptionNumber.UriHost, value: encodeString(server.host.toLowerCase()) });
  if (port !== defaultPort) hostOptions.push({ number: OptionNumber.UriPort, value: encodeUint(port) });
  return { proto, host: server.host, port, hostOptions: hostOptions.length === 0 ? NO_OPTIONS : hostOptions };
}
