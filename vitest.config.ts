import { defineConfig } from 'vitest/config';

// Tests use real worker threads on a 2-core machine: files run one at a time so that two files'
// pools do not fight over the cores (and no test's wall time depends on another file).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.vitest-results.json' }]] : ['default'],
  },
});
