/**
 * libcoap's example servers as bench peers, started fresh per figure (libcoap keeps every client port as a
 * session for 300 s and slows as they pile up) and pinned with taskset.
 */
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createSocket } from 'node:dgram';
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
  /** Start coap-server-openssl with `-k key` (DTLS on port + 1). */
  readonly pskKey?: string;
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

/** Starts `coap-server-notls` (or `coap-server-openssl -k` for PSK) on a free loopback port. */
export async function startLibcoapServer(options: LibcoapServerOptions): Promise<RunningServer> {
  const binary = options.pskKey === undefined ? '/usr/bin/coap-server-notls' : '/usr/bin/coap-server-openssl';
  if (!existsSync(binary)) throw new Error(`${binary} is not installed (libcoap3-bin)`);
  const port = await freeUdpPort(options.pskKey !== undefined);
  const args = ['-A', '127.0.0.1', '-p', String(port), '-v', '0'];
  if (options.dynamic !== undefined) args.push('-d', String(options.dynamic));
  if (options.pskKey !== undefined) args.push('-k', options.pskKey);
  const child = spawnPinned(options.cpu, binary, args, { stdio: 'ignore' });
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
export async function startNodePeer(cpu: number | undefined, script: 'fast-peer' | 'notifier'): Promise<RunningServer> {
  const child = spawnPinned(cpu, process.execPath, [path.join(__dirname, 'peers', `${script}.js`), '0']);
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
