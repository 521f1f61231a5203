import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      '**/*.js',
      '!connectors/*/widget/**/*.js',
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
  {
    // CRM widgets run in the CRM's pages, loaded by its AMD loader, in ES5.
    files: ['connectors/*/widget/**/*.js'],
    languageOptions: {
      ecmaVersion: 5,
      sourceType: 'script',
      globals: { ...globals.browser, define: 'readonly', APP: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': 'off',
      '@typescript-eslint/no-this-alias': 'off',
      'no-unused-vars': ['error', { caughtErrors: 'none' }],
    },
  },
);
