/**
 * The one file that knows node-dtls-client: how it is loaded, and the few internals the PSK transport reads
 * (negotiated suite, handshake progress, identity hint) because its public API does not expose them.
 * Every internal access is guarded: if a future version renames a field, the transport degrades (suite
 * reported as `'unknown'`, no early wrong-key detection) instead of crashing, and the specs catch it.
 *
 * Loading: node-dtls-client 2.x is ESM-only and rxcoap compiles to CommonJS. The engine is loaded lazily, on
 * the first subscription, with a plain `require()`:
 * - Node >= 20.19 (and >= 22.12) loads an ES module through `require()` (require(esm), unflagged): the built
 *   `dist/` output loads it synchronously, without a warning on 20.20.
 * - jest runs CommonJS through its own module registry, which cannot load ES modules before Node 24.9:
 *   `jest.config.ts` compiles node-dtls-client's files to CommonJS (spec/helpers/esm-to-cjs-transform.cjs),
 *   so the same `require()` works in specs.
 * - Older Node (20.0 to 20.18, or `--no-experimental-require-module`) throws `ERR_REQUIRE_ESM`: the transport
 *   then errors with a `CoapTransportError` saying so, instead of `rxcoap/node` failing to load at all.
 * - The ES module build (dist/esm) gets its `require` from `createRequire(import.meta.url)` (scripts/build-esm.js).
 * - node-dtls-client is an optional peer dependency: when it is not installed the transport errors with a
 *   `CoapTransportError` saying how to install it.
 * A dynamic `import()` is not used: TypeScript's CommonJS output rewrites it into `require()`, and the
 * usual `new Function('return import(x)')` workaround fails under jest without `--experimental-vm-modules`.
 */
import type * as dgram from 'node:dgram';
import type { dtls } from 'node-dtls-client';
import { CoapTransportError } from '../../errors';

/** The engine's public namespace. */
export type DtlsEngine = typeof dtls;
/** One engine socket (one handshake attempt). */
export type DtlsEngineSocket = dtls.Socket;
/** The engine's connection options. */
export type DtlsEngineOptions = dtls.Options;

let cachedEngine: DtlsEngine | undefined;

/** Loads node-dtls-client once; throws a CoapTransportError when this Node cannot `require()` ES modules. */
export function loadDtlsEngine(): DtlsEngine {
  if (cachedEngine !== undefined) return cachedEngine;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require('node-dtls-client') as typeof import('node-dtls-client');
    cachedEngine = loaded.dtls;
    return cachedEngine;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // node-dtls-client is an optional peer dependency: its engines field says Node >= 22 (it runs on 20.19 too),
    // which would fail an engine-strict install of rxcoap on Node 20, so users who want coaps:// install it.
    const message =
      code === 'ERR_REQUIRE_ESM'
        ? `cannot load node-dtls-client: it is an ES module and this Node (${process.version}) cannot require() ES modules; use Node >= 20.19`
        : code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
          ? 'coaps:// (DTLS-PSK) needs node-dtls-client, an optional peer dependency that is not installed: npm install node-dtls-client'
          : 'cannot load node-dtls-client, the DTLS engine';
    throw new CoapTransportError(message, { cause: error, syscallCode: typeof code === 'string' ? code : undefined });
  }
}

// RFC 5246 §7.4 / RFC 6347 §4.3.2 handshake message types.
const HELLO_VERIFY_REQUEST = 3;
const SERVER_KEY_EXCHANGE = 12;
const SERVER_HELLO_DONE = 14;

/** How far one handshake attempt got, as seen from the client. */
export type HandshakeProgress = 'nothing' | 'hello-verify-request' | 'server-hello-done';

interface EngineHandshakeMessage {
  msg_type?: number;
  raw_data?: Uint8Array;
}

interface EngineInternals {
  udp?: dgram.Socket;
  _connectionTimeout?: ReturnType<typeof setTimeout>;
  killConnection?: (error?: Error) => void;
  recordLayer?: {
    currentWriteEpoch?: { connectionState?: { cipherSuite?: { id?: unknown } } };
  };
  handshakeHandler?: {
    handle?: Record<number, ((messages: EngineHandshakeMessage[]) => void) | undefined>;
  };
}

function internals(socket: DtlsEngineSocket): EngineInternals {
  return socket as unknown as EngineInternals;
}

