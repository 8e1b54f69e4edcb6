#!/usr/bin/env node
/**
 * `rxcoap [options] URI`: a CoAP client on the command line, with libcoap `coap-client`'s options (see
 * `options.ts`), built on the library's public API only: coap://, coaps:// (DTLS-PSK), coap+tcp://,
 * coaps+tcp:// (TLS with a PSK or certificates), coap+ws:// and coaps+ws:// (WebSockets; TLS as for coaps+tcp).
 * Exit status: 0 on 2.xx, 1 on any other response or a failure (timeout, DTLS, TLS, socket), 2 on bad arguments.
 * Keys are never printed, and neither are stack traces: every failure is one line on stderr (and one `--json`
 * error record on stdout). A reader that goes away (`rxcoap … | head`, EPIPE) ends the run quietly, the exit
 * status being the response's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Observable, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapDtlsError, CoapTimeoutError, CoapTlsError, CoapUriError, type PeerAddress } from '../errors';
import { isMulticastHost, isUnixPeer } from '../peer-address';
import { CoapContext } from '../context';
import { decodeString } from '../codec/option-values';
import { OptionNumber } from '../codec/option-numbers';
import { CoapResponse } from '../exchange/response';
import type { ClientSession } from '../session/client-session';
import type { RequestInit } from '../session/request-init';
import type { CoapLogger, PskIdentityKey } from '../session/session-options';
import type { SessionEvent } from '../session/session-events';
import '../node'; // registers the Node transports (UDP, DTLS, TCP, TLS)
import { bodyTerminator, errorLine, errorRecord, pduLine, renderBody, responseRecord } from './format';
import { TRACE_VERBOSITY, USAGE, UsageError, parseCliArgs, parseHintFile, pkiCredentials, type CliOptions, type CliPki } from './options';
import { createTransferProgress, type TransferProgress } from './progress';

/** Exit status of a 2.xx response. */
const EXIT_OK = 0;
/** Exit status of any other response, or of a failure to get one. */
const EXIT_FAILED = 1;
/** Exit status of a command line that cannot be run. */
const EXIT_USAGE = 2;

/** Where the program writes; tests pass their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
}

/** The one-line reason on stderr and, under `--json`, the error record on stdout. */
function reportFailure(io: CliIo, json: boolean, error: unknown, line: string): void {
  io.stderr.write(`rxcoap: ${line}\n`);
  if (json) io.stdout.write(JSON.stringify(errorRecord(error)) + '\n');
}

function usageFailure(io: CliIo, json: boolean, error: Error): number {
  reportFailure(io, json, error, `${error.message}\nTry 'rxcoap --help' for more information.`);
  return EXIT_USAGE;
}

/** `--json` among the options (before a `--`), for a command line too broken to parse. */
function asksForJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** The message of anything thrown, without a stack trace. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `-B` ran out before an answer came: reported (and `--json`-recorded) as a timeout. */
class BreakTimeout extends Error {
  readonly code = 'COAP_ERR_TIMEOUT';
  readonly uri: string;
  /** The `-B` time, in milliseconds. */
  readonly elapsed: number;
  constructor(uri: string, seconds: number) {
    super(`no answer from ${uri} within ${seconds} s (-B)`);
    this.name = 'BreakTimeout';
    this.uri = uri;
    this.elapsed = seconds * 1000;
  }
}

/** The exchange ended without a single response. */
class NoResponse extends Error {
  readonly code = 'COAP_ERR_RESPONSE';
  readonly uri: string;
  constructor(uri: string) {
    super(`no response from ${uri}`);
    this.name = 'NoResponse';
    this.uri = uri;
  }
}

/** What a write to stdout raises once its reader has gone (`rxcoap … | head`). */
function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/**
 * Watches stdout for write errors. Node reports them as an 'error' event, which without a listener is an
 * uncaught exception with a stack trace: the `write EPIPE` of `rxcoap … | head`. The listener stays for the
 * life of the process (an EPIPE can come after the last write); the run stops at the first error.
 */
