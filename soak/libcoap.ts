/**
 * Starts and stops `coap-server-notls` for the soak run, on a free loopback port (UDP and TCP: the notls build
 * listens on both), and waits until it answers a CoAP ping. A trimmed copy of spec/helpers/libcoap.ts, which
 * the build does not compile (it is test code).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** A running libcoap server. */
export interface SoakLibcoapServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly args: readonly string[];
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** Path of `coap-server-notls` on PATH, or undefined. */
export function libcoapBinary(name = 'coap-server-notls'): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** An empty CON (RFC 7252 §4.3 ping); resolves true when anything answers within `timeout` ms. */
function ping(port: number, timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeout);
    socket.once('error', () => done(false));
    socket.once('message', () => done(true));
    const messageId = Math.floor(Math.random() * 0x10000);
    socket.send(Uint8Array.of(0x40, 0x00, messageId >> 8, messageId & 0xff), port, '127.0.0.1');
  });
}

const running = new Set<ChildProcess>();

/**
 * Starts `coap-server-notls -A 127.0.0.1 -p PORT -v 0 ...args`.
 * @param args - extra arguments, e.g. `['-d', '64', '-e']`
 */
export async function startLibcoap(args: readonly string[]): Promise<SoakLibcoapServer> {
  const binary = libcoapBinary();
  if (binary === undefined) throw new Error('coap-server-notls is not installed (Debian package libcoap3-bin)');
  if (running.size === 0) {
    // Never leave a server behind, even when the soak fails half-way.
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  for (let tries = 0; tries < 5; tries++) {
    const port = await freeUdpPort();
    if (!(await tcpPortFree(port))) continue;
    const child = spawn(binary, ['-A', '127.0.0.1', '-p', String(port), '-v', '0', ...args], { stdio: 'ignore' });
    running.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void exited.then(() => running.delete(child));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(killer);
        }
      })());
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && child.exitCode === null) {
      if (await ping(port, 100)) return { host: '127.0.0.1', port, args, stop };
    }
    await stop();
  }
  throw new Error('coap-server-notls did not start (no answer to a CoAP ping within 5 s, 5 tries)');
}
