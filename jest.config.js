/** Unit specs sit beside the code; cross-module and HTTP tests live in test/. */
module.exports = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.scratch/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // content-disposition 3 (under @fastify/static) ships ES modules only; Node loads them, Jest needs CJS.
    '^.+/node_modules/content-disposition/.+\\.js$': [
      'ts-jest',
      {
        diagnostics: false,
        tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true },
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  testEnvironment: 'node',
  testTimeout: 30000,
  maxWorkers: 2,
};
