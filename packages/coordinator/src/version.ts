import { readFileSync } from 'node:fs';

/** The version in @threadfit/coordinator's package.json (what the report and --version print). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
