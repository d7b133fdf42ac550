#!/usr/bin/env node
// README's option and flag tables from the one schema (packages/coordinator/src/options/schema.ts,
// built): run after changing an option; `--check` only says whether README is up to date (exit 1
// when not), as packages/coordinator/test/options.test.ts does.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadme } from '../packages/coordinator/dist/options/readme-tables.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const rendered = renderReadme(readme);
if (process.argv.includes('--check')) {
  if (rendered !== readme) {
    process.stderr.write('README.md: the option tables differ from the schema; run node scripts/options-tables.mjs\n');
    process.exit(1);
  }
} else if (rendered !== readme) {
  writeFileSync(file, rendered);
  process.stdout.write('README.md: option tables rewritten from the schema\n');
} else process.stdout.write('README.md: option tables already match the schema\n');