function watchStdout(io: CliIo): { readonly signal: AbortSignal; error: () => unknown } {
  const controller = new AbortController();
  let first: unknown;
  io.stdout.on('error', (error: unknown) => {
    if (controller.signal.aborted) return;
    first = error;
    controller.abort();
  });
  // stderr failing leaves nowhere to report anything: never a crash for it.
  io.stderr.on('error', () => undefined);
  return { signal: controller.signal, error: () => first };
}

function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer | string) => chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.once('error', reject);
  });
}

/** The body named by `-e` or `-f` (`-` = stdin). */
async function readPayload(options: CliOptions, io: CliIo): Promise<Uint8Array | string | undefined> {
  const source = options.payload;
  if (source === undefined) return undefined;
  if (source.kind === 'text') return source.text;
  if (source.path === '-') return readAll(io.stdin);
  try {
    return new Uint8Array(await fs.promises.readFile(source.path));
  } catch (error) {
    throw new UsageError(`-f: cannot read ${source.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function packageVersion(): string {
  // dist/src/cli/main.js or src/cli/main.ts: walk up to the package.
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'rxcoap') return manifest.version ?? 'unknown';
    } catch {
      // keep looking
    }
  }
  return 'unknown';
}

/** libcoap's log levels: 3 error, 4 warning, 5 notice, 6 info, 7 debug (PDUs). */
function cliLogger(verbosity: number, io: CliIo): CoapLogger {
  const line = (text: string): void => void io.stderr.write(`${text}\n`);
  return {
    warn: verbosity >= 4 ? (message) => line(`rxcoap: warning: ${message}`) : undefined,
    info: verbosity >= 6 ? (message) => line(`rxcoap: ${message}`) : undefined,
    debug: verbosity >= TRACE_VERBOSITY ? (message) => line(`rxcoap: ${message}`) : undefined,
    pdu: verbosity >= TRACE_VERBOSITY ? (direction, frame, framing) => line(pduLine(direction, frame, framing)) : undefined,
  };
}

/** `host:port` as the CLI has always printed it (IPv6 unbracketed), or a Unix socket's path. */
function hostPort(peer: PeerAddress): string {
  return isUnixPeer(peer) ? peer.path : `${peer.host}:${peer.port}`;
}

function describeEvent(event: SessionEvent): string {
  switch (event.type) {
    case 'connected':
      return `connected from ${hostPort(event.local)} to ${hostPort(event.remote)}`;
    case 'dtls-connected':
      return `DTLS connected (${event.cipherSuite}) after ${event.attempts} attempt(s)`;
    case 'dtls-retry':
      return `DTLS handshake attempt ${event.attempt} in ${event.delay} ms: ${event.reason}`;
    case 'failed':
      return `session failed: ${event.error.message}`;
    case 'bad-packet':
      return `dropped a datagram that is not CoAP: ${event.error.message}`;
    case 'retransmitted':
      return `retransmitted mid=${event.messageId} (attempt ${event.attempt})`;
    case 'mid-exhausted':
      return `every message ID is in use: waiting ${event.delay} ms`;
    default:
      return Object.entries(event)
        .map(([key, value]) => (key === 'type' ? String(value) : `${key}=${String(value)}`))
        .join(' ');
  }
}

/** `what: cannot read file: ENOENT` as a usage error (exit 2), for the files the options name. */
function unreadable(flag: string, file: string, error: unknown): UsageError {
  return new UsageError(`${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
}

/** Which flag names which certificate field, so the library's messages about them speak the CLI's language. */
const PKI_FIELD_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['pki.pkiKey.publicCert', '-c'],
  ['pki.pkiKey.privateKey', '-j'],
  ['pki.pkiKey.caFile', '-C'],
  ['rootCas.caFile', '-R'],
  ['rootCas.caDir', '-R'],
];

/** A library argument error about a certificate file, with the flag in place of the field name. */
function withFlagNames(error: CoapArgumentError, pki: CliPki | undefined): Error {
  if (pki === undefined) return error;
  for (const [name, flag] of PKI_FIELD_FLAGS) {
    if (error.field !== name) continue;
    // -c without -j: the key is read from the certificate file.
    const shown = flag === '-j' && pki.keyFile === pki.certFile ? '-c' : flag;
    return new UsageError(error.message.startsWith(name) ? shown + error.message.slice(name.length) : `${shown}: ${error.message}`);
  }
  return error;
}

/**
 * Checks the files of `-c`, `-j`, `-C` and `-R` can be read (before anything is sent: exit 2, as for `-f`),
 * and sets `-R`'s roots on the context: a directory as `caDir`, a file as `caFile` (coap-client's `setup_pki`).
 */
async function preparePki(ctx: CoapContext, pki: CliPki): Promise<void> {
  for (const [flag, file] of [['-c', pki.certFile], ['-j', pki.keyFile === pki.certFile ? undefined : pki.keyFile], ['-C', pki.caFile]] as const) {
    if (file === undefined) continue;
    try {
      await fs.promises.access(file, fs.constants.R_OK);
    } catch (error) {
      throw unreadable(flag, file, error);
    }
  }
  if (pki.rootCas === undefined) return;
  let directory: boolean;
  try {
    directory = (await fs.promises.stat(pki.rootCas)).isDirectory();
    if (!directory) await fs.promises.access(pki.rootCas, fs.constants.R_OK);
  } catch (error) {
    throw unreadable('-R', pki.rootCas, error);
  }
  if (directory) ctx.setPkiRootCas(undefined, pki.rootCas);
  else ctx.setPkiRootCas(pki.rootCas);
}

/**
 * The session for the URI: plain UDP or TCP; DTLS or TLS with the `-u`/`-k` credentials and the `-h` hint file;
 * TLS with the certificate options; or, for coaps+tcp:// without any, TLS verified against the system's roots.
 */
async function openSession(ctx: CoapContext, options: CliOptions): Promise<ClientSession> {
  // -a /path: a Unix datagram session's own socket path (libcoap's local_if for AF_UNIX).
  const localIf =
    options.localAddress?.startsWith('/') === true
      ? { path: options.localAddress }
      : options.localAddress === undefined && options.localPort === undefined
        ? undefined
        : { address: options.localAddress, port: options.localPort };
  const server = `${options.target.scheme}://${options.uri.slice(options.target.scheme.length + 3).split(/[/?]/)[0]}`;
  if (options.pki !== undefined) {
    await preparePki(ctx, options.pki);
    return ctx.newClientSessionPki({ server, localIf, pki: pkiCredentials(options.pki) });
  }
  if (options.psk === undefined) return ctx.newClientSession({ server, localIf });
  let hints: Map<string, PskIdentityKey> | undefined;
  if (options.psk.hintFile !== undefined) {
    let text: string;
    try {
      text = await fs.promises.readFile(options.psk.hintFile, 'utf8');
    } catch (error) {
      throw unreadable('-h', options.psk.hintFile, error);
    }
    hints = parseHintFile(text, options.psk.hintFile);
  }
  const { identity, key } = options.psk;
  return ctx.newClientSessionPsk({
    server,
    localIf,
    psk: {
      identity,
      key,
      // libcoap coap-client -h: a matching hint picks its own identity and key, anything else the defaults.
      validateIdentityHint: hints === undefined ? undefined : (hint) => hints.get(hint) ?? { identity, key },
    },
  });
}

/** The request as the library takes it. */
function requestInit(options: CliOptions, payload: Uint8Array | string | undefined): RequestInit {
  const block = options.block;
  const hasBody = payload !== undefined;
  return {
    method: options.method,
    uri: options.uri,
    payload,
    contentFormat: options.contentFormat,
    accept: options.accept,
    // coap-client: a multicast request goes as NON whatever -N says (RFC 7252 §8.1); every member's answer prints.
    confirmable: options.confirmable && !isMulticastHost(options.target.host),
    options: options.options,
    token: options.token,
    omitUriHost: options.omitUriHost,
    // -b num,size starts at block num; -b size on a GET asks for that size from the first response on.
    block2: block !== undefined && (block.num !== undefined || !hasBody) ? { num: block.num, size: block.size } : undefined,
    block1Size: block !== undefined && hasBody ? block.size : undefined,
  };
}

/** `/a/b` of the URI, for `observe(path, ...)` (the full URI rides in `init.uri`). */
function targetPath(options: CliOptions): string {
  const segments = options.target.options.filter((option) => option.number === OptionNumber.UriPath).map((option) => encodeURIComponent(decodeString(option.value)));
  return '/' + segments.join('/');
}

/**
 * Joins block-wise parts (block mode without `singleBody`) into whole bodies: emits a response once its
 * last part is in; a response without progress passes as it is. A part at offset 0 starts a new body
 * (a restart after an ETag change, or the next notification).
 */
class BodyAssembler {
  #parts: Uint8Array[] = [];
  #size = 0;

  push(response: CoapResponse): CoapResponse | undefined {
    const progress = response.progress;
    if (progress === undefined) {
      this.#reset();
      return response;
    }
    if (progress.offset === 0) this.#reset();
    this.#parts.push(response.payload);
    this.#size += response.payload.length;
    if (!progress.complete) return undefined;
    const body = new Uint8Array(this.#size);
    let offset = 0;
    for (const part of this.#parts) {
      body.set(part, offset);
      offset += part.length;
    }
    this.#reset();
    return new CoapResponse(response, response.remote, { payload: body });
  }

  #reset(): void {
    this.#parts = [];
    this.#size = 0;
  }
}

/** Prints each whole response as the options say. */
class ResponsePrinter {
  readonly #options: CliOptions;
  readonly #io: CliIo;
  /** Aborted once stdout failed: nothing more is written there. */
  readonly #stdoutClosed: AbortSignal;
  #outputFd: number | undefined;
  /** Status of the last response: 2.xx or not. */
  lastOk: boolean | undefined;
  count = 0;

  constructor(options: CliOptions, io: CliIo, stdoutClosed: AbortSignal) {
    this.#options = options;
    this.#io = io;
    this.#stdoutClosed = stdoutClosed;
  }

  /** @throws UsageError when the `-o` file cannot be written */
  print(response: CoapResponse): void {
    const options = this.#options;
    const toStdout = options.output === undefined || options.output === '-';
    if (toStdout && this.#stdoutClosed.aborted) return;
    this.count++;
    this.lastOk = response.ok;
    const contentFormat = response.contentFormat;
    if (options.json) {
      this.#io.stdout.write(JSON.stringify(responseRecord(response, contentFormat, { reliable: options.target.reliable })) + '\n');
      if (!response.ok) this.#io.stderr.write(errorLine(response, contentFormat) + '\n');
      return;
    }
    if (!response.ok) {
      // coap-client prints error responses on stderr only.
      this.#io.stderr.write(errorLine(response, contentFormat) + '\n');
      return;
    }
    if (options.output !== undefined && options.output !== '-') {
      this.#writeFile(options.output, response.payload);
      return;
    }
    if (options.output === '-') {
      // Raw: the bytes, and the newline only when -w asks for it (coap-client -o - adds none).
      this.#io.stdout.write(response.payload);
      if (options.newline) this.#io.stdout.write('\n');
      return;
    }
    const terminal = this.#io.stdout.isTTY === true;
    const body = renderBody(response.payload, contentFormat, terminal);
    this.#io.stdout.write(body.data);
    const end = bodyTerminator(body, { newline: options.newline, terminal });
    if (end !== '') this.#io.stdout.write(end);
  }

  #writeFile(file: string, payload: Uint8Array): void {
    try {
      this.#outputFd ??= fs.openSync(file, 'w');
      fs.writeSync(this.#outputFd, payload);
      if (this.#options.newline) fs.writeSync(this.#outputFd, '\n');
    } catch (error) {
      throw new UsageError(`-o: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
    }
  }

  close(): void {
    if (this.#outputFd !== undefined) fs.closeSync(this.#outputFd);
    this.#outputFd = undefined;
  }
}

/** Why the run ended. */
type Outcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'gave-up' }
  | { readonly kind: 'interrupted' }
  | { readonly kind: 'stdout-failed' };

/**
 * Subscribes to the responses and resolves when they complete, fail, `-s` runs out, `-B` passes before an
 * answer, SIGINT arrives, or stdout fails (`stdoutClosed`); unsubscribing on the way out cancels the exchange
 * (and the observation). A throw from `onPart` (an `-o` file that cannot be written) fails the run.
 */
function runExchange(
  responses$: Observable<CoapResponse>,
  options: CliOptions,
  onPart: (response: CoapResponse) => void,
  stdoutClosed: AbortSignal,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let subscription: Subscription | undefined;
    let answered = false;
    let finished = false;
    const finish = (outcome: Outcome): void => {
      if (finished) return;
      finished = true;
      for (const timer of timers) clearTimeout(timer);
      process.off('SIGINT', onInterrupt);
      stdoutClosed.removeEventListener('abort', onStdoutFailed);
      subscription?.unsubscribe();
      resolve(outcome);
    };
    const onInterrupt = (): void => finish({ kind: 'interrupted' });
    const onStdoutFailed = (): void => finish({ kind: 'stdout-failed' });
    process.once('SIGINT', onInterrupt);
    if (stdoutClosed.aborted) return finish({ kind: 'stdout-failed' });
    stdoutClosed.addEventListener('abort', onStdoutFailed);
    // -B: coap-client gives up after this long without the answer; while observing, it bounds the registration.
    timers.push(setTimeout(() => (answered && options.observeSeconds !== undefined ? undefined : finish({ kind: 'gave-up' })), options.breakAfterSeconds * 1000));
    if (options.observeSeconds !== undefined) timers.push(setTimeout(() => finish({ kind: 'done' }), options.observeSeconds * 1000));
    subscription = responses$.subscribe({
      next: (response) => {
        answered = true;
        try {
          onPart(response);
        } catch (error) {
          finish({ kind: 'error', error });
        }
      },
      error: (error) => finish({ kind: 'error', error }),
      complete: () => finish({ kind: 'done' }),
    });
  });
}

function describeFailure(error: unknown, options: CliOptions): string {
  if (error instanceof CoapTimeoutError) return `no response from ${options.uri}: ${error.message}`;
  if (error instanceof CoapDtlsError || error instanceof CoapTlsError) {
    // The library names its own options (pki.pkiKey.publicCert ...); on the command line they are -c and -j.
    const message = error.reason === 'client-cert-required' ? error.message.replace(/: give pki\.pkiKey\.[^:]*$/, '') + ': give -c certfile (and -j keyfile)' : error.message;
    return `${error instanceof CoapDtlsError ? 'DTLS' : 'TLS'} with ${options.uri} failed: ${message}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs the CLI.
 * @param argv - the arguments after the script name
 * @param io - where to read and write
 * @returns the exit status
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const stdout = watchStdout(io);
  const status = await run(argv, io, stdout.signal);
  // A write error can be reported after the run decided its status (a redirect to a full disk).
  const error = stdout.error();
  if (error !== undefined && !isClosedPipe(error)) {
    io.stderr.write(`rxcoap: cannot write to stdout: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}\n`);
    return status === EXIT_OK ? EXIT_FAILED : status;
  }
  return status;
}

/** {@link main} once stdout is watched; `stdoutFailed` aborts at the first write error there. */
async function run(argv: readonly string[], io: CliIo, stdoutFailed: AbortSignal): Promise<number> {
  let options: CliOptions;
  let payload: Uint8Array | string | undefined;
  try {
    const command = parseCliArgs(argv);
    if (command.kind === 'help') {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    if (command.kind === 'version') {
      io.stdout.write(`rxcoap ${packageVersion()}\n`);
      return EXIT_OK;
    }
    options = command.options;
    payload = await readPayload(options, io);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(io, asksForJson(argv), error);
    throw error;
  }
  const json = options.json;

  const logger = cliLogger(options.verbosity, io);
  const ctx = new CoapContext({
    // Parts, not one body: the CLI joins them itself so it can draw progress on long transfers.
    blockMode: { singleBody: false },
    maxBlockSize: options.block?.size,
    logger,
  });
  const printer = new ResponsePrinter(options, io, stdoutFailed);
  const progress: TransferProgress = createTransferProgress(io.stderr, targetPath(options));
  try {
    let session: ClientSession;
    let responses$: Observable<CoapResponse>;
    try {
      session = await openSession(ctx, options);
      const init = requestInit(options, payload);
      if (options.observeSeconds !== undefined) {
        responses$ = session.observe({ ...init, method: options.method === 'FETCH' ? 'FETCH' : 'GET' });
      } else {
        responses$ = session.request(init);
      }
    } catch (error) {
      if (error instanceof CoapArgumentError) return usageFailure(io, json, withFlagNames(error, options.pki));
      if (error instanceof UsageError || error instanceof CoapUriError) return usageFailure(io, json, error);
      throw error;
    }
    session.events$.subscribe((event) => {
      // A warning (`-n`: the server's identity is not checked) shows from level 4, as libcoap's warnings do.
      if ((event as { type: string }).type === 'warning') {
        if (options.verbosity >= 4) io.stderr.write(`rxcoap: warning: ${String((event as { message?: unknown }).message ?? describeEvent(event))}\n`);
      } else if (options.verbosity >= 6) {
        io.stderr.write(`rxcoap: ${describeEvent(event)}\n`);
      }
    });

    // -b num,size with num > 0 asks for that one block (coap-client's single_block_requested): the block is
    // the whole answer, never held back waiting for the rest of a body, and draws no progress bar.
    const randomAccess = (options.block?.num ?? 0) > 0;
    const assembler = new BodyAssembler();
    const outcome = await runExchange(
      responses$,
      options,
      (part) => {
        if (randomAccess) return printer.print(part);
        if (part.progress !== undefined) progress.update(part.progress);
        const whole = assembler.push(part);
        if (whole !== undefined) printer.print(whole);
      },
      stdoutFailed,
    );
    progress.stop();

    switch (outcome.kind) {
      case 'error':
        // A certificate file that holds no certificate or key is found when the session connects.
        if (outcome.error instanceof CoapArgumentError) return usageFailure(io, json, withFlagNames(outcome.error, options.pki));
        if (outcome.error instanceof UsageError || outcome.error instanceof CoapUriError) return usageFailure(io, json, outcome.error);
        reportFailure(io, json, outcome.error, describeFailure(outcome.error, options));
        return EXIT_FAILED;
      case 'gave-up': {
        const failure = new BreakTimeout(options.uri, options.breakAfterSeconds);
        reportFailure(io, json, failure, failure.message);
        return EXIT_FAILED;
      }
      case 'interrupted':
        return printer.lastOk === true ? EXIT_OK : 130;
      case 'stdout-failed':
        // The reader went away (| head): quietly, with the status of what was printed (main() tells any
        // other write error, such as a full disk).
        return printer.lastOk === false ? EXIT_FAILED : EXIT_OK;
      case 'done':
        if (printer.count === 0) {
          const failure = new NoResponse(options.uri);
          reportFailure(io, json, failure, failure.message);
          return EXIT_FAILED;
        }
        return printer.lastOk === true ? EXIT_OK : EXIT_FAILED;
    }
  } catch (error) {
    reportFailure(io, json, error, messageOf(error));
    return EXIT_FAILED;
  } finally {
    progress.stop();
    printer.close();
    await ctx.free();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
      // Anything still holding the event loop (a socket closing late) must not keep the shell waiting.
      setTimeout(() => process.exit(status), 2000).unref();
    },
    (error: unknown) => {
      // No stack trace for the user: one line, as for every other failure.
      process.stderr.write(`rxcoap: ${messageOf(error)}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}
