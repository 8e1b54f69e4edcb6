/**
 * The browser bundle figure (ARCHITECTURE.md goals: an app that GETs and observes over coap+ws, bundled with
 * esbuild, minified: <= 35 KB gzipped, rxjs included, one rxjs copy).
 *
 * The app is bundled as a user's bundler sees the package: a throwaway folder whose node_modules links `rxcoap` to
 * this repository (so `exports`, the `browser`/`import` conditions and `"sideEffects"` of package.json apply, and
 * dist/esm is what gets bundled: `npm run build` first) and `rxjs` to the repository's copy, which the app
 * imports too. esbuild's metafile says which package each output byte came from, and which rxjs builds
 * (dist/cjs, dist/esm5, dist/esm) went in: more than one is a second rxjs copy.
 *
 * esbuild resolves the way Angular's esbuild builder (`@angular/build`, the issue's target user) does for a
 * browser: `conditions: ['es2020', 'es2015', 'module']` and `mainFields: ['es2020', 'es2015', 'browser',
 * 'module', 'main']`. So rxjs's ES2015 build (`dist/esm`, no tslib) goes in, as in an Angular app, not the ES5
 * one (`dist/esm5` plus tslib, about 4 KB gzipped more) that esbuild's own defaults pick.
 *
 * Also used by spec/package/bundle-size.spec.ts, which asserts the budget.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { TableRow } from './table';

/** The repository: the nearest folder with a package.json (this file runs from bench/ in specs, dist/bench/ built). */
const REPOSITORY = ((): string => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** The goal, in bytes of gzip output (KB = 1000 bytes, as bundlers print). */
export const BUNDLE_BUDGET_GZIP = 35_000;

/** The measured app: GET and observe over coap+ws, as a browser app would write it. */
export const BUNDLE_APP = `import { CoapContext } from 'rxcoap';
import { take } from 'rxjs';

const ctx = new CoapContext();
const session = ctx.newClientSession({ server: 'coap+ws://127.0.0.1:8080' });
session.get('/hello').subscribe((response) => console.log(response.code, response.text()));
session
  .observe('/time')
  .pipe(take(5))
  .subscribe({ next: (response) => console.log(response.text()), complete: () => void ctx.free() });
`;

/** What one bundle weighs. */
export interface BundleSize {
  /** Minified bytes. */
  readonly minified: number;
  /** Gzipped bytes of the minified bundle (level 9). */
  readonly gzipped: number;
  /** Minified bytes per package (`rxcoap`, `rxjs`, `cbor-x`, `app`...), largest first. */
  readonly byPackage: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
  /** The rxjs builds that went in (`dist/esm`, `dist/esm5`, `dist/cjs`): one entry is one copy. */
  readonly rxjsBuilds: readonly string[];
  /** Node built-ins the bundle asked for (none for a browser app). */
  readonly nodeBuiltins: readonly string[];
  /** Every input file (repository- or node_modules-relative), for assertions on what went in. */
  readonly inputs: readonly string[];
}

/** Options of {@link measureBundle}. */
export interface MeasureBundleOptions {
  /** The app's source (an ES module). @defaultValue {@link BUNDLE_APP} */
  readonly app?: string;
  /** The repository whose package is bundled. @defaultValue this repository */
  readonly repository?: string;
}

/** The export conditions of Angular's esbuild builder (`@angular/build` `getEsBuildCommonOptions`). */
const ANGULAR_CONDITIONS = ['es2020', 'es2015', 'module'];

/** The main fields of Angular's esbuild builder for the browser (`createBrowserCodeBundleOptions`). */
const ANGULAR_MAIN_FIELDS = ['es2020', 'es2015', 'browser', 'module', 'main'];

/** Which package an esbuild input path belongs to (`node_modules/<name>/...`), or `app`. */
function packageOf(input: string): string {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match !== null) return match[1];
  return input.startsWith('dist/') || input.includes('/dist/') || input.startsWith('src/') ? 'rxcoap' : 'app';
}

/** A browser bundle of an app, made by {@link bundleApp}. */
export interface BrowserBundle {
  /** The bundle (an ES module). */
  readonly code: Uint8Array;
  /** esbuild's metafile of it. */
  readonly metafile: import('esbuild').Metafile;
  /** The folder the metafile's paths are relative to (deleted again: only for resolving them). */
  readonly folder: string;
}

/**
 * Bundles an app's source (an ES module importing `rxcoap` and `rxjs`) for a browser with esbuild, from the built
 * package as an installed dependency (dist/esm through `exports`). Minified unless `minify` is false.
 */
