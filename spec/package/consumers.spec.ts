/**
 * The package as its users get it (issue 18): `npm pack`, then throwaway CommonJS, ES module and TypeScript
 * projects (moduleResolution node16, bundler and node10) install the tarball and import every entry; the JavaScript
 * ones also run a GET against the test peer, the TypeScript ones type-check with `skipLibCheck: false`, and a
 * browser bundle of `rxcoap/testing` gets the browser-safe part.
 *
 * Offline: the install is `npm install --offline --engine-strict --omit=optional` of the tarball into a folder
 * whose node_modules already holds copies of the dependencies (rxjs, cbor-x, ws, tslib; the types of Node), so
 * npm resolves them without a registry. `npm test` builds first; by hand `npm run build`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPOSITORY = path.resolve(__dirname, '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TSC = path.join(REPOSITORY, 'node_modules', 'typescript', 'bin', 'tsc');
/** Installed by copying: what the package needs at run time (npm takes these copies as the installed ones). */
const COPIED = ['rxjs', 'tslib', 'cbor-x', 'ws'];
/** Copied after the install (npm would prune them as extraneous): what TypeScript needs to check Node code. */
const TYPES = ['@types/node', 'undici-types'];
const ENTRIES = ['rxcoap', 'rxcoap/node', 'rxcoap/testing', 'rxcoap/operators', 'rxcoap/cbor'];

interface Packed {
  readonly filename: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}

let folder: string;
let tarball: string;
let packedFiles: string[];

function run(command: string, args: readonly string[], cwd: string, timeout = 60_000): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** The GET every JavaScript consumer runs: test peer and client from the installed package. */
const GET_PROGRAM = (load: (entry: string) => string): string => `
const core = ${load('rxcoap')};
const node = ${load('rxcoap/node')};
const testing = ${load('rxcoap/testing')};
const operators = ${load('rxcoap/operators')};
const { firstValueFrom } = ${load('rxjs')};
// A side-effect entry (installs the CBOR decoder): it must resolve, it exports nothing.
${load('rxcoap/cbor')};
const exported = [core, node, testing, operators].map((entry) => Object.keys(entry).length);
if (exported.some((count) => count === 0)) throw new Error('an entry exports nothing: ' + exported);
if (typeof core.CoapContext !== 'function' || node.CoapContext !== core.CoapContext) throw new Error('rxcoap/node does not re-export the core');
if (typeof testing.startTestPeer !== 'function' || typeof testing.createFakeTransport !== 'function') throw new Error('rxcoap/testing is not the Node entry');
const peer = await testing.startTestPeer({ resources: [{ path: '/hello', get: 'hello, consumer' }] });
const ctx = new node.CoapContext();
try {
  const response = await firstValueFrom(ctx.newClientSession({ server: peer.uri('/').replace(/\\/$/, '') }).get('/hello'));
  console.log(JSON.stringify({ code: response.codeName, text: response.text(), exported }));
} finally {
  await ctx.free();
  await peer.close();
}
`;

/** Uses each entry's types; the last line must not type-check (so types are not silently `any`). */
const TYPED_PROGRAM = `import { CoapContext, CoapError, type CoapResponse, type ClientSessionOptions } from 'rxcoap';
import { udpTransport, wsTransport, type UdpTransportOptions } from 'rxcoap/node';
import { createFakeTransport, startTestPeer, type TestPeer } from 'rxcoap/testing';
import * as operators from 'rxcoap/operators';
import * as cborEntry from 'rxcoap/cbor';
import type { Observable } from 'rxjs';

const options: ClientSessionOptions = { server: 'coap+ws://127.0.0.1:8080' };
const ctx: CoapContext = new CoapContext();
const responses: Observable<CoapResponse> = ctx.newClientSession(options).get('/hello');
const checked: Observable<CoapResponse> = responses.pipe(operators.throwOnErrorCode());
const udp: UdpTransportOptions = { host: '127.0.0.1', port: 5683 };
export const used = [checked, udp, udpTransport, wsTransport, createFakeTransport, CoapError, cborEntry];
export async function peer(): Promise<TestPeer> {
  return startTestPeer({});
}
// @ts-expect-error: a context is not a number (fails if the types resolved to any)
export const wrong: number = ctx;
`;

