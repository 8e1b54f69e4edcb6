/**
 * DTLS 1.2 with pre-shared keys (RFC 7252 §9.1.3.1, RFC 4279, RFC 6347) over node-dtls-client. Node only:
 * exported from `rxcoap/node`.
 *
 * node-dtls-client never retransmits a handshake flight (RFC 6347 §4.2.4). This transport retries the whole
 * handshake instead, each attempt on a fresh socket, with a window that doubles per attempt (RFC 6347 §4.2.4.1
 * starts its timer at 1 s and doubles it), until `handshakeDeadline`. Every timer of this file runs on the
 * injected scheduler.
 */
import { isIPv6, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import { Observable, ReplaySubject, Subject, timer, asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapDtlsError, CoapTransportError, type PeerAddress } from '../../errors';
import { checkPskIdentityKey, type PskIdentityKey } from '../../psk-credentials';
import type { Transport, TransportEvent, TransportFactory } from '../transport';
import { DEFAULT_PSK_CIPHER_SUITES, cipherSuiteById, cipherSuiteByName, type DtlsPskCipherSuite } from './cipher-suites';
import {
  abortEngineSocket,
  clearEngineTimer,
  engineUdpSocket,
  guardEngineInput,
  loadDtlsEngine,
  negotiatedCipherSuiteId,
  observeHandshake,
  type DtlsEngineOptions,
  type DtlsEngineSocket,
  type HandshakeProgress,
} from './engine';

/** Longest PSK identity and key accepted, in bytes (libcoap's COAP_DTLS_MAX_PSK_IDENTITY, COAP_DTLS_MAX_PSK). */
export { MAX_PSK_IDENTITY_LENGTH, MAX_PSK_KEY_LENGTH } from '../../psk-credentials';

/** A PSK identity and key (strings are encoded as UTF-8): the one `PskIdentityKey` type, under its DTLS name. */
export type DtlsPskCredentials = PskIdentityKey;

/** Options of {@link dtlsPskTransport}. */
export interface DtlsPskTransportOptions {
  /** Server address or host name. libcoap servers listen for DTLS on their `-p` port + 1 (default 5684). */
  readonly host: string;
  /** Server UDP port (5684 for `coaps`). */
  readonly port: number;
  /** IP family; derived from `host` (6 for an IPv6 literal, else 4) when not given. */
  readonly family?: 4 | 6;
  /** Local address to bind to. @defaultValue all interfaces */
  readonly localAddress?: string;
  /** Local port to bind to; every handshake attempt binds it again. @defaultValue an ephemeral port */
  readonly localPort?: number;
  /** Identity (at most 128 bytes) and key (1 to 64 bytes). Never logged nor put into error messages. */
  readonly psk: DtlsPskCredentials;
  /**
   * Called with the server's PSK identity hint (RFC 4279 §2), decoded as UTF-8, when the server sends one
   * (libcoap: `validate_ih_call_back`). Return the identity and key to use for this server, or null to abort
   * the handshake (`CoapDtlsError` with reason `'identity-hint-rejected'`). Not called when the server sends
   * no ServerKeyExchange (an empty hint, e.g. `coap-server -h ''`).
   *
   * node-dtls-client parses the hint and drops it; this transport reads it by wrapping the engine's
   * ServerHelloDone handler (see `engine.ts`), which runs before the engine builds its ClientKeyExchange.
   */
  readonly validateIdentityHint?: (hint: string) => DtlsPskCredentials | null;
  /**
   * Server Name Indication. Not supported: node-dtls-client sends a ClientHello without extensions, and
   * adding one from outside would break the handshake transcript. Passing it throws a `CoapArgumentError`.
   */
  readonly clientSni?: string;
  /** Scheduler for every timer. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /**
   * How long the first handshake attempt may take, in milliseconds; each later attempt gets twice as long
   * as the one before (RFC 6347 §4.2.4.1), up to 8 times this. @defaultValue 1000
   */
  readonly handshakeTimeout?: number;
  /** Total time for all handshake attempts, in milliseconds. @defaultValue 30000 */
  readonly handshakeDeadline?: number;
  /** Random source in [0, 1) for jitter: each window is stretched by up to 25 %. @defaultValue `Math.random` */
  readonly random?: () => number;
  /** Suites to offer, most preferred first. @defaultValue {@link DEFAULT_PSK_CIPHER_SUITES} */
  readonly cipherSuites?: readonly DtlsPskCipherSuite[];
}

interface ResolvedCredentials {
  /** The identity as the engine wants it: a string whose char codes are the identity's bytes. */
  readonly identityKey: string;
  readonly key: Buffer;
}

const utf8Decoder = new TextDecoder();

/** Checks identity and key (the one check, `checkPskIdentityKey`) and puts them in the engine's form. */
function resolveCredentials(credentials: DtlsPskCredentials | null | undefined, source: string): ResolvedCredentials {
  const { identity, key } = checkPskIdentityKey(credentials, source);
  // node-dtls-client keys its PSK table by identity string and encodes it with Buffer.from(s, 'ascii'),
  // which maps each char code to one byte (latin1): a latin1 string carries any identity bytes unchanged.
  return { identityKey: Buffer.from(identity).toString('latin1'), key: Buffer.from(key) };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CoapArgumentError(`${name} must be a positive number of milliseconds`);
  }
  return value;
}

