/**
 * The README's quick tour runs as written (issue 16: "the README's quick tour runs as written").
 *
 * At test time this spec takes the first ```ts block after "## Quick tour" in README.md and rewrites only what
 * cannot run here as is:
 * - the import specifier `'rxcoap/node'` becomes this repository's `src/node`;
 * - the `coap://` server URI becomes the test peer's, which serves what the tour uses (`/sensors/temperature`
 *   observable in SenML+CBOR, `/firmware` PUT, `/must-exist`, and `/slow`, answered too late to matter);
 * - the `coaps://` URI gets the DTLS port of a libcoap openssl server started with the tour's key, when one is
 *   installed (the tour creates that session without a request, so nothing needs it otherwise);
 * - `image`, which the tour uses without defining, is given to it as a 64 KiB body (more than one block).
 *
 * The rewritten block is type-checked against the sources (as a user's editor would), compiled with
 * `transpileModule`, and run in this realm with top-level await. It must complete with no unhandled error: no
 * rxjs unhandled error (an Observable erroring without an error callback), no unhandled rejection, no
 * uncaught exception. Any change to the README block that no longer runs fails here: the block or a rewrite
 * target missing, a type error, a runtime error, an unhandled error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { config as rxjsConfig } from 'rxjs';
import * as ts from 'typescript';
import { ContentFormat, cborPayload } from '../../src/node';
import { startTestPeer, type TestPeer } from '../../src/testing';
import { libcoapAvailable, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

jest.setTimeout(30_000);

const ROOT = path.resolve(__dirname, '..', '..');
const README = path.join(ROOT, 'README.md');
const NODE_ENTRY = path.join(ROOT, 'src', 'node');

/** The first ```ts block after the "## Quick tour" heading. */
function quickTourBlock(markdown: string): string {
  const heading = markdown.search(/^## Quick tour\s*$/m);
  if (heading < 0) throw new Error('README.md has no "## Quick tour" section');
  const rest = markdown.slice(heading);
  const open = /^```ts\s*$/m.exec(rest);
  if (open === null) throw new Error('the "## Quick tour" section has no ```ts block');
  const body = rest.slice(open.index + open[0].length);
  const close = /^```\s*$/m.exec(body);
  if (close === null) throw new Error('the quick tour ```ts block is not closed');
  return body.slice(0, close.index);
}

/** Replaces every match of `pattern` and fails when there is none (the README changed: this spec must follow). */
function rewrite(source: string, pattern: RegExp, replacement: string, what: string): string {
  let count = 0;
  const result = source.replace(pattern, () => {
    count++;
    return replacement;
  });
  if (count === 0) throw new Error(`the quick tour no longer contains ${what} (pattern ${pattern}); update spec/readme/quick-tour.spec.ts`);
  return result;
}

/** Type-checks `source` as a module of its own against the repository's sources; returns the diagnostics as text. */
function typeErrors(source: string): string[] {
  const file = path.join(ROOT, 'spec', 'readme', '__quick-tour__.ts');
  const declarations = path.join(ROOT, 'spec', 'readme', '__quick-tour-globals__.d.ts');
  const files = new Map([
    [file, source],
    [declarations, '/** Given to the tour by the spec: the tour uses it without defining it. */\ndeclare const image: Uint8Array;\n'],
  ]);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    // Top-level await needs an ES module target for the checker; the run below compiles to CommonJS.
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    esModuleInterop: true,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.getSourceFile = (name, language, onError, create) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile(name, language, onError, create) : ts.createSourceFile(name, text, language, true);
  };
  const program = ts.createProgram([file, declarations], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file === undefined || files.has(diagnostic.file.fileName))
    .map((diagnostic) => {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      if (diagnostic.file === undefined || diagnostic.start === undefined) return text;
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      return `${path.basename(diagnostic.file.fileName)}:${line + 1}:${character + 1} ${text}`;
    });
}

/** Compiles the block to CommonJS and runs it as an async function body (top-level await), in this realm. */
async function runModule(source: string, globals: { console: Pick<Console, 'log' | 'error' | 'warn' | 'info'>; image: Uint8Array }): Promise<void> {
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true },
    fileName: 'quick-tour.ts',
    reportDiagnostics: false,
  });
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
  const body = new AsyncFunction('require', 'exports', 'module', 'console', 'image', outputText);
  const module = { exports: {} };
  await body(require, module.exports, module, globals.console, globals.image);
}

