/**
 * Child processes of the bench: servers and measuring clients, each pinned with `taskset -c CPU`, all tracked
 * so that `killAll()` ends every one of them (by pid, never by name) whatever happens.
 *
 * Pinning: the orchestrator (run.ts) is not pinned; it re-runs itself as `taskset -c CPU node dist/bench/run.js
 * --child FIGURE ARGS` for each measuring client, and starts each server under `taskset -c CPU` too. Lockstep
 * figures put client and server on CPU 0; parallel ones put the client on CPU 0 and the server on CPU 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import * as path from 'node:path';

const live = new Set<ChildProcess>();

/** Whether `taskset` is usable here (else processes run unpinned and the notes say so). */
let tasksetWorks: boolean | undefined;

export function pinningAvailable(): boolean {
  if (tasksetWorks === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
      tasksetWorks = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
    } catch {
      tasksetWorks = false;
    }
  }
  return tasksetWorks;
}

/** Spawns `command args` pinned to `cpu` (or unpinned when cpu is undefined or taskset is missing). */
export function spawnPinned(cpu: number | undefined, command: string, args: readonly string[], options: { stdio?: 'pipe' | 'ignore' } = {}): ChildProcess {
  const pinned = cpu !== undefined && pinningAvailable();
  const child = pinned
    ? spawn('taskset', ['-c', String(cpu), command, ...args], { stdio: options.stdio ?? 'pipe' })
    : spawn(command, [...args], { stdio: options.stdio ?? 'pipe' });
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.on('error', () => live.delete(child));
  return child;
}

/** Kills one child and waits (bounded) for it to exit. */
export function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 1000);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Kills every child still running (at the end, and on errors and signals). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((child) => kill(child)));
}

/** Synchronous last resort for process exit. */
export function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** A UDP port free on 127.0.0.1 now (and, when `pair`, the next one too, for libcoap's DTLS port + 1). */
export async function freeUdpPort(pair = false): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
    });
    if (port >= 65535) continue;
    if (!pair) return port;
    const nextFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port + 1, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (nextFree) return port;
  }
  throw new Error('no free UDP port pair');
}

/** Path of the built run.js (this file compiles next to it). */
export const RUN_JS = path.join(__dirname, 'run.js');

/** What a measuring child prints on its last line. */
const RESULT_PREFIX = 'RESULT ';

/** Prints a child's result for the parent (used in child mode). */
export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/**
 * Runs `node [--expose-gc] dist/bench/run.js --child FIGURE JSON` pinned to `cpu`, with a hard time limit; resolves
 * with the parsed result line, rejects with the child's stderr tail when it fails.
 */
export function runChild<T>(figure: string, args: unknown, cpu: number | undefined, timeoutMs: number, nodeFlags: readonly string[] = []): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawnPinned(cpu, process.execPath, [...nodeFlags, RUN_JS, '--child', figure, JSON.stringify(args)]);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${figure}: child timed out after ${timeoutMs} ms ${stderr.trim().split('\n').slice(-2).join(' ')}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').reverse().find((text) => text.startsWith(RESULT_PREFIX));
      if (line !== undefined) {
        try {
          resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T);
          return;
        } catch (error) {
          reject(error as Error);
          return;
        }
      }
      const tail = stderr.trim().split('\n').slice(-3).join(' ');
      reject(new Error(`${figure}: child exited ${code ?? signal} without a result ${tail}`));
    });
  });
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
