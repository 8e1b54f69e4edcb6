/**
 * Unix-domain socket paths (Node only), shared by the Unix datagram transport and the test peer's Unix
 * listeners: checking a path, generating a short unique local path, claiming a path without stealing one that
 * is in use, and removing what we bound when the session is released or the process exits normally.
 *
 * libcoap 4.3.4 keeps Unix paths to 25 bytes (`COAP_UNIX_PATH_MAX` 26 with the NUL): a client bound to a
 * longer path gets no answer from it, so the generated paths are short and sit in `/tmp`, not under a long
 * `os.tmpdir()`. The kernel's own limit is 107 bytes (`sun_path[108]` with the NUL).
 *
 * Claiming a path (libcoap's man page: "only unlink if you know it is safe"):
 * - nothing there: bind;
 * - a socket file nobody listens on (a stale one, left by a process that crashed): it is removed and bound;
 * - a socket in use (a connect to it succeeds, or is refused with EPROTOTYPE: a bound datagram socket), or
 *   anything that is not a socket (a file, a directory): a `CoapTransportError` with reason `'path-in-use'`,
 *   the path left alone.
 */
import { lstat, unlink, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { CoapArgumentError, CoapTransportError } from '../errors';

/** Longest path libcoap 4.3.4 keeps (COAP_UNIX_PATH_MAX 26 less the NUL), in bytes. */
export const LIBCOAP_UNIX_PATH_MAX = 25;

/** Longest path the kernel takes (`sun_path` of 108 bytes less the NUL), in bytes. */
export const UNIX_PATH_MAX = 107;

/** Bytes of a path in the file system's encoding (UTF-8). */
export function pathBytes(path: string): number {
  return Buffer.byteLength(path, 'utf8');
}

/**
 * Checks a socket path given by the caller: absolute, no NUL, at most {@link UNIX_PATH_MAX} bytes. Throws
 * `CoapArgumentError` naming `field`.
 */
export function checkUnixPath(path: unknown, field: string): string {
  if (typeof path !== 'string' || path === '') throw new CoapArgumentError(`${field} must be a non-empty socket path`, { field });
  if (!path.startsWith('/')) throw new CoapArgumentError(`${field} must be an absolute path (it starts with '/'), got '${path}'`, { field });
  if (path.includes('\0')) throw new CoapArgumentError(`${field} must not contain a NUL character`, { field });
  const bytes = pathBytes(path);
  if (bytes > UNIX_PATH_MAX) throw new CoapArgumentError(`${field} is ${bytes} bytes long, more than the ${UNIX_PATH_MAX} a Unix socket path may have`, { field });
  return path;
}

/** The warning for a local path libcoap cannot answer, or undefined when it is short enough. */
export function longPathWarning(path: string): string | undefined {
  const bytes = pathBytes(path);
  if (bytes <= LIBCOAP_UNIX_PATH_MAX) return undefined;
  return `the local socket path '${path}' is ${bytes} bytes long: libcoap keeps Unix paths to ${LIBCOAP_UNIX_PATH_MAX} bytes and will not answer a longer one`;
}

let generated = 0;

/**
 * A fresh local path, unique in this process and unlikely to be taken by another: `/tmp/rxc` + the process ID,
 * a counter and two random characters, all base 36 (`/tmp/rxc1k2f.3.q7`, about 18 bytes: well within libcoap's
 * 25). Binding it still goes through {@link claimUnixPath}, so a clash is an error, never a theft.
 */
export function defaultLocalPath(): string {
  generated = (generated + 1) % 36 ** 4;
  const random = Math.floor(Math.random() * 36 * 36).toString(36);
  return `/tmp/rxc${process.pid.toString(36)}.${generated.toString(36)}.${random}`;
}

/**
 * Makes `path` free to bind, calling `done` with undefined when it is (nothing there, or a stale socket that was
 * removed), or with the error to fail with (in use, not a socket, not checkable). Callback style: below the API
 * layer nothing returns a Promise.
 */
export function claimUnixPath(path: string, done: (error: CoapTransportError | undefined) => void): void {
  lstat(path, (statError, stats) => {
    if (statError !== null) {
      if (statError.code === 'ENOENT') done(undefined);
      else done(pathError(path, `cannot check ${path}: ${statError.code ?? statError.message}`, statError));
      return;
    }
    if (!stats.isSocket()) {
      done(pathError(path, `${path} exists and is not a socket: it is left alone (choose another path)`));
      return;
    }
    probe(path, (inUse) => {
      if (inUse) {
        done(pathError(path, `the socket path ${path} is in use by another process (choose another path, or stop that process)`));
        return;
      }
      // Stale: a socket file nobody is bound to (its process ended without removing it).
      unlink(path, (unlinkError) => {
        if (unlinkError === null || unlinkError.code === 'ENOENT') done(undefined);
        else done(pathError(path, `cannot remove the stale socket ${path}: ${unlinkError.code ?? unlinkError.message}`, unlinkError));
      });
    });
  });
}

/** True (to `done`) when something is bound to the socket at `path`. */
function probe(path: string, done: (inUse: boolean) => void): void {
  const socket = connect({ path });
  let answered = false;
  const answer = (inUse: boolean): void => {
    if (answered) return;
    answered = true;
    socket.destroy();
    done(inUse);
  };
  socket.once('connect', () => answer(true));
  socket.once('error', (error: NodeJS.ErrnoException) => {
    // A stream connect to a bound datagram socket fails with EPROTOTYPE: bound, so in use. Only a refusal
    // (ECONNREFUSED: nobody bound, the file is stale) lets the path be reclaimed; anything else counts as in use.
    answer(error.code !== 'ECONNREFUSED');
  });
}

function pathError(path: string, message: string, cause?: unknown): CoapTransportError {
  return new CoapTransportError(message, { reason: 'path-in-use', peer: { path }, syscallCode: (cause as NodeJS.ErrnoException | undefined)?.code ?? 'EADDRINUSE', cause });
}

/** Paths this process bound and has not removed yet: removed at a normal exit. */
const bound = new Set<string>();
let exitHook = false;

/** Remembers that we bound `path`: {@link releaseUnixPath} or a normal process exit removes it. */
export function trackUnixPath(path: string): void {
  bound.add(path);
  if (exitHook) return;
  exitHook = true;
  // 'exit' runs on a normal end and on process.exit(), not on a fatal signal (nothing would run then).
  process.once('exit', removeAllSync);
}

/** Removes a path we bound (the socket is closed or about to be). Never throws. */
export function releaseUnixPath(path: string): void {
  if (!bound.delete(path)) return;
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove any more: nothing to do.
  }
}

function removeAllSync(): void {
  for (const path of bound) {
    try {
      unlinkSync(path);
    } catch {
      // as above
    }
  }
  bound.clear();
}