/**
 * Guards the engine's datagram handler: node-dtls-client parses records inside its socket's 'message' listener
 * and throws on some malformed ones (`RangeError: size NaN` for an empty handshake fragment, `unsupported
 * message type 67`), which would reach the process as an uncaught exception, and its socket is not connected,
 * so any sender could do it. Datagrams not from the peer are dropped; a record the engine cannot parse is
 * discarded, as RFC 6347 §4.1.2.7 says of invalid records (a stalled handshake is retried by the transport).
 * Must be called right after `createSocket` (the engine adds its listener in the constructor).
 */
export function guardEngineInput(socket: DtlsEngineSocket, fromPeer: (rinfo: dgram.RemoteInfo) => boolean, onDiscarded?: (error: unknown) => void): void {
  const udp = internals(socket).udp;
  if (udp === undefined) return;
  const listeners = udp.listeners('message') as ((message: Buffer, rinfo: dgram.RemoteInfo) => void)[];
  udp.removeAllListeners('message');
  udp.on('message', (message: Buffer, rinfo: dgram.RemoteInfo) => {
    if (!fromPeer(rinfo)) return;
    for (const listener of listeners) {
      try {
        listener.call(udp, message, rinfo);
      } catch (error) {
        onDiscarded?.(error);
      }
    }
  });
}

/** The engine's UDP socket (to read the local address). */
export function engineUdpSocket(socket: DtlsEngineSocket): dgram.Socket | undefined {
  return internals(socket).udp;
}

/** The code point of the suite in use after the handshake, or undefined if the engine hides it. */
export function negotiatedCipherSuiteId(socket: DtlsEngineSocket): number | undefined {
  const id = internals(socket).recordLayer?.currentWriteEpoch?.connectionState?.cipherSuite?.id;
  return typeof id === 'number' ? id : undefined;
}

/**
 * Stops an attempt without a close_notify: closes the UDP socket and clears the engine's own handshake
 * timer (a real `setTimeout`, which would otherwise keep Node alive until it fires).
 */
export function abortEngineSocket(socket: DtlsEngineSocket): void {
  const inner = internals(socket);
  clearEngineTimer(socket);
  if (typeof inner.killConnection === 'function') {
    inner.killConnection.call(socket);
  } else {
    try {
      inner.udp?.close();
    } catch {
      // already closed
    }
  }
}

/** Clears the engine's handshake watchdog timer. */
export function clearEngineTimer(socket: DtlsEngineSocket): void {
  const timer = internals(socket)._connectionTimeout;
  if (timer !== undefined && timer !== null) clearTimeout(timer);
}

/** Callbacks for {@link observeHandshake}. */
export interface HandshakeObserver {
  /** The server's flight 2 (HelloVerifyRequest) or 4 (ServerHello ... ServerHelloDone) arrived. */
  progress(progress: HandshakeProgress): void;
  /**
   * The ServerKeyExchange carried this PSK identity hint (RFC 4279 §2). Runs before the engine builds its
   * ClientKeyExchange, so returning new credentials changes the identity and key used; throwing aborts.
   */
  identityHint(hint: Uint8Array): void;
}

/**
 * Hooks the engine's handshake handler to see the server's flights and the identity hint, which
 * node-dtls-client parses and drops. Must be called when the engine's UDP socket is listening (the
 * handler exists from then on, and no server flight can have been processed yet).
 * @returns false when the engine's internals are not where they are expected
 */
export function observeHandshake(socket: DtlsEngineSocket, observer: HandshakeObserver): boolean {
  const handle = internals(socket).handshakeHandler?.handle;
  if (handle === undefined) return false;
  const onHelloVerify = handle[HELLO_VERIFY_REQUEST];
  const onServerHelloDone = handle[SERVER_HELLO_DONE];
  if (typeof onHelloVerify !== 'function' || typeof onServerHelloDone !== 'function') return false;
  handle[HELLO_VERIFY_REQUEST] = (messages) => {
    observer.progress('hello-verify-request');
    onHelloVerify(messages);
  };
  handle[SERVER_HELLO_DONE] = (messages) => {
    observer.progress('server-hello-done');
    for (const message of messages) {
      if (message.msg_type === SERVER_KEY_EXCHANGE && message.raw_data !== undefined) {
        // RFC 4279 §2: struct { opaque psk_identity_hint<0..2^16-1>; } ServerKeyExchange
        const raw = message.raw_data;
        if (raw.length >= 2) {
          const length = (raw[0] << 8) | raw[1];
          observer.identityHint(raw.subarray(2, 2 + Math.min(length, raw.length - 2)));
        }
      }
    }
    onServerHelloDone(messages);
  };
  return true;
}
