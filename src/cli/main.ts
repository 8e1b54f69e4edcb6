#!/usr/bin/env node
/**
 * `rxcoap [options] URI`: a CoAP client on the command line, with libcoap `coap-client`'s options (see
 * `options.ts`), built on the library's public API only. Exit status: 0 on 2.xx, 1 on any other response or
 * a failure (timeout, DTLS, socket), 2 on bad arguments. Keys are never printed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Observable, type Subscription } from 'rxjs';
import { CoapArgumentError, CoapDtlsError, CoapError, CoapTimeoutError, CoapUriError } from '../errors';
import { CoapContext } from '../context';
import { decodeString } from '../codec/option-values';
import { OptionNumber } from '../codec/option-numbers';
import { CoapResponse } from '../exchange/response';
import type { ClientSession } from '../session/client-session';
import type { RequestInit } from '../session/request-init';
import type { CoapLogger, PskIdentityKey } from '../session/session-options';
import type { SessionEvent } from '../session/session-events';
import '../node'; // registers the Node transports (UDP, DTLS)
import { errorLine, pduLine, renderBody, responseRecord } from './format';
import { TRACE_VERBOSITY, USAGE, UsageError, parseCliArgs, parseHintFile, type CliOptions } from './options';
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

function usageFailure(io: CliIo, message: string): number {
  io.stderr.write(`rxcoap: ${message}\nTry 'rxcoap --help' for more information.\n`);
  return EXIT_USAGE;
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
    pdu: verbosity >= TRACE_VERBOSITY ? (direction, frame) => line(pduLine(direction, frame)) : undefined,
  };
}

function describeEvent(event: SessionEvent): string {
  switch (event.type) {
    case 'connected':
      return `connected from ${event.local.host}:${event.local.port} to ${event.remote.host}:${event.remote.port}`;
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

/** The session for the URI: plain UDP, or DTLS with the `-u`/`-k` credentials and the `-h` hint file. */
async function openSession(ctx: CoapContext, options: CliOptions): Promise<ClientSession> {
  const localIf = options.localAddress === undefined && options.localPort === undefined ? undefined : { address: options.localAddress, port: options.localPort };
  const server = `${options.target.scheme}://${options.uri.slice(options.target.scheme.length + 3).split(/[/?]/)[0]}`;
  if (options.psk === undefined) return ctx.newClientSession({ server, localIf });
  let hints: Map<string, PskIdentityKey> | undefined;
  if (options.psk.hintFile !== undefined) {
    let text: string;
    try {
      text = await fs.promises.readFile(options.psk.hintFile, 'utf8');
    } catch (error) {
      throw new UsageError(`-h: cannot read ${options.psk.hintFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
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
    confirmable: options.confirmable,
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
  #outputFd: number | undefined;
  /** Status of the last response: 2.xx or not. */
  lastOk: boolean | undefined;
  count = 0;

  constructor(options: CliOptions, io: CliIo) {
    this.#options = options;
    this.#io = io;
  }

  print(response: CoapResponse): void {
    const options = this.#options;
    this.count++;
    this.lastOk = response.ok;
    const contentFormat = response.contentFormat;
    if (options.json) {
      this.#io.stdout.write(JSON.stringify(responseRecord(response, contentFormat)) + '\n');
      if (!response.ok) this.#io.stderr.write(errorLine(response, contentFormat) + '\n');
      return;
    }
    if (!response.ok) {
      // coap-client prints error responses on stderr only.
      this.#io.stderr.write(errorLine(response, contentFormat) + '\n');
      return;
    }
    const newline = options.newline ? '\n' : '';
    if (options.output !== undefined && options.output !== '-') {
      this.#outputFd ??= fs.openSync(options.output, 'w');
      fs.writeSync(this.#outputFd, response.payload);
      if (newline !== '') fs.writeSync(this.#outputFd, newline);
      return;
    }
    if (options.output === '-') {
      this.#io.stdout.write(response.payload);
      this.#io.stdout.write(newline);
      return;
    }
    const body = renderBody(response.payload, contentFormat, this.#io.stdout.isTTY === true);
    this.#io.stdout.write(body.data);
    if (!body.rendered) this.#io.stdout.write(newline);
  }

  close(): void {
    if (this.#outputFd !== undefined) fs.closeSync(this.#outputFd);
    this.#outputFd = undefined;
  }
}

/** Why the run ended. */
type Outcome = { readonly kind: 'done' } | { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'gave-up' } | { readonly kind: 'interrupted' };

/**
 * Subscribes to the responses and resolves when they complete, fail, `-s` runs out, `-B` passes before an
 * answer, or SIGINT arrives; unsubscribing on the way out cancels the exchange (and the observation).
 */
function runExchange(
  responses$: Observable<CoapResponse>,
  options: CliOptions,
  onPart: (response: CoapResponse) => void,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let subscription: Subscription | undefined;
    let answered = false;
    const finish = (outcome: Outcome): void => {
      for (const timer of timers) clearTimeout(timer);
      process.off('SIGINT', onInterrupt);
      subscription?.unsubscribe();
      resolve(outcome);
    };
    const onInterrupt = (): void => finish({ kind: 'interrupted' });
    process.once('SIGINT', onInterrupt);
    // -B: coap-client gives up after this long without the answer; while observing, it bounds the registration.
    timers.push(setTimeout(() => (answered && options.observeSeconds !== undefined ? undefined : finish({ kind: 'gave-up' })), options.breakAfterSeconds * 1000));
    if (options.observeSeconds !== undefined) timers.push(setTimeout(() => finish({ kind: 'done' }), options.observeSeconds * 1000));
    subscription = responses$.subscribe({
      next: (response) => {
        answered = true;
        onPart(response);
      },
      error: (error) => finish({ kind: 'error', error }),
      complete: () => finish({ kind: 'done' }),
    });
  });
}

function describeFailure(error: unknown, options: CliOptions): string {
  if (error instanceof CoapTimeoutError) return `no response from ${options.uri}: ${error.message}`;
  if (error instanceof CoapDtlsError) return `DTLS with ${options.uri} failed: ${error.message}`;
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
    if (error instanceof UsageError) return usageFailure(io, error.message);
    throw error;
  }

  const logger = cliLogger(options.verbosity, io);
  const ctx = new CoapContext({
    // Parts, not one body: the CLI joins them itself so it can draw progress on long transfers.
    blockMode: { singleBody: false },
    maxBlockSize: options.block?.size,
    logger,
  });
  const printer = new ResponsePrinter(options, io);
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
      if (error instanceof UsageError) return usageFailure(io, error.message);
      if (error instanceof CoapArgumentError || error instanceof CoapUriError) return usageFailure(io, error.message);
      throw error;
    }
    if (options.verbosity >= 6) session.events$.subscribe((event) => io.stderr.write(`rxcoap: ${describeEvent(event)}\n`));

    const assembler = new BodyAssembler();
    const outcome = await runExchange(responses$, options, (part) => {
      if (part.progress !== undefined) progress.update(part.progress);
      const whole = assembler.push(part);
      if (whole !== undefined) printer.print(whole);
    });
    progress.stop();

    switch (outcome.kind) {
      case 'error':
        if (outcome.error instanceof CoapArgumentError || outcome.error instanceof CoapUriError) return usageFailure(io, outcome.error.message);
        io.stderr.write(`rxcoap: ${describeFailure(outcome.error, options)}\n`);
        return EXIT_FAILED;
      case 'gave-up':
        io.stderr.write(`rxcoap: no answer from ${options.uri} within ${options.breakAfterSeconds} s (-B)\n`);
        return EXIT_FAILED;
      case 'interrupted':
        return printer.lastOk === true ? EXIT_OK : 130;
      case 'done':
        if (printer.count === 0) {
          io.stderr.write(`rxcoap: no response from ${options.uri}\n`);
          return EXIT_FAILED;
        }
        return printer.lastOk === true ? EXIT_OK : EXIT_FAILED;
    }
  } catch (error) {
    io.stderr.write(`rxcoap: ${error instanceof CoapError ? error.message : String((error as Error)?.stack ?? error)}\n`);
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
      process.stderr.write(`rxcoap: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}
