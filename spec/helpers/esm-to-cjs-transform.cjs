// Jest transformer for ESM-only dependencies (node-dtls-client 2.x), used from jest.config.ts.
// jest runs CommonJS; Node's require(esm) is not available inside jest's module registry (before Node 24.9),
// so such packages are compiled to CommonJS with TypeScript's transpileModule. `import.meta.url` has no
// CommonJS form that ts keeps (it emits it unchanged, a SyntaxError in CJS), so it is replaced with the file
// URL first. The ESM idiom `const require = createRequire(import.meta.url)` is dropped: CommonJS has `require`
// already, and redeclaring it is a SyntaxError (node-dtls-client's lib/AEADCrypto.js does this).
'use strict';
const ts = require('typescript');

module.exports = {
  process(source, filename) {
    const withoutImportMeta = source
      .replace(/^const require = createRequire\(import\.meta\.url\);?$/m, '')
      .replace(/\bimport\.meta\.url\b/g, "require('node:url').pathToFileURL(__filename).href");
    const { outputText } = ts.transpileModule(withoutImportMeta, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, allowJs: true, sourceMap: false },
    });
    return { code: outputText };
  },
};
