/**
 * Multicast (RFC 7252 §8) against libcoap group members, in network namespaces this spec makes (issue 20).
 *
 * On `lo` alone every member would answer from 127.0.0.1:5683 and could not be told apart, so
 * `spec/helpers/multicast-netns.sh` runs under `unshare -n` (a fresh namespace: we are root; `-rn` otherwise):
 * a bridge, and three `coap-server-notls -g GROUP` members each in a nested namespace on a veth into it, with
 * addresses 10.77.0.11-13 and fd77::11-13 that exist only there. The client (`spec/helpers/multicast-client.ts`,
 * through ts-node) runs in the outer namespace: one NON GET /.well-known/core to the group must yield exactly one
 * answer per member, each with its own source address, and the Observable completes when the leisure window
 * (5 s + 2 s) ends. Every process is killed when the script ends, and the namespaces go with them.
 *
 * libcoap 4.3.4 members started with `-g` delay every answer, unicast ones too, by a random time up to 5 s; 4.3.1
 * members answer multicast requests after a random delay too. Where namespaces cannot be made (no privilege, no
 * `unshare` or `ip`), the suite skips loudly, unless COAP_INTEROP=required.
 */
import { describeWhen } from '../helpers/describe-when';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { LIBCOAP_VERSIONS, describeInterop, libcoapServerCommand, type LibcoapVersion } from '../helpers/libcoap';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'spec/helpers/multicast-netns.sh');
const CLIENT = path.join(ROOT, 'spec/helpers/multicast-client.ts');

/** How to make a network namespace here: `unshare -n` as root, `unshare -rn` (a user namespace) otherwise; or why not. */
function namespaceCommand(): { argv: string[] } | { missing: string } {
  for (const argv of [['unshare', '-n'], ['unshare', '-rn']]) {
    const probe = spawnSync(argv[0], [...argv.slice(1), 'ip', 'link', 'add', 'probe0', 'type', 'bridge'], { encoding: 'utf8' });
    if (probe.status === 0) return { argv };
  }
  return { missing: 'a network namespace with a bridge (unshare -n / -rn and ip from iproute2, with the privilege to use them)' };
}

const namespaces = namespaceCommand();

/** `describe` unless namespaces cannot be made: then a loud skip, or a failure under COAP_INTEROP=required. */
function describeNamespaces(name: string, fn: () => void): void {
  describeWhen(name, 'argv' in namespaces ? undefined : { what: namespaces.missing, how: 'unshare and ip (util-linux, iproute2) as root, or unprivileged user namespaces' }, fn);
}

interface Collected {
  readonly hops?: boolean;
  readonly elapsed?: number;
  readonly answers?: { source: string; code: string; type: string; text: string }[];
  readonly error?: string;
  readonly reason?: string;
}

/** Runs the namespace script with `members` libcoap servers of `version` in GROUP, and the client against `uri`. */
function runGroup(version: LibcoapVersion, group: string, uri: string, extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ result: Collected; logs: string[] }> {
  const command = libcoapServerCommand('notls', version)!;
  const logDir = mkdtempSync('/tmp/rxmc');
  const argv = (namespaces as { argv: string[] }).argv;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], [...argv.slice(1), 'bash', SCRIPT, process.execPath, '-r', 'ts-node/register/transpile-only', CLIENT, uri, '/.well-known/core', ...extra], {
      cwd: ROOT,
      env: { ...process.env, SERVER: [command.command, ...command.prefixArgs].join(' '), GROUP: group, MEMBERS: '3', LOGDIR: logDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a timeout kills the script, the members and the client together
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 45_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      const logs = [1, 2, 3].map((n) => {
        try {
          return readFileSync(path.join(logDir, `member${n}.log`), 'utf8');
        } catch {
          return '';
        }
      });
      rmSync(logDir, { recursive: true, force: true });
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ result: JSON.parse(line) as Collected, logs });
      } catch {
        reject(new Error(`the namespace script ended with ${status} and no result:\n${stdout}\n${stderr}\n${logs.join('\n').slice(-3000)}`));
      }
    });
  });
}

