/**
 * The browser examples (examples/angular, examples/browser) are browser code: they are type-checked with their
 * own tsconfig (DOM, no Node types, Angular's decorators) rather than by the repository's, and the page example
 * is bundled for a browser as its README says. Angular (@angular/core, @angular/common 21, which run on Node
 * 20.19) is a dev dependency for this check only.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleApp } from '../../bench/bundle';

const REPOSITORY = path.resolve(__dirname, '..', '..');
const TSC = path.join(REPOSITORY, 'node_modules', 'typescript', 'bin', 'tsc');

function typeCheck(project: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [TSC, '-p', path.join(REPOSITORY, project)], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('examples/angular', () => {
  it('type-checks: a standalone service exposing observe() for the async pipe, released on destroy', () => {
    expect(typeCheck('examples/angular')).toEqual({ status: 0, output: '' });
    const service = fs.readFileSync(path.join(REPOSITORY, 'examples', 'angular', 'coap.service.ts'), 'utf8');
    expect(service).toMatch(/observe\(path: string\): Observable<string>/);
    expect(service).toMatch(/inject\(DestroyRef\)\.onDestroy\(/);
  }, 120_000);
});

describe('examples/browser', () => {
  it('type-checks with the DOM and without Node types', () => {
    expect(typeCheck('examples/browser')).toEqual({ status: 0, output: '' });
  }, 120_000);

  it('bundles for a browser from the built package, without Node built-ins', async () => {
    const app = fs.readFileSync(path.join(REPOSITORY, 'examples', 'browser', 'app.ts'), 'utf8');
    // bundleApp takes JavaScript: the example's few type annotations go first (esbuild strips them too).
    const esbuild = await import('esbuild');
    const { code: javascript } = await esbuild.transform(app, { loader: 'ts', format: 'esm' });
    const { metafile } = await bundleApp(javascript);
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.some((input) => input.endsWith('dist/esm/transport/websocket.js'))).toBe(true);
    expect(inputs.filter((input) => input.startsWith('node:') || /dist\/(src|esm\/node)/.test(input))).toEqual([]);
    expect(fs.readFileSync(path.join(REPOSITORY, 'examples', 'browser', 'index.html'), 'utf8')).toMatch(/<script type="module" src="app\.js">/);
  }, 60_000);
});