function validPort(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new CoapArgumentError(`${name} must be an integer from 1 to 65535`);
  }
  return value;
}

/** Failure classes of one attempt. */
type AttemptFailure = { readonly retry: true; readonly why: string } | { readonly retry: false; readonly error: Error };

// Alerts meaning the keys did not match (RFC 5246 §7.2.2, RFC 4279 §2: unknown_psk_identity).
const BAD_PSK_ALERTS = new Set(['decrypt_error', 'bad_record_mac', 'unknown_psk_identity']);

const HINT_REJECTED = Symbol('rxcoap.dtls.hintRejected');

/**
 * A DTLS-PSK transport factory. Subscribing runs the handshake and emits one {@link Transport} when it is
 * done; unsubscribing sends close_notify and closes the socket.
 *
 * Errors (the Observable errors with):
 * - `CoapArgumentError`, thrown at once by this function: identity over 128 bytes, empty key or key over 64
 *   bytes, unknown cipher suite, `clientSni` (unsupported by the engine), bad ports or durations.
 * - `CoapDtlsError` `'handshake-timeout'`: no handshake completed before `handshakeDeadline`; the message
 *   says how far the attempts got (nothing back: no server, wrong port, or every packet lost).
 * - `CoapDtlsError` `'bad-psk'`: the keys do not match. Servers usually drop a Finished they cannot decrypt
 *   without an alert (RFC 6347 §4.1.2.7), so this is concluded when two attempts in a row get the server's
 *   ServerHelloDone and then no answer to the Finished; or at once on a decrypt_error / bad_record_mac /
 *   unknown_psk_identity alert, or a server Finished that does not verify.
 * - `CoapDtlsError` `'alert'`: another fatal alert (handshake_failure: often no common cipher suite).
 * - `CoapDtlsError` `'identity-hint-rejected'`: `validateIdentityHint` returned null.
 * - `CoapDtlsError` `'closed-by-peer'`: close_notify or a socket error after (or during) the handshake.
 * - `CoapTransportError`: the socket could not be bound or the host resolved, or a send failed.
 *
 * Events (`events$` replays those of the handshake): `'dtls-retry'` before each new attempt (`attempt` is its
 * number, `delay` the milliseconds it may take, `reason` why the last one failed), `'dtls-connected'` (the
 * negotiated suite as read from the engine, `'unknown'` if the engine hides it), `'connected'`, `'closed'`.
 *
 * `maxFrameOverhead` is exact for the negotiated suite (13-byte record header + 8-byte explicit nonce + 8-byte
 * CCM_8 tag = 29, or a 16-byte tag = 37 for CCM and GCM); when the suite is unknown, the worst offered one.
 * libcoap uses one fixed estimate per TLS library instead.
 *
 * Limits of the engine: DTLS 1.2 PSK only, no SNI, no session resumption, no connection ID; records from
 * any source address reach the engine (it binds an unconnected socket), but only the server can produce
 * records that decrypt once the handshake is done.
 */
