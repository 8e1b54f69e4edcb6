import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec', '<rootDir>/examples'],
  testMatch: ['**/*.spec.ts'],
  // User-style specs (examples/*.spec.ts) import the package by name, as an application does; here the names
  // are the sources, as `paths` in tsconfig.json says for type checking. `rxcoap/testing` is the Node entry, the
  // one Node resolves through `exports` (browsers get testing-browser).
  moduleNameMapper: {
    '^rxcoap$': '<rootDir>/src/index.ts',
    '^rxcoap/(node|testing|operators|cbor)$': '<rootDir>/src/$1.ts',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // node-dtls-client 2.x ships ES modules only; jest runs CommonJS, so its .js files are compiled to CJS too.
    // ts-jest alone cannot: the package uses `import.meta.url`, which TypeScript leaves as is in CJS output.
    '^.+/node_modules/node-dtls-client/.+\\.js$': '<rootDir>/spec/helpers/esm-to-cjs-transform.cjs',
  },
  transformIgnorePatterns: ['/node_modules/(?!node-dtls-client/)'],
  testTimeout: 30000,
};

export default config;
