#!/usr/bin/env node
/**
 * Builds dist/esm: the ES module build of src/ (without the CLI) beside the CommonJS one in dist/src.
 *
 * The sources import each other without file extensions ('./errors'), as CommonJS and bundlers allow; Node's ES
 * module loader does not. Rather than rewrite every import by hand, this compiles tsconfig.esm.json with two
 * TypeScript transformers:
 * - relative specifiers in JavaScript and in declarations (imports, re-exports, `import()` and `import('./x').T`
 *   types) get the extension of the file they name: './errors' -> './errors.js', './testing' (a folder) ->
 *   './testing/index.js'. A specifier that names no source file fails the build;
 * - a module that calls CommonJS `require()` (the lazy loading of optional Node-only packages, e.g.
 *   node-dtls-client) gets `const require = createRequire(import.meta.url)`. Only Node-only modules do that: a
 *   browser bundle of the core never sees it (the bundle spec would fail on `node:module`).
 * Then dist/esm/package.json says `"type": "module"`, so Node and TypeScript read the .js and .d.ts files there
 * as ES modules, and repeats the root's `"sideEffects"` for dist/esm (bundlers read the nearest package.json).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const configFile = path.join(root, 'tsconfig.esm.json');

function fail(diagnostics) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  process.exit(1);
}

const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail([d]) });
if (parsed.errors.length > 0) fail(parsed.errors);

/** The specifier with the extension of the source it names, or undefined when it is not relative. */
function withExtension(specifier, fromFile) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  if (/\.(m?js|json)$/.test(specifier)) return specifier;
  const base = path.resolve(path.dirname(fromFile), specifier);
  if (fs.existsSync(`${base}.ts`) || fs.existsSync(`${base}.d.ts`)) return `${specifier}.js`;
  if (fs.existsSync(path.join(base, 'index.ts'))) return `${specifier}/index.js`;
  throw new Error(`${path.relative(root, fromFile)}: import '${specifier}' names no source file`);
}

function rewriteSpecifiers(context) {
  const { factory } = context;
  return (sourceFile) => {
    const fromFile = sourceFile.fileName;
    const literal = (node) => {
      if (node === undefined || !ts.isStringLiteral(node)) return undefined;
      const rewritten = withExtension(node.text, fromFile);
      return rewritten === undefined || rewritten === node.text ? undefined : factory.createStringLiteral(rewritten);
    };
    const visit = (node) => {
      if (ts.isImportDeclaration(node)) {
        const specifier = literal(node.moduleSpecifier);
        if (specifier !== undefined) return factory.updateImportDeclaration(node, node.modifiers, node.importClause, specifier, node.attributes);
      } else if (ts.isExportDeclaration(node)) {
        const specifier = literal(node.moduleSpecifier);
        if (specifier !== undefined) return factory.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, specifier, node.attributes);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const specifier = literal(node.arguments[0]);
        if (specifier !== undefined) return factory.updateCallExpression(node, node.expression, node.typeArguments, [specifier, ...node.arguments.slice(1)]);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        const specifier = literal(node.argument.literal);
        if (specifier !== undefined) {
          return factory.updateImportTypeNode(
            ts.visitEachChild(node, visit, context),
            factory.updateLiteralTypeNode(node.argument, specifier),
            node.attributes,
            node.qualifier,
            node.typeArguments,
            node.isTypeOf,
          );
        }
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

/** True when the module calls a `require` it does not declare itself. */
function callsRequire(sourceFile) {
  let found = false;
  const visit = (node) => {
    if (found) return;
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') found = true;
    else ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

function requireShim(context) {
  const { factory } = context;
  return (sourceFile) => {
    if (sourceFile.isDeclarationFile || !callsRequire(sourceFile)) return sourceFile;
    const createRequire = factory.createUniqueName('createRequire');
    const shim = [
      factory.createImportDeclaration(
        undefined,
        factory.createImportClause(false, undefined, factory.createNamedImports([factory.createImportSpecifier(false, factory.createIdentifier('createRequire'), createRequire)])),
        factory.createStringLiteral('node:module'),
      ),
      factory.createVariableStatement(
        undefined,
        factory.createVariableDeclarationList(
          [
            factory.createVariableDeclaration(
              'require',
              undefined,
              undefined,
              factory.createCallExpression(createRequire, undefined, [
                factory.createPropertyAccessExpression(factory.createMetaProperty(ts.SyntaxKind.ImportKeyword, factory.createIdentifier('meta')), 'url'),
              ]),
            ),
          ],
          ts.NodeFlags.Const,
        ),
      ),
    ];
    return factory.updateSourceFile(sourceFile, [...shim, ...sourceFile.statements]);
  };
}

// Emitted beside dist/esm, then swapped in: no stale files from deleted sources, and dist/esm is missing only
// for the moment of the swap (other processes may be bundling it).
const outDir = parsed.options.outDir;
const staging = `${outDir}.staging-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, outDir: staging }, projectReferences: parsed.projectReferences });
const result = program.emit(undefined, undefined, undefined, false, {
  after: [rewriteSpecifiers, requireShim],
  afterDeclarations: [rewriteSpecifiers],
});
// Bundlers (esbuild, webpack) read "sideEffects" from the nearest package.json, which for these files is this one:
// it repeats the root's list for dist/esm, or every module here would count as having side effects.
const rootManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const prefix = `./${path.relative(root, outDir).split(path.sep).join('/')}/`;
const sideEffects = Array.isArray(rootManifest.sideEffects)
  ? rootManifest.sideEffects.filter((file) => file.startsWith(prefix)).map((file) => `./${file.slice(prefix.length)}`)
  : rootManifest.sideEffects;
fs.writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify({ type: 'module', sideEffects }, null, 2)}\n`);
fs.rmSync(outDir, { recursive: true, force: true });
fs.renameSync(staging, outDir);
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
if (diagnostics.length > 0) fail(diagnostics);