export async function bundleApp(app: string, options: { readonly minify?: boolean; readonly repository?: string } = {}): Promise<BrowserBundle> {
  const repository = options.repository ?? REPOSITORY;
  if (!fs.existsSync(path.join(repository, 'dist', 'esm', 'index.js'))) {
    throw new Error(`${path.join(repository, 'dist', 'esm')} is missing: run \`npm run build\` first`);
  }
  // esbuild is a dev dependency: loaded here, not at the top, so the rest of the bench runs without it.
  const esbuild = await import('esbuild');
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'rxcoap-bundle-'));
  try {
    const modules = path.join(folder, 'node_modules');
    fs.mkdirSync(modules);
    fs.symlinkSync(repository, path.join(modules, 'rxcoap'), 'dir');
    fs.symlinkSync(path.join(repository, 'node_modules', 'rxjs'), path.join(modules, 'rxjs'), 'dir');
    fs.writeFileSync(path.join(folder, 'app.mjs'), app);
    const result = await esbuild.build({
      absWorkingDir: folder,
      entryPoints: ['app.mjs'],
      bundle: true,
      minify: options.minify ?? true,
      format: 'esm',
      platform: 'browser',
      // As Angular's builder: rxjs's `es2015` condition (dist/esm) before `module` (dist/esm5). See the file comment.
      conditions: ANGULAR_CONDITIONS,
      mainFields: ANGULAR_MAIN_FIELDS,
      target: 'es2022',
      write: false,
      metafile: true,
      outfile: 'out.js',
      logLevel: 'silent',
    });
    const output = result.outputFiles.find((file) => file.path.endsWith('.js'))!;
    return { code: output.contents, metafile: result.metafile, folder };
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** Bundles the app with esbuild (browser, ES module, minified) and weighs it. */
export async function measureBundle(options: MeasureBundleOptions = {}): Promise<BundleSize> {
  const repository = options.repository ?? REPOSITORY;
  const { code, metafile, folder } = await bundleApp(options.app ?? BUNDLE_APP, { repository });
  const meta = Object.values(metafile.outputs).find((out) => out.entryPoint !== undefined)!;
  const byName = new Map<string, number>();
  const builds = new Set<string>();
  const builtins = new Set<string>();
  const inputs: string[] = [];
  for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
    // Paths are relative to the folder; the repository's files show as ../../.. paths: name them from the repo.
    const absolute = path.resolve(folder, input);
    const relative = absolute.startsWith(repository + path.sep) ? path.relative(repository, absolute) : input;
    inputs.push(relative);
    const name = packageOf(relative);
    byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
    const rxjsBuild = /node_modules\/rxjs\/(dist\/[^/]+)\//.exec(relative);
    if (rxjsBuild !== null && bytesInOutput > 0) builds.add(rxjsBuild[1]);
  }
  for (const input of Object.values(metafile.inputs)) {
    for (const imported of input.imports) if (imported.external === true || imported.path.startsWith('node:')) builtins.add(imported.path);
  }
  return {
    minified: code.length,
    gzipped: gzipSync(code, { level: 9 }).length,
    byPackage: [...byName].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes),
    rxjsBuilds: [...builds].sort(),
    nodeBuiltins: [...builtins].sort(),
    inputs: inputs.sort(),
  };
}

function kb(bytes: number): string {
  return `${(bytes / 1000).toFixed(1)} KB`;
}

/** The bench row: gzipped size against the budget, and what each package contributes. */
export async function figureBundle(): Promise<TableRow[]> {
  const size = await measureBundle();
  const shares = size.byPackage.map(({ name, bytes }) => `${name} ${kb(bytes)}`).join(', ');
  const oneRxjs = size.rxjsBuilds.length === 1;
  return [
    {
      figure: 'browser bundle: GET + observe over coap+ws (esbuild, minified, gzipped)',
      ours: size.gzipped / 1000,
      theirs: BUNDLE_BUDGET_GZIP / 1000,
      unit: 'KB',
      ratio: size.gzipped / BUNDLE_BUDGET_GZIP,
      goal: '<= 1x (35 KB), one rxjs copy',
      met: size.gzipped <= BUNDLE_BUDGET_GZIP && oneRxjs,
      note: `${kb(size.minified)} minified; by package (minified): ${shares}; rxjs builds: ${size.rxjsBuilds.join(', ') || 'none'}${size.nodeBuiltins.length > 0 ? `; Node built-ins: ${size.nodeBuiltins.join(', ')}` : ''}`,
    },
  ];
}