beforeAll(() => {
  if (!fs.existsSync(path.join(REPOSITORY, 'dist', 'esm', 'index.js')) || !fs.existsSync(path.join(REPOSITORY, 'dist', 'src', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-consumers-'));
  const packed = JSON.parse(execFileSync(NPM, ['pack', '--json', '--pack-destination', folder], { cwd: REPOSITORY, encoding: 'utf8' })) as Packed[];
  tarball = path.join(folder, packed[0].filename);
  packedFiles = packed[0].files.map((file) => file.path);
  write(path.join(folder, 'package.json'), JSON.stringify({ name: 'rxcoap-consumer', version: '1.0.0', private: true }));
  for (const name of COPIED) fs.cpSync(path.join(REPOSITORY, 'node_modules', name), path.join(folder, 'node_modules', name), { recursive: true });
  run(NPM, ['install', '--offline', '--engine-strict', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', tarball], folder, 120_000);
  for (const name of TYPES) fs.cpSync(path.join(REPOSITORY, 'node_modules', name), path.join(folder, 'node_modules', name), { recursive: true });
}, 180_000);

afterAll(() => {
  if (folder !== undefined) fs.rmSync(folder, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds both builds, the sources its source maps name, the LICENSE, and no specs', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['LICENSE', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/package.json', 'dist/esm/testing-browser.js']));
    expect(packedFiles.filter((file) => /^(spec|bench|fuzz|soak|examples)\/|\.spec\./.test(file))).toEqual([]);
    const installed = path.join(folder, 'node_modules', 'rxcoap');
    const missing: string[] = [];
    for (const file of packedFiles.filter((name) => name.endsWith('.js.map'))) {
      const map = JSON.parse(fs.readFileSync(path.join(installed, file), 'utf8')) as { sources: string[] };
      for (const source of map.sources) {
        const target = path.resolve(path.dirname(path.join(installed, file)), source);
        if (!fs.existsSync(target)) missing.push(`${file} -> ${source}`);
      }
    }
    // A map whose source is gone is usually a stale build output (tsc never deletes): a clean build ships none.
    if (missing.length > 0) throw new Error(`source maps name sources the package lacks (stale dist/? rm -rf dist && npm run build):\n${missing.join('\n')}`);
  });

  it('installs offline with engine-strict and without optional dependencies (node-dtls-client, cli-progress)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'node_modules', 'rxcoap', 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    expect(manifest.peerDependencies).toMatchObject({ rxjs: expect.stringMatching(/^\^7\.8/) });
    expect(manifest.dependencies).not.toHaveProperty('rxjs');
    expect(manifest.dependencies).not.toHaveProperty('node-dtls-client');
    expect(manifest.dependencies).not.toHaveProperty('cli-progress');
    expect(fs.existsSync(path.join(folder, 'node_modules', 'node-dtls-client'))).toBe(false);
    expect(fs.existsSync(path.join(folder, 'node_modules', 'cli-progress'))).toBe(false);
  });
});

