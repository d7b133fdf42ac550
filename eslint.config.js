// ESLint 9 flat config: eslint's and typescript-eslint's recommended rules over the TypeScript
// sources, tests, scripts and examples, plus the type-aware promise rules on the packages' sources
// (threads and pools are all promises: a promise left floating is a lost error). Formatting is
// Prettier's job (.prettierrc.json).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      '**/dist/',
      '**/build/',
      '**/node_modules/',
      'docs/api/',
      'coverage/',
      'threadfit-scale/',
      '.cache/',
      '**/*.tmp.mjs',
      // AssemblyScript: TypeScript syntax with its own types (f32, v128) and builtins, compiled by asc.
      'packages/shared/assembly/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      // A leading underscore marks a deliberately unused name (a callback's unused parameter, a key
      // dropped by destructuring), as in the rest of the codebase.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // Worker threads load @threadfit/shared's core only: its index also loads pino, ~15 ms of every
    // worker's start-up for a logger workers never use (docs/PERFORMANCE.md, "Session 10").
    files: ['packages/worker/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: '@threadfit/shared', message: "Import '@threadfit/shared/core' in worker code (the index also loads pino)." }] },
      ],
    },
  },
);
