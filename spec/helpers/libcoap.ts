/**
 * Starts and stops real libcoap servers (`coap-server-notls`, `-openssl`, `-gnutls`) for interop specs, on
 * free loopback ports, and implements the interop rule of ARCHITECTURE.md: a missing binary skips the
 * suite with a loud warning, unless `COAP_INTEROP=required` (set by `.ci/run`), which turns it into a failure.
 *
 * Two libcoap versions: 4.3.1 is Debian bookworm's `libcoap3-bin` (`coap-server-*` on PATH, /usr/bin); 4.3.4 is
 * Debian trixie's build, installed by `scripts/install-libcoap-4.3.4.sh` into a private prefix (the environment
 * variable `LIBCOAP_4_3_4_PREFIX`, default `/opt/libcoap-4.3.4`) and run through that prefix's own loader and
 * libraries (`PREFIX/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path ... BINARY`), so nothing of the
 * system changes. A missing 4.3.4 counts as a missing binary.
 *
 * Ports: `coap-server -p P` serves CoAP on UDP and TCP port P and, in the (D)TLS builds, DTLS and TLS on
 * P + 1. The helper finds a P where all four are free and returns both numbers.
 *
 * Real timers and child processes are fine here: this is test scaffolding, not protocol code.
 */
import { describeWhen } from './describe-when';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** Which libcoap build. */
export type LibcoapFlavor = 'notls' | 'openssl' | 'gnutls';

/** Which libcoap version: Debian bookworm's (on PATH) or trixie's (the private prefix). */
export type LibcoapVersion = '4.3.1' | '4.3.4';

/** Every version the interop specs know, oldest first. */
export const LIBCOAP_VERSIONS: readonly LibcoapVersion[] = ['4.3.1', '4.3.4'];

/** What a suite needs: builds, and the versions of each (default 4.3.1). */
export interface LibcoapRequirement {
  readonly flavors: LibcoapFlavor | readonly LibcoapFlavor[];
  readonly version?: LibcoapVersion | readonly LibcoapVersion[];
}

/** How to run one server binary: a command and the arguments before the server's own. */
export interface LibcoapCommand {
  readonly command: string;
  readonly prefixArgs: readonly string[];
  /** The server binary itself (for messages). */
  readonly binary: string;
}

/** The private prefix of libcoap 4.3.4: `LIBCOAP_4_3_4_PREFIX`, default `/opt/libcoap-4.3.4`. */
export function libcoap434Prefix(): string {
  const prefix = process.env.LIBCOAP_4_3_4_PREFIX;
  return prefix === undefined || prefix === '' ? '/opt/libcoap-4.3.4' : prefix;
}

const LIB_DIR = 'usr/lib/x86_64-linux-gnu';
const LOADER = 'ld-linux-x86-64.so.2';

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Options of {@link startLibcoapServer}. */
export interface LibcoapServerOptions {
  readonly flavor: LibcoapFlavor;
  /** Extra arguments (`-k key`, `-h hint`, `-d 10`, `-N`, `-v 7` ...); `-A` and `-p` are added by the helper. */
  readonly args?: readonly string[];
  /** Loopback address to bind to. @defaultValue '127.0.0.1' */
  readonly host?: '127.0.0.1' | '::1';
  /** How long to wait for the server to answer a CoAP ping, in milliseconds. @defaultValue 5000 */
  readonly readyTimeout?: number;
  /** Which libcoap: Debian's 4.3.1 from PATH, or the private 4.3.4 (see {@link libcoap434Prefix}). @defaultValue '4.3.1' */
  readonly version?: LibcoapVersion;
  /** Binary to run instead of `coap-server-<flavor>` of `version` (run as is, without a loader). */
  readonly binary?: string;
  /** How many characters of the server's output {@link LibcoapServer.output} keeps (the newest). @defaultValue 20000 */
  readonly outputLimit?: number;
  /**
   * Serve on this Unix socket path instead of a port (4.3.4 only: give `-U coap` or `-U coap+tcp` in `args`):
   * `-A path`, no `-p`; ready once the socket file exists. `port` is then 0.
   */
  readonly unixPath?: string;
}