const LINK_FORMAT = /<\/time>;if="clock"/;

describeNamespaces('multicast in network namespaces', () => {
  for (const version of LIBCOAP_VERSIONS) {
    describeInterop(`multicast to three coap-server-notls ${version} -g members`, { flavors: 'notls', version }, () => {
      it('gets exactly one answer from each member of 224.0.1.187, each with its own source, then completes at 7 s', async () => {
        const { result, logs } = await runGroup(version, '224.0.1.187', 'coap://224.0.1.187');
        expect(result.error).toBeUndefined();
        expect(result.hops).toBe(true);
        const sources = result.answers!.map((answer) => answer.source).sort();
        expect(sources).toEqual(['10.77.0.11:5683', '10.77.0.12:5683', '10.77.0.13:5683']);
        for (const answer of result.answers!) expect(answer).toMatchObject({ code: '2.05', text: expect.stringMatching(LINK_FORMAT) });
        // The leisure window: DEFAULT_LEISURE 5 s + ACK_TIMEOUT 2 s, from the request on.
        expect(result.elapsed).toBeGreaterThanOrEqual(6_900);
        expect(result.elapsed).toBeLessThan(9_000);
        // Each member got the request once, as a NON to the group.
        for (const log of logs) expect(log).toMatch(/224\.0\.1\.187/);
      });

      if (version === '4.3.4') {
        it('gets one answer from each member of ff02::fd on the bridge (the zone names the interface)', async () => {
          const { result } = await runGroup(version, 'ff02::fd', 'coap://[ff02::fd%25br0]');
          expect(result.error).toBeUndefined();
          const sources = result.answers!.map((answer) => answer.source);
          expect(sources).toHaveLength(3);
          expect(new Set(sources).size).toBe(3);
          // A member answers from its link-local address on the bridge or from its fd77::1N address: the kernel picks
          // the source of each reply (the client's own source address decides), and both name the member.
          for (const source of sources) expect(source).toMatch(/^\[(fe80::[0-9a-f:]+%br0|fd77::1[1-3])\]:5683$/);
          for (const answer of result.answers!) expect(answer.text).toMatch(LINK_FORMAT);
        });

        it('sends by the chosen interface (multicastInterface) where no route for 224.0.0.0/4 exists; without it, reason unreachable', async () => {
          const chosen = await runGroup(version, '224.0.1.187', 'coap://224.0.1.187', ['-', '10.77.0.1'], { NO_MCAST_ROUTE: '1' });
          expect(chosen.result.error).toBeUndefined();
          expect(chosen.result.answers!.map((answer) => answer.source).sort()).toEqual(['10.77.0.11:5683', '10.77.0.12:5683', '10.77.0.13:5683']);
          const unrouted = await runGroup(version, '224.0.1.187', 'coap://224.0.1.187', [], { NO_MCAST_ROUTE: '1' });
          expect(unrouted.result).toMatchObject({ reason: 'unreachable', error: expect.stringContaining('CoapTransportError') });
        });

        it('ends the collection with a shorter leisure: 0 ms waits ACK_TIMEOUT (2 s) only', async () => {
          const { result } = await runGroup(version, '224.0.1.187', 'coap://224.0.1.187', ['0']);
          expect(result.error).toBeUndefined();
          expect(result.elapsed).toBeGreaterThanOrEqual(1_900);
          expect(result.elapsed).toBeLessThan(3_500);
          // Members delay by a random time up to 5 s: whoever answered within 2 s, at most once each.
          const sources = result.answers!.map((answer) => answer.source);
          expect(new Set(sources).size).toBe(sources.length);
          expect(sources.length).toBeLessThanOrEqual(3);
        });
      }
    });
  }
});
