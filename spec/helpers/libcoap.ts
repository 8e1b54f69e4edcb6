/**
 * Starts and stops real libcoap servers (`coap-server-notls`, `-openssl`, `-gnutls`) for interop specs, on
 * free loopback ports, and implements the interop rule of ARCHITECTURE.md: a missing binary skips the
 * suite with a loud warning, unless `COAP_INTEROP=required` (set by `.ci/run`), which turns it into a failure.
 *
 * Ports: `coap-server -p P` serves CoAP on UDP and TCP port P and, in the (D)TLS builds, DTLS and TLS on
 * P + 1. The helper finds a P where all four are free and returns both numbers.
 *
 * Real timers and child processes are fine here: this is test scaffolding, not protocol code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** Which libcoap build. */
export type LibcoapFlavor = 'notls' | 'openssl' | 'gnutls';

/** Options of {@link startLibcoapServer}. */
export interface LibcoapServerOptions {
  readonly flavor: LibcoapFlavor;
  /** Extra arguments (`-k key`, `-h hint`, `-d 10`, `-N`, `-v 7` ...); `-A` and `-p` are added by the helper. */
  readonly args?: readonly string[];
  /** Loopback address to bind to. @defaultValue '127.0.0.1' */
  readonly host?: '127.0.0.1' | '::1';
  /** How long to wait for the server to answer a CoAP ping, in milliseconds. @defaultValue 5000 */
  readonly readyTimeout?: number;
  /** Binary to run instead of `coap-server-<flavor>` from PATH (e.g. a libcoap 4.3.4 wrapper script). */
  readonly binary?: string;
}

/** A running server. */
export interface LibcoapServer {
  readonly host: string;
  /** CoAP over UDP (and TCP). */
  readonly port: number;
  /** DTLS (and TLS) for the openssl and gnutls builds: `port + 1`. */
  readonly securePort: number;
  readonly process: ChildProcess;
  /** The server's stdout and stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 2 s; resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** Path of the server binary for a flavor, or undefined when it is not installed. */
export function libcoapServerBinary(flavor: LibcoapFlavor): string | undefined {
  const name = `coap-server-${flavor}`;
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True when `coap-server-<flavor>` is installed. */
export function libcoapAvailable(flavor: LibcoapFlavor): boolean {
  return libcoapServerBinary(flavor) !== undefined;
}

/**
 * `describe` for a suite that needs libcoap server builds: runs when all are installed; otherwise skips with a
 * loud warning, or fails when `COAP_INTEROP=required`.
 */
export function describeInterop(name: string, flavors: LibcoapFlavor | readonly LibcoapFlavor[], fn: () => void): void {
  const missing = (typeof flavors === 'string' ? [flavors] : flavors).filter((flavor) => !libcoapAvailable(flavor));
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const what = missing.map((flavor) => `coap-server-${flavor}`).join(', ');
  if (process.env.COAP_INTEROP === 'required') {
    describe(name, () => {
      it(`needs ${what} (COAP_INTEROP=required)`, () => {
        throw new Error(`${what} not found on PATH, and COAP_INTEROP=required: install libcoap (libcoap3-bin)`);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING interop suite "${name}": ${what} not found on PATH (install libcoap3-bin; set COAP_INTEROP=required to fail instead) !!!\n`);
  describe.skip(name, fn);
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

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts a libcoap server on free loopback ports and resolves once it answers a CoAP ping. */
export async function startLibcoapServer(options: LibcoapServerOptions): Promise<LibcoapServer> {
  const host = options.host ?? '127.0.0.1';
  const binary = options.binary ?? libcoapServerBinary(options.flavor);
  if (binary === undefined) throw new Error(`coap-server-${options.flavor} is not installed`);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // last resort if a spec forgets stop(): never leave a server behind
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  const readyTimeout = options.readyTimeout ?? 5000;
  let lastError = '';
  for (let tries = 0; tries < 3; tries++) {
    const port = await findFreePortPair(host);
    const child = spawn(binary, ['-A', host, '-p', String(port), ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-20000);
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
    const server: LibcoapServer = { host, port, securePort: port + 1, process: child, output: () => output, stop };
    const deadline = Date.now() + readyTimeout;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await coapPing(host, port, 100)) return server;
    }
    lastError = `coap-server-${options.flavor} on ${host}:${port} did not answer a CoAP ping within ${readyTimeout} ms; output:\n${output}`;
    await stop();
  }
  throw new Error(lastError);
}