/** A running server. */
export interface LibcoapServer {
  readonly host: string;
  /** CoAP over UDP (and TCP). */
  readonly port: number;
  /** DTLS (and TLS) for the openssl and gnutls builds: `port + 1`. */
  readonly securePort: number;
  readonly process: ChildProcess;
  readonly version: LibcoapVersion;
  /** The server's stdout and stderr so far (the newest `outputLimit` characters; for failure messages and logs). */
  output(): string;
  /**
   * Resolves with the first match of `pattern` in the output after character `from` (default 0) once it appears;
   * rejects after `timeout` ms (default 5000) with the output in the message.
   */
  waitForOutput(pattern: RegExp, options?: { readonly timeout?: number; readonly from?: number }): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after 2 s; resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Path of the server binary for a flavor and version, or undefined when it is not installed. 4.3.1: the first
 * `coap-server-<flavor>` on PATH. 4.3.4: `PREFIX/usr/bin/coap-server-<flavor>`, when the prefix's loader is there too.
 */
export function libcoapServerBinary(flavor: LibcoapFlavor, version: LibcoapVersion = '4.3.1'): string | undefined {
  return libcoapServerCommand(flavor, version)?.binary;
}

/** How to run `coap-server-<flavor>` of a version (4.3.4 through its own loader), or undefined when missing. */
export function libcoapServerCommand(flavor: LibcoapFlavor, version: LibcoapVersion = '4.3.1'): LibcoapCommand | undefined {
  const name = `coap-server-${flavor}`;
  if (version === '4.3.4') {
    const prefix = libcoap434Prefix();
    const binary = path.join(prefix, 'usr/bin', name);
    const loader = path.join(prefix, LIB_DIR, LOADER);
    if (!executable(binary) || !executable(loader)) return undefined;
    return { command: loader, prefixArgs: ['--library-path', path.join(prefix, LIB_DIR), binary], binary };
  }
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (executable(candidate)) return { command: candidate, prefixArgs: [], binary: candidate };
  }
  return undefined;
}

/** True when `coap-server-<flavor>` of that version (default 4.3.1) is installed. */
export function libcoapAvailable(flavor: LibcoapFlavor, version: LibcoapVersion = '4.3.1'): boolean {
  return libcoapServerCommand(flavor, version) !== undefined;
}

/** `coap-server-openssl` for 4.3.1, `coap-server-openssl 4.3.4` for the private one. */
function describeBuild(flavor: LibcoapFlavor, version: LibcoapVersion): string {
  return version === '4.3.1' ? `coap-server-${flavor}` : `coap-server-${flavor} ${version}`;
}

function asList<T extends string>(value: T | readonly T[]): readonly T[] {
  return typeof value === 'string' ? [value] : value;
}

/**
 * `describe` for a suite that needs libcoap server builds: runs when all are installed; otherwise skips with a
 * loud warning, or fails when `COAP_INTEROP=required`. `needs` is a flavor, a list of flavors (of 4.3.1), or
 * `{ flavors, version }` (e.g. `{ flavors: ['openssl', 'gnutls'], version: '4.3.4' }`).
 */
export function describeInterop(name: string, needs: LibcoapFlavor | readonly LibcoapFlavor[] | LibcoapRequirement, fn: () => void): void {
  const requirement: LibcoapRequirement = typeof needs === 'string' || Array.isArray(needs) ? { flavors: needs as LibcoapFlavor | readonly LibcoapFlavor[] } : (needs as LibcoapRequirement);
  const missing: string[] = [];
  for (const version of asList(requirement.version ?? '4.3.1')) {
    for (const flavor of asList(requirement.flavors)) {
      if (!libcoapAvailable(flavor, version)) missing.push(describeBuild(flavor, version));
    }
  }
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const what = missing.join(', ');
  const needs434 = missing.some((build) => build.endsWith(' 4.3.4'));
  const needs431 = missing.some((build) => !build.endsWith(' 4.3.4'));
  const where = [
    needs431 ? 'libcoap 4.3.1 on PATH (apt-get install libcoap3-bin)' : '',
    needs434 ? `libcoap 4.3.4 under ${libcoap434Prefix()} (bash scripts/install-libcoap-4.3.4.sh; LIBCOAP_4_3_4_PREFIX sets the prefix)` : '',
  ]
    .filter((text) => text !== '')
    .join(' and ');
  describeWhen(name, { what, how: `install ${where}` }, fn);
}

function udpPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

function tcpPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function ephemeralUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A port P such that UDP and TCP P and P + 1 are free on host (found by binding port 0, then checking). */
export async function findFreePortPair(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await ephemeralUdpPort(host);
    if (port >= 65535) continue;
    const free = await Promise.all([udpPortFree(port + 1, host), tcpPortFree(port, host), tcpPortFree(port + 1, host)]);
    if (free.every(Boolean)) return port;
  }
  throw new Error(`no free port pair found on ${host}`);
}

/** Sends a CoAP ping (empty CON, RFC 7252 §4.3) and resolves true when any answer (RST) arrives in time. */
function coapPing(host: string, port: number, timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeout);
    socket.once('error', () => done(false));
    socket.once('message', () => done(true));
    const messageId = Math.floor(Math.random() * 0x10000);
    socket.send(Uint8Array.of(0x40, 0x00, messageId >> 8, messageId & 0xff), port, host);
  });
}

