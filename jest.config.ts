import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec', '<rootDir>/examples'],
  testMatch: ['**/*.spec.ts'],
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
