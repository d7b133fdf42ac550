/**
 * Flag parsing shared by every command: node's parseArgs (strict: unknown flags are errors; a
 * flag given twice keeps its last value), then each flag's text turned into the option value by
 * its kind (options/kinds.ts), so that `--batch-size abc` reaches the validator as "abc" and is
 * reported with the flag's name. The flag tables come from the schema (flagsOn).
 */
import { parseArgs } from 'node:util';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import type { FlagSpec } from '../options/surfaces.js';

export type { FlagSpec };

export class UsageError extends ThreadfitError {
  constructor(message: string) {
    super(ErrorCodes.INVALID_OPTION, message);
    this.name = 'UsageError';
  }
}

/** Parses argv against the flag specs into an options object keyed by option names. */
export function parseFlags(argv: string[], flags: FlagSpec[]): { options: Record<string, unknown>; help: boolean; positionals: string[] } {
  const config = Object.fromEntries([
    ...flags.map((f) => [f.name, { type: f.type, ...(f.short ? { short: f.short } : {}) }]),
    ['help', { type: 'boolean', short: 'h' }],
  ]);
  // `--epochs -1` would be refused by parseArgs as ambiguous; join a negative number to its flag
  // so that the validator can name the flag and the value.
  const stringFlags = new Set(flags.filter((f) => f.type === 'string').flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (stringFlags.has(argv[i]) && i + 1 < argv.length && /^-\d|^-\.\d/.test(argv[i + 1])) {
      args.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else args.push(argv[i]);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: config as never, strict: true, allowPositionals: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const msg = e.message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg);
  }
  const options: Record<string, unknown> = {};
  for (const f of flags) {
    const v = (parsed.values as Record<string, unknown>)[f.name];
    if (v === undefined) continue;
    options[f.key] = f.fromText !== undefined && typeof v === 'string' ? f.fromText(v, { name: `--${f.name}`, source: 'flag' }) : v;
  }
  return { options, help: (parsed.values as Record<string, unknown>).help === true, positionals: parsed.positionals };
}

/** `args` names the positional arguments, e.g. 'REPORT.json'. */
export function usage(command: string, summary: string, flags: FlagSpec[], args?: string): string {
  const rows = flags.map((f) => {
    const left = `  ${f.short ? `-${f.short}, ` : ''}--${f.name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    const def = f.default !== undefined ? ` (default: ${f.default})` : '';
    return `${left.padEnd(28)} ${f.help}${def}`;
  });
  rows.push(`${'  -h, --help'.padEnd(28)} show this help`);
  return `Usage: threadfit ${command}${args ? ` ${args}` : ''} [options]\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n\nA flag given twice keeps its last value.\n`;
}
