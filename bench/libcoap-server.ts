/**
 * libcoap's example servers as bench peers, started fresh per figure (libcoap keeps every client port as a
 * session for 300 s and slows as they pile up) and pinned with taskset.
 */
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { freeUdpPort, kill, sleep, spawnPinned } from './children';
import { encodeMessage, pathOptions } from './peers/raw-dgram';

/** A running server. */
export interface RunningServer {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export interface LibcoapServerOptions {
  readonly cpu: number | undefined;
  /** `-d max`: allow dynamic resources created by PUT. */
  readonly dynamic?: number;
  /** Start coap-server-openssl with `-k key` (DTLS, and TLS, on port + 1). */
  readonly pskKey?: string;
  /**
   * Which libcoap: Debian bookworm's 4.3.1 from /usr/bin (default), or trixie's 4.3.4 from its private prefix
   * (`LIBCOAP_4_3_4_PREFIX`, default /opt/libcoap-4.3.4, run through the prefix's own loader; see
   * scripts/install-libcoap-4.3.4.sh). With 4.3.4 the TCP ports (P, and P + 1 for TLS) are checked free too.
   */
  readonly version?: '4.3.1' | '4.3.4';
  /** Run `coap-server-openssl` even without `pskKey` (its WebSocket server, `-w`, needs a TLS build). */
  readonly openssl?: boolean;
  /** More arguments (`-w port -X 1152`). */
  readonly args?: readonly string[];
}

const LIBCOAP_434_LIB_DIR = 'usr/lib/x86_64-linux-gnu';

/** `command` and arguments that run `coap-server-<flavor>` of a version, or an error saying what is missing. */
function libcoapCommand(flavor: 'notls' | 'openssl', version: '4.3.1' | '4.3.4'): { command: string; prefixArgs: string[] } {
  if (version === '4.3.1') {
    const binary = `/usr/bin/coap-server-${flavor}`;
    if (!existsSync(binary)) throw new Error(`${binary} is not installed (libcoap3-bin)`);
    return { command: binary, prefixArgs: [] };
  }
  const prefix = process.env.LIBCOAP_4_3_4_PREFIX || '/opt/libcoap-4.3.4';
  const binary = path.join(prefix, 'usr/bin', `coap-server-${flavor}`);
  const loader = path.join(prefix, LIBCOAP_434_LIB_DIR, 'ld-linux-x86-64.so.2');
  if (!existsSync(binary) || !existsSync(loader)) throw new Error(`libcoap 4.3.4 is not installed in ${prefix} (bash scripts/install-libcoap-4.3.4.sh)`);
  return { command: loader, prefixArgs: ['--library-path', path.join(prefix, LIBCOAP_434_LIB_DIR), binary] };
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port P free for UDP and TCP (and P + 1 too when `pair`): libcoap serves UDP and TCP on P, (D)TLS on P + 1. */
export async function freeUdpTcpPort(pair: boolean): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await freeUdpPort(pair);
    const free = await Promise.all([tcpPortFree(port), pair ? tcpPortFree(port + 1) : Promise.resolve(true)]);
    if (free.every(Boolean)) return port;
  }
  throw new Error('no free UDP+TCP port found');
}

/** Resolves once something on `port` answers a CON GET (or rejects after `ms`). */
export async function waitForCoap(port: number, ms = 4000): Promise<void> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    const deadline = Date.now() + ms;
    let mid = 1;
    while (Date.now() < deadline) {
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 100);
        socket.once('message', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      socket.send(encodeMessage(0, 1, mid++, Uint8Array.of(1, 2), pathOptions('/')), port, '127.0.0.1', () => undefined);
      if (await answered) return;
    }
    throw new Error(`no CoAP server answered on 127.0.0.1:${port} within ${ms} ms`);
  } finally {
    socket.close();
  }
}

/**
 * Starts `coap-server-notls` (or `coap-server-openssl -k` for PSK) on a free loopback port; resolves once it
 * answers a CON GET over UDP on that port (it serves TCP on the same port, TLS on port + 1, from the start).
 */
export async function startLibcoapServer(options: LibcoapServerOptions): Promise<RunningServer> {
  const version = options.version ?? '4.3.1';
  const { command, prefixArgs } = libcoapCommand(options.pskKey === undefined && options.openssl !== true ? 'notls' : 'openssl', version);
  const port = version === '4.3.1' ? await freeUdpPort(options.pskKey !== undefined) : await freeUdpTcpPort(options.pskKey !== undefined);
  const args = [...prefixArgs, '-A', '127.0.0.1', '-p', String(port), '-v', '0'];
  if (options.dynamic !== undefined) args.push('-d', String(options.dynamic));
  if (options.pskKey !== undefined) args.push('-k', options.pskKey);
  if (options.args !== undefined) args.push(...options.args);
  const child = spawnPinned(options.cpu, command, args, { stdio: 'ignore' });
  try {
    await waitForCoap(port);
  } catch (error) {
    await kill(child);
    throw error;
  }
  return { port, child, stop: () => kill(child) };
}

/** Starts the fast Node peer (bench/peers/fast-peer.ts) in its own pinned process. */
export function startFastPeer(cpu: number | undefined): Promise<RunningServer> {
  return startNodePeer(cpu, 'fast-peer');
}

/** Starts a Node peer of bench/peers/ (`fast-peer` or `notifier`) in its own pinned process. */
export function startNodePeer(cpu: number | undefined, script: 'fast-peer' | 'notifier'): Promise<RunningServer> {
  return startNodeServer(cpu, [path.join(__dirname, 'peers', `${script}.js`), '0'], script);
}

/** Runs `node ARGS` pinned to `cpu` and resolves once it prints `READY PORT`. */
export async function startNodeServer(cpu: number | undefined, nodeArgs: readonly string[], script: string): Promise<RunningServer> {
  const child = spawnPinned(cpu, process.execPath, nodeArgs);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 5 s`)), 5000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code})`));
    });
  }).catch(async (error: Error) => {
    await kill(child);
    throw error;
  });
  await sleep(20);
  return { port, child, stop: () => kill(child) };
}
