import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['connectors/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/*', '!**/src/connector-sdk', '!**/src/connector-sdk/*'],
              message: 'Connectors import only src/connector-sdk.',
            },
            {
              group: ['typeorm', 'bull', '@nestjs/*', 'ioredis'],
              message: 'Connectors import only src/connector-sdk.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'connectors/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/queue/**', 'connectors/**', 'bench/reference-server.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'bull', message: 'Only src/queue imports bull.' }] },
      ],
    },
  },
);