export function dtlsPskTransport(options: DtlsPskTransportOptions): TransportFactory {
  if (options === null || typeof options !== 'object') throw new CoapArgumentError('dtlsPskTransport needs an options object');
  const { host, validateIdentityHint } = options;
  if (typeof host !== 'string' || host.length === 0) throw new CoapArgumentError('host must be a non-empty string');
  const port = validPort(options.port, 'port');
  const family = options.family ?? (isIPv6(host) ? 6 : 4);
  if (family !== 4 && family !== 6) throw new CoapArgumentError('family must be 4 or 6');
  const localAddress = options.localAddress;
  if (localAddress !== undefined && isIP(localAddress) !== family) {
    throw new CoapArgumentError(`localAddress must be an IPv${family} address`);
  }
  const localPort = options.localPort === undefined || options.localPort === 0 ? undefined : validPort(options.localPort, 'localPort');
  if (options.clientSni !== undefined) {
    throw new CoapArgumentError('clientSni is not supported: node-dtls-client sends no TLS extensions (no SNI)');
  }
  const credentials = resolveCredentials(options.psk, 'psk');
  const scheduler = options.scheduler ?? asyncScheduler;
  const random = options.random ?? Math.random;
  const handshakeTimeout = positive(options.handshakeTimeout, 1000, 'handshakeTimeout');
  const handshakeDeadline = positive(options.handshakeDeadline, 30000, 'handshakeDeadline');
  const suiteNames = options.cipherSuites ?? DEFAULT_PSK_CIPHER_SUITES;
  if (!Array.isArray(suiteNames) || suiteNames.length === 0) throw new CoapArgumentError('cipherSuites must list at least one suite');
  const suites = suiteNames.map((name) => {
    const suite = cipherSuiteByName(name);
    if (suite === undefined) throw new CoapArgumentError(`cipher suite ${String(name)} is not supported by the DTLS engine`);
    return suite;
  });
  const worstOverhead = Math.max(...suites.map((suite) => suite.overhead));
  const remote: PeerAddress = { host, port };
  const maxWindow = handshakeTimeout * 8;

  // The engine binds without an address; dgram resolves that bind through `lookup` with the unspecified
  // address, which is where a requested local address is substituted (remote names resolve normally).
  const unspecified = family === 6 ? '::' : '0.0.0.0';
  const lookup =
    localAddress === undefined
      ? undefined
      : (hostname: string, lookupOptions: unknown, callback: (...args: unknown[]) => void): void => {
          dnsLookup(hostname === unspecified ? localAddress : hostname, lookupOptions as number, callback);
        };

  // Records are accepted from the peer only (the engine's socket is not connected): by port, and by address too
  // when the server is named by an IP literal.
  const peerLiteral = isIP(host) === 0 ? undefined : host;

  return () =>
    new Observable<Transport>((subscriber) => {
      const events$ = new ReplaySubject<TransportEvent>();
      const frames$ = new Subject<Uint8Array>();
      const startedAt = scheduler.now();
      let attempt = 0;
      let socket: DtlsEngineSocket | undefined;
      let attemptTimer: Subscription | undefined;
      let progress: HandshakeProgress = 'nothing';
      let furthest: HandshakeProgress = 'nothing';
      let stalledAfterServerHelloDone = 0;
      let state: 'handshaking' | 'connected' | 'done' = 'handshaking';
      let lastRetryReason = '';

      const finish = (reason: string): void => {
        state = 'done';
        attemptTimer?.unsubscribe();
        attemptTimer = undefined;
        events$.next({ type: 'closed', reason });
        events$.complete();
        frames$.complete();
      };

      const fail = (error: Error): void => {
        if (state === 'done') return;
        const current = socket;
        socket = undefined;
        if (current !== undefined) abortEngineSocket(current);
        finish(error.message);
        subscriber.error(error);
      };

      const describeProgress = (): string =>
        furthest === 'nothing'
          ? 'no DTLS answer at all: no server on that port (libcoap serves DTLS on its -p port + 1) or every packet lost'
          : furthest === 'hello-verify-request'
            ? 'the server answered the first ClientHello only: packets lost, or no common cipher suite'
            : 'the server sent ServerHelloDone but the handshake did not finish: packets lost, or a wrong PSK';

      const endAttempt = (): void => {
        attemptTimer?.unsubscribe();
        attemptTimer = undefined;
        const current = socket;
        socket = undefined;
        if (current !== undefined) abortEngineSocket(current);
      };

      const onAttemptFailed = (failure: AttemptFailure): void => {
        endAttempt();
        if (!failure.retry) {
          fail(failure.error);
          return;
        }
        stalledAfterServerHelloDone = progress === 'server-hello-done' ? stalledAfterServerHelloDone + 1 : 0;
        const elapsed = scheduler.now() - startedAt;
        const tried = `${attempt} handshake attempt${attempt === 1 ? '' : 's'} in ${Math.round(elapsed)} ms with ${suites.map((s) => s.name).join(', ')}`;
        if (stalledAfterServerHelloDone >= 2) {
          fail(
            new CoapDtlsError(
              'bad-psk',
              `DTLS handshake with ${host}:${port} failed: the server answered up to ServerHelloDone but never answered our Finished (${tried}); the PSK identity or key is probably wrong`,
              { peer: remote },
            ),
          );
          return;
        }
        const remaining = handshakeDeadline - elapsed;
        if (remaining <= 0) {
          fail(new CoapDtlsError('handshake-timeout', `DTLS handshake with ${host}:${port} timed out after ${tried}: ${describeProgress()}`, { peer: remote }));
          return;
        }
        lastRetryReason = failure.why;
        startAttempt(remaining);
      };

      const classifyError = (error: Error & { code?: unknown }): AttemptFailure => {
        if ((error as { [HINT_REJECTED]?: boolean })[HINT_REJECTED] === true) {
          return { retry: false, error: new CoapDtlsError('identity-hint-rejected', error.message, { peer: remote }) };
        }
        const message = typeof error.message === 'string' ? error.message : '';
        const alert = /received fatal alert: (\w+)/.exec(message);
        if (alert !== null) {
          const description = alert[1];
          if (BAD_PSK_ALERTS.has(description)) {
            return {
              retry: false,
              error: new CoapDtlsError('bad-psk', `DTLS handshake with ${host}:${port} failed: the server sent a ${description} alert; the PSK identity or key is probably wrong`, { peer: remote, cause: error }),
            };
          }
          const hint = description === 'handshake_failure' ? ' (often: no cipher suite in common, or a wrong PSK)' : '';
          return {
            retry: false,
            error: new CoapDtlsError('alert', `DTLS handshake with ${host}:${port} failed: the server sent a fatal ${description} alert${hint}`, { peer: remote, cause: error }),
          };
        }
        if (message === 'DTLS handshake failed') {
          // the engine's check of the server's Finished (RFC 5246 §7.4.9): both sides derived different keys
          return {
            retry: false,
            error: new CoapDtlsError('bad-psk', `DTLS handshake with ${host}:${port} failed: the server's Finished does not verify; the PSK key is probably wrong`, { peer: remote, cause: error }),
          };
        }
        if (/timed out/.test(message)) return { retry: true, why: 'the engine timed out' };
        if (typeof error.code === 'string') {
          return {
            retry: false,
            error: new CoapTransportError(`DTLS socket to ${host}:${port} failed: ${error.code}`, { syscallCode: error.code, peer: remote, cause: error }),
          };
        }
        return { retry: false, error: new CoapDtlsError('handshake-failed', `DTLS handshake with ${host}:${port} failed: ${message}`, { peer: remote, cause: error }) };
      };

      const onConnected = (current: DtlsEngineSocket): void => {
        attemptTimer?.unsubscribe();
        attemptTimer = undefined;
        clearEngineTimer(current);
        state = 'connected';
        const suiteId = negotiatedCipherSuiteId(current);
        const suite = suiteId === undefined ? undefined : cipherSuiteById(suiteId);
        const cipherSuite = suite?.name ?? (suiteId === undefined ? 'unknown' : `0x${suiteId.toString(16).padStart(4, '0')}`);
        let local: PeerAddress = { host: localAddress ?? unspecified, port: localPort ?? 0 };
        try {
          const address = engineUdpSocket(current)?.address();
          if (address !== undefined) local = { host: address.address, port: address.port };
        } catch {
          // the engine hides its socket: keep what was asked for
        }
        events$.next({ type: 'dtls-connected', cipherSuite, attempts: attempt });
        events$.next({ type: 'connected', local, remote });
        const transport: Transport = {
          frames$: frames$.asObservable(),
          events$: events$.asObservable(),
          maxFrameOverhead: suite?.overhead ?? worstOverhead,
          reliable: false,
          local,
          remote,
          send(frame: Uint8Array): void {
            if (state !== 'connected' || socket !== current) return;
            try {
              current.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), (error) => {
                if (error)
                  fail(new CoapTransportError(`DTLS send to ${host}:${port} failed`, { syscallCode: (error as { code?: string }).code, peer: remote, cause: error }));
              });
            } catch (error) {
              fail(new CoapTransportError(`DTLS send to ${host}:${port} failed`, { peer: remote, cause: error }));
            }
          },
        };
        subscriber.next(transport);
      };

      const startAttempt = (remaining: number): void => {
        attempt++;
        progress = 'nothing';
        const window = Math.min(handshakeTimeout * 2 ** (attempt - 1), maxWindow) * (1 + 0.25 * random());
        const attemptWindow = Math.max(1, Math.min(window, remaining));
        if (attempt > 1) events$.next({ type: 'dtls-retry', attempt, delay: attemptWindow, reason: lastRetryReason });

        const engineOptions: DtlsEngineOptions & { lookup?: unknown } = {
          type: family === 6 ? 'udp6' : 'udp4',
          address: host,
          port,
          psk: { [credentials.identityKey]: credentials.key },
          // The engine's own watchdog (a real timer) is only a backstop: the attempt window above decides.
          timeout: handshakeDeadline + 1000,
          ciphers: suites.map((suite) => suite.name),
          listenPort: localPort,
          lookup,
        };
        let current: DtlsEngineSocket;
        try {
          current = loadDtlsEngine().createSocket(engineOptions);
        } catch (error) {
          fail(error instanceof CoapTransportError ? error : new CoapTransportError(`cannot open a DTLS socket to ${host}:${port}`, { peer: remote, cause: error }));
          return;
        }
        socket = current;
        const isCurrent = (): boolean => socket === current;
        guardEngineInput(current, (rinfo) => rinfo.port === port && (peerLiteral === undefined || sameAddress(rinfo.address, peerLiteral)));

        engineUdpSocket(current)?.once('listening', () => {
          if (!isCurrent()) return;
          const hooked = observeHandshake(current, {
            progress(reached) {
              progress = reached;
              if (reached === 'server-hello-done' || furthest === 'nothing') furthest = reached;
            },
            identityHint(hintBytes) {
              if (validateIdentityHint === undefined) return;
              const hint = utf8Decoder.decode(hintBytes);
              let chosen: DtlsPskCredentials | null;
              try {
                chosen = validateIdentityHint(hint);
              } catch (error) {
                throw Object.assign(new Error('validateIdentityHint threw: the handshake was aborted', { cause: error }), { [HINT_REJECTED]: true });
              }
              if (chosen === null || chosen === undefined) {
                throw Object.assign(new Error(`the identity hint sent by ${host}:${port} was rejected by validateIdentityHint`), { [HINT_REJECTED]: true });
              }
              let resolved: ResolvedCredentials;
              try {
                resolved = resolveCredentials(chosen, 'validateIdentityHint');
              } catch (error) {
                throw Object.assign(new Error((error as Error).message), { [HINT_REJECTED]: true });
              }
              // the engine reads options.psk when it builds the ClientKeyExchange, right after this hook
              engineOptions.psk = { [resolved.identityKey]: resolved.key };
            },
          });
          if (!hooked && validateIdentityHint !== undefined) {
            onAttemptFailed({
              retry: false,
              error: new CoapDtlsError('handshake-failed', 'validateIdentityHint cannot be honoured: this node-dtls-client version hides the identity hint', { peer: remote }),
            });
          }
        });
        current.on('connected', () => {
          if (isCurrent()) onConnected(current);
        });
        current.on('message', (data: Buffer) => {
          if (isCurrent() && state === 'connected') frames$.next(data);
        });
        current.on('error', (error: Error) => {
          if (!isCurrent()) return;
          if (state === 'connected') {
            fail(new CoapDtlsError('closed-by-peer', `DTLS session with ${host}:${port} ended: ${error.message}`, { peer: remote, cause: error }));
          } else {
            onAttemptFailed(classifyError(error));
          }
        });
        current.on('close', () => {
          if (!isCurrent()) return;
          socket = undefined;
          fail(
            new CoapDtlsError(
              'closed-by-peer',
              state === 'connected' ? `the server ${host}:${port} closed the DTLS session (close_notify)` : `the server ${host}:${port} closed the DTLS session during the handshake`,
              { peer: remote },
            ),
          );
        });
        attemptTimer = timer(attemptWindow, scheduler).subscribe(() => {
          if (isCurrent() && state === 'handshaking') {
            onAttemptFailed({ retry: true, why: progress === 'nothing' ? `no answer within ${Math.round(attemptWindow)} ms` : `stalled after ${progress} within ${Math.round(attemptWindow)} ms` });
          }
        });
      };

      startAttempt(handshakeDeadline);

      return () => {
        if (state === 'done') return;
        const current = socket;
        socket = undefined;
        const wasConnected = state === 'connected';
        finish('unsubscribed');
        if (current === undefined) return;
        if (wasConnected) {
          // RFC 5246 §7.2.1: close_notify, then the engine closes its UDP socket
          current.on('error', () => undefined);
          try {
            current.close();
          } catch {
            abortEngineSocket(current);
          }
        } else {
          abortEngineSocket(current);
        }
      };
    });
}

/** Same IP address, an IPv4-mapped IPv6 form included. */
function sameAddress(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, '') === b.replace(/^::ffff:/, '');
}