describe('JavaScript consumers', () => {
  it('CommonJS requires every entry and GETs from the test peer', () => {
    write(path.join(folder, 'cjs', 'main.cjs'), `(async () => {${GET_PROGRAM((entry) => `require('${entry}')`)}})().catch((error) => { console.error(error); process.exit(1); });`);
    const out = JSON.parse(run(process.execPath, ['cjs/main.cjs'], folder)) as { code: string; text: string };
    expect(out).toMatchObject({ code: '2.05 Content', text: 'hello, consumer' });
  });

  it('an ES module imports every entry (the ES module build) and GETs from the test peer', () => {
    write(path.join(folder, 'esm', 'main.mjs'), GET_PROGRAM((entry) => `await import('${entry}')`));
    const out = JSON.parse(run(process.execPath, ['esm/main.mjs'], folder)) as { code: string; text: string };
    expect(out).toMatchObject({ code: '2.05 Content', text: 'hello, consumer' });
    // import resolves to dist/esm, require to dist/src
    write(path.join(folder, 'esm', 'resolve.mjs'), "import { createRequire } from 'node:module';\nconsole.log(import.meta.resolve('rxcoap'), createRequire(import.meta.url).resolve('rxcoap'));\n");
    const resolved = run(process.execPath, ['esm/resolve.mjs'], folder);
    expect(resolved).toMatch(/rxcoap\/dist\/esm\/index\.js .*rxcoap\/dist\/src\/index\.js/);
  });

  it('coaps:// without node-dtls-client errors with how to install it', () => {
    write(
      path.join(folder, 'dtls', 'main.cjs'),
      `const { CoapContext } = require('rxcoap/node');
const ctx = new CoapContext();
ctx.newClientSessionPsk({ server: 'coaps://127.0.0.1:5684', psk: { identity: 'id', key: 'secret' } }).get('/').subscribe({
  next: () => process.exit(1),
  error: (error) => { console.log(JSON.stringify({ name: error.name, message: error.message })); void ctx.free(); },
});`,
    );
    const out = JSON.parse(run(process.execPath, ['dtls/main.cjs'], folder)) as { name: string; message: string };
    expect(out.name).toBe('CoapTransportError');
    expect(out.message).toMatch(/node-dtls-client.*npm install node-dtls-client/);
  });

  it('the CLI runs without cli-progress', () => {
    const help = spawnSync(process.execPath, [path.join(folder, 'node_modules', 'rxcoap', 'dist', 'src', 'cli', 'main.js'), '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(`${help.stdout}${help.stderr}`).toMatch(/rxcoap/);
    expect(help.stderr).not.toMatch(/Cannot find module/);
  });
});

describe('TypeScript consumers type-check against every entry', () => {
  const projects: ReadonlyArray<{ name: string; type: 'module' | 'commonjs'; compilerOptions: Record<string, unknown> }> = [
    { name: 'node16 (ES module)', type: 'module', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
    { name: 'node16 (CommonJS)', type: 'commonjs', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
    { name: 'bundler', type: 'module', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' } },
    { name: 'node10 (module commonjs)', type: 'commonjs', compilerOptions: { module: 'commonjs', moduleResolution: 'node10' } },
  ];

  it.each(projects)('$name', ({ name, type, compilerOptions }) => {
    const dir = path.join(folder, `ts-${name.replace(/\W+/g, '-')}`);
    write(path.join(dir, 'package.json'), JSON.stringify({ name: 'ts-consumer', private: true, type }));
    write(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...compilerOptions, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], esModuleInterop: true }, files: ['main.ts'] }),
    );
    write(path.join(dir, 'main.ts'), TYPED_PROGRAM);
    const result = spawnSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('fails on a wrong type (the check can fail)', () => {
    const dir = path.join(folder, 'ts-fails');
    write(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, types: ['node'] }, files: ['main.ts'] }));
    write(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    write(path.join(dir, 'main.ts'), "import { CoapContext } from 'rxcoap';\nexport const wrong: number = new CoapContext();\n");
    const result = spawnSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    expect(result.stdout).toMatch(/TS2322/);
  }, 120_000);
});

describe('a browser bundler', () => {
  it("gets the browser-safe rxcoap/testing and the ES module core, without Node built-ins", async () => {
    const esbuild = await import('esbuild');
    write(path.join(folder, 'browser', 'app.mjs'), "import { createFakeTransport, seededRandom } from 'rxcoap/testing';\nimport { CoapContext } from 'rxcoap';\nconsole.log(createFakeTransport, seededRandom, CoapContext);\n");
    const result = await esbuild.build({ absWorkingDir: folder, entryPoints: ['browser/app.mjs'], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, outfile: 'out.js', logLevel: 'silent' });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('node_modules/rxcoap/dist/esm/testing-browser.js');
    expect(inputs.filter((input) => /node_modules\/rxcoap\/dist\/(src|esm\/testing\.js|esm\/node\.js)/.test(input))).toEqual([]);
  }, 60_000);
});
