#!/usr/bin/env node
/**
 * The layer rules of rxcoap (docs: /work/shared/ARCHITECTURE.md, STYLE.md "Layers in folders"), checked on the
 * actual imports of `src/` (parsed with the TypeScript compiler, which is a dev dependency already):
 *
 *   rank 0  base        src/errors.ts, peer-address.ts, validate.ts, pki-credentials.ts, psk-credentials.ts
 *   rank 1  codec       src/codec/
 *   rank 2  transport   src/transport/      } siblings: none imports another
 *           message     src/message-layer/  }
 *           signaling   src/signaling/      }
 *   rank 3  exchange    src/exchange/
 *   rank 4  operators   src/operators/      (rxcoap/operators: compose over exchange results)
 *   rank 5  session     src/session/
 *   rank 6  API         src/context.ts, the entries (index, node, operators, testing, testing-browser, cbor), src/cli/,
 *                       src/testing/
 *
 * Rules (value and type imports alike, since a type import is still a dependency of the design):
 *   1. A file imports only its own layer and lower ranks; the rank-2 siblings never import each other.
 *   2. The codec is pure: no rxjs, no `node:` or other Node built-in, no Node-only package.
 *   3. No Node built-in or Node-only package is reachable, through value imports followed transitively, from the
 *      browser-safe entries: src/index.ts (rxcoap), src/operators.ts (rxcoap/operators), src/cbor.ts (rxcoap/cbor)
 *      and src/testing-browser.ts (the browser-safe part of rxcoap/testing, when it exists).
 *
 * Usage: node scripts/check-layers.mjs [root]   (root defaults to the repository; exits 1 on a violation)
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, '..'));
const ts = createRequire(path.join(here, '..', 'package.json'))('typescript');
const src = path.join(root, 'src');

const BASE_FILES = new Set(['errors.ts', 'peer-address.ts', 'validate.ts', 'pki-credentials.ts', 'psk-credentials.ts']);
const FOLDER_LAYERS = {
  codec: { name: 'codec', rank: 1 },
  transport: { name: 'transport', rank: 2 },
  'message-layer': { name: 'message-layer', rank: 2 },
  signaling: { name: 'signaling', rank: 2 },
  exchange: { name: 'exchange', rank: 3 },
  operators: { name: 'operators', rank: 4 },
  session: { name: 'session', rank: 5 },
  cli: { name: 'API', rank: 6 },
  testing: { name: 'API', rank: 6 },
};
const API_LAYER = { name: 'API', rank: 6 };
const BASE_LAYER = { name: 'base', rank: 0 };
const BROWSER_ENTRIES = ['index.ts', 'operators.ts', 'testing-browser.ts', 'cbor.ts'];
/** Packages that only run on Node (they load sockets or native code). */
const NODE_ONLY_PACKAGES = new Set(['node-dtls-client', 'ws', 'unix-dgram', 'cli-progress']);
const NODE_BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

function layerOf(file) {
  const relative = path.relative(src, file).split(path.sep);
  if (relative.length === 1) return BASE_FILES.has(relative[0]) ? BASE_LAYER : API_LAYER;
  const layer = FOLDER_LAYERS[relative[0]];
  if (layer === undefined) throw new Error(`check-layers: ${relative.join('/')} is in no layer; add its folder to FOLDER_LAYERS`);
  return layer;
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return walk(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every import of a file: `{ specifier, typeOnly, line }` (import/export from, import types, require, import()). */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found = [];
  const add = (node, specifier, typeOnly) =>
    found.push({ specifier, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier.text, allTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause;
      const allTypes = node.isTypeOnly || (named !== undefined && ts.isNamedExports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly));
      add(node, node.moduleSpecifier.text, allTypes);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node, node.moduleReference.expression.text, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node, node.argument.literal.text, true);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if ((ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The file a relative specifier names, or undefined when it is a package. */
function resolveRelative(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  return `${base}.ts`; // missing: reported by tsc, not here
}

const packageName = (specifier) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
const isNodeOnly = (specifier) => NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(packageName(specifier)) || NODE_ONLY_PACKAGES.has(packageName(specifier));
const show = (file) => path.relative(root, file).split(path.sep).join('/');

const files = walk(src);
const graph = new Map(files.map((file) => [file, importsOf(file).map((entry) => ({ ...entry, target: resolveRelative(file, entry.specifier) }))]));
const violations = [];

// Rules 1 and 2.
for (const [file, imports] of graph) {
  const from = layerOf(file);
  for (const { specifier, target, line } of imports) {
    const where = `${show(file)}:${line}`;
    if (target === undefined) {
      if (from.name === 'codec' && (packageName(specifier) === 'rxjs' || isNodeOnly(specifier))) {
        violations.push(`${where}: the codec is pure, it must not import '${specifier}' (rule 2)`);
      }
      continue;
    }
    const to = layerOf(target);
    if (to.rank > from.rank) violations.push(`${where}: ${from.name} (rank ${from.rank}) imports ${to.name} (rank ${to.rank}) upward: '${specifier}' (rule 1)`);
    else if (to.rank === from.rank && to.name !== from.name && from.rank === 2) {
      violations.push(`${where}: ${from.name} imports its sibling ${to.name}: '${specifier}' (rule 1)`);
    }
  }
}

// Rule 3: breadth-first over value imports from each browser-safe entry, keeping the first path to each file.
let entriesChecked = 0;
for (const entryName of BROWSER_ENTRIES) {
  const entry = path.join(src, entryName);
  if (!existsSync(entry)) continue;
  entriesChecked++;
  const via = new Map([[entry, undefined]]);
  const queue = [entry];
  const reported = new Set(); // one line per Node-only module an entry reaches
  while (queue.length > 0) {
    const file = queue.shift();
    for (const { specifier, target, typeOnly, line } of graph.get(file) ?? []) {
      if (typeOnly) continue; // erased by the compiler: never loaded
      if (target === undefined) {
        if (!isNodeOnly(specifier) || reported.has(specifier)) continue;
        reported.add(specifier);
        const chain = [];
        for (let at = file; at !== undefined; at = via.get(at)) chain.unshift(show(at));
        violations.push(`src/${entryName} must be browser-safe, but reaches '${specifier}' (${show(file)}:${line}) via ${chain.join(' -> ')} (rule 3)`);
        continue;
      }
      if (!via.has(target) && graph.has(target)) {
        via.set(target, file);
        queue.push(target);
      }
    }
  }
}

if (violations.length > 0) {
  console.error(`check-layers: ${violations.length} violation${violations.length === 1 ? '' : 's'} of the layer rules (see scripts/check-layers.mjs)`);
  for (const violation of violations) console.error(`  ${violation}`);
  process.exit(1);
}
const importCount = [...graph.values()].reduce((sum, list) => sum + list.length, 0);
console.log(`check-layers: ${files.length} files, ${importCount} imports, ${entriesChecked} browser-safe entries: no upward import, the codec pure, no node: reachable from the browser entries`);