function isSocket(file: string): boolean {
  try {
    return fs.statSync(file).isSocket();
  } catch {
    return false;
  }
}

/**
 * Whether a Unix stream socket accepts a connection. Its file exists from bind(), before listen(): a client that
 * came in between would be refused, so a stream server is ready only once a connection gets through.
 */
function acceptsStream(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: file });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const running = new Set<ChildProcess>();
/** coreutils' stdbuf, when installed (it is on Debian). */
const STDBUF = (process.env.PATH ?? '/usr/bin').split(path.delimiter).some((dir) => dir !== '' && executable(path.join(dir, 'stdbuf')));
let exitHookInstalled = false;

/** Starts a libcoap server on free loopback ports and resolves once it answers a CoAP ping. */
export async function startLibcoapServer(options: LibcoapServerOptions): Promise<LibcoapServer> {
  const host = options.host ?? '127.0.0.1';
  const version = options.version ?? '4.3.1';
  const build = describeBuild(options.flavor, version);
  const command: LibcoapCommand | undefined =
    options.binary === undefined ? libcoapServerCommand(options.flavor, version) : { command: options.binary, prefixArgs: [], binary: options.binary };
  if (command === undefined) throw new Error(`${build} is not installed`);
  const outputLimit = options.outputLimit ?? 20000;
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // last resort if a spec forgets stop(): never leave a server behind
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  const readyTimeout = options.readyTimeout ?? 5000;
  // `-U coap+tcp` (or coap+tls): a stream socket, ready once it accepts, not once its file exists.
  const unixStream = (options.args ?? []).some((arg) => arg === 'coap+tcp' || arg === 'coap+tls');
  let lastError = '';
  for (let tries = 0; tries < 3; tries++) {
    const unixPath = options.unixPath;
    const port = unixPath === undefined ? await findFreePortPair(host) : 0;
    const address = unixPath === undefined ? ['-A', host, '-p', String(port)] : ['-A', unixPath];
    const argv = [command.command, ...command.prefixArgs, ...address, ...(options.args ?? [])];
    // libcoap prints each PDU (at -v 7) on stdout with stdio's buffering, which is by block on a pipe: a PDU
    // line would show up only at the next log line. stdbuf (coreutils) makes it line-buffered; it execs the
    // server, so the child's pid is the server's (SIGKILL reaches it).
    const stdbuf = STDBUF ? ['stdbuf', '-oL', '-eL'] : [];
    const [file, ...args] = [...stdbuf, ...argv];
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    const listeners = new Set<() => void>();
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-outputLimit);
      for (const listener of listeners) listener();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.once('exit', () => running.delete(child));
    child.once('error', (error) => append(Buffer.from(String(error))));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(killer);
        }
        child.stdout?.destroy();
        child.stderr?.destroy();
      })();
      return stopping;
    };
    const waitForOutput = (pattern: RegExp, wait: { readonly timeout?: number; readonly from?: number } = {}): Promise<RegExpMatchArray> =>
      new Promise((resolve, reject) => {
        const limit = wait.timeout ?? 5000;
        const check = (): boolean => {
          const match = output.slice(wait.from ?? 0).match(pattern);
          if (match === null) return false;
          finish();
          resolve(match);
          return true;
        };
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = (): void => void check();
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${build} did not print ${pattern} within ${limit} ms; output:\n${output.slice(-4000)}`));
        }, limit);
        listeners.add(listener);
        check();
      });
    const server: LibcoapServer = { host, port, securePort: port + 1, process: child, version, output: () => output, waitForOutput, stop };
    const deadline = Date.now() + readyTimeout;
    let unbound = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (unixPath !== undefined) {
        if (isSocket(unixPath) && (!unixStream || (await acceptsStream(unixPath)))) return server;
        await new Promise((resolve) => setTimeout(resolve, 20));
      } else if (await coapPing(host, port, 100)) {
        // libcoap goes on serving when one of its endpoints fails to bind (port + 1 for DTLS/TLS may have been
        // taken by another socket since it was checked free): its log says so, and the next try takes other ports.
        if (!/bind[^\n]*(in use|failed)/i.test(output)) return server;
        lastError = `${build} on ${host}:${port} could not bind all its endpoints; output:\n${output}`;
        unbound = true;
        break;
      }
    }
    if (unbound) {
      await stop();
      continue;
    }
    lastError = `${build} on ${host}:${port} did not answer a CoAP ping within ${readyTimeout} ms; output:\n${output}`;
    await stop();
  }
  throw new Error(lastError);
}