function firmwareImage(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff;
  return bytes;
}

describe('README quick tour', () => {
  let peer: TestPeer;
  let dtlsServer: LibcoapServer | undefined;
  let stored: Uint8Array | undefined;

  beforeAll(async () => {
    let step = 0;
    peer = await startTestPeer({
      resources: [
        {
          path: '/sensors/temperature',
          contentFormat: ContentFormat.SenmlCbor,
          observable: true,
          notifyEvery: 20,
          // RFC 8428 §6: SenML+CBOR with integer labels (0 = n, 1 = u, 2 = v).
          get: () => cborPayload([new Map<number, unknown>([[0, 'temperature'], [1, 'Cel'], [2, 21 + (step++ % 10) / 10]])]),
        },
        {
          path: '/firmware',
          put: (request) => {
            stored = request.payload;
            return { code: 0x44 }; // 2.04 Changed
          },
        },
        { path: '/must-exist', get: 'here' },
        { path: '/slow', get: 'too late' },
      ],
    });
    // Still unanswered when the tour frees its context.
    peer.setFault({ path: '/slow', delay: 5000 });
    if (libcoapAvailable('openssl')) dtlsServer = await startLibcoapServer({ flavor: 'openssl', args: ['-k', 'secret'] });
  });

  afterAll(async () => {
    await peer?.close();
    await dtlsServer?.stop();
  });

  it('extracts a block that imports rxcoap/node and frees its context', () => {
    const block = quickTourBlock(fs.readFileSync(README, 'utf8'));
    expect(block).toMatch(/from 'rxcoap\/node'/);
    expect(block).toMatch(/await ctx\.free\(\)/);
  });

  it('runs as written against the test peer, with no unhandled error', async () => {
    const block = quickTourBlock(fs.readFileSync(README, 'utf8'));
    let source = rewrite(block, /(['"])rxcoap\/node\1/g, JSON.stringify(NODE_ENTRY), "an import from 'rxcoap/node'");
    source = rewrite(source, /(['"])coap:\/\/[^'"]*\1/g, JSON.stringify(`coap://127.0.0.1:${peer.address.port}`), 'a coap:// server URI');
    if (dtlsServer !== undefined) {
      source = rewrite(source, /(['"])coaps:\/\/[^'"/]*\1/g, JSON.stringify(`coaps://127.0.0.1:${dtlsServer.securePort}`), 'a coaps:// server URI');
    }

    expect(typeErrors(source)).toEqual([]);

    const unhandled: unknown[] = [];
    const onUnhandledError = rxjsConfig.onUnhandledError;
    rxjsConfig.onUnhandledError = (error) => unhandled.push(error);
    const onProcessError = (error: unknown): void => void unhandled.push(error);
    process.on('unhandledRejection', onProcessError);
    process.on('uncaughtException', onProcessError);
    const logged: unknown[][] = [];
    const errors: unknown[][] = [];
    const image = firmwareImage(64 * 1024);
    try {
      await runModule(source, {
        console: {
          log: (...args: unknown[]) => void logged.push(args),
          info: (...args: unknown[]) => void logged.push(args),
          error: (...args: unknown[]) => void errors.push(args),
          warn: (...args: unknown[]) => void errors.push(args),
        },
        image,
      });
      // rxjs reports an unhandled error on a later macrotask; give late ones their turn.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      rxjsConfig.onUnhandledError = onUnhandledError;
      process.off('unhandledRejection', onProcessError);
      process.off('uncaughtException', onProcessError);
    }

    expect(unhandled.map((error) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)))).toEqual([]);
    // The first console.log: the GET's code name and its SenML body.
    expect(logged[0]?.[0]).toBe('2.05 Content');
    expect(logged[0]?.[1]).toEqual([expect.anything()]);
    // The observation logged its registration response at least (Observe sequence number, body).
    const notifications = logged.slice(1).filter((args) => typeof args[0] === 'number');
    expect(notifications.length).toBeGreaterThanOrEqual(1);
    // The PUT went block-wise and arrived whole.
    expect(stored).toEqual(image);
    // The request to /slow, still waiting at ctx.free(), failed with a typed error: its handler printed the code.
    expect(errors).toEqual([[expect.stringMatching(/^COAP_ERR_/)]]);
  });
});
