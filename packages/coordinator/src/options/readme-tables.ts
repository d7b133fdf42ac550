/**
 * README's option and flag tables, rendered from the schema: `node scripts/options-tables.mjs`
 * rewrites each block between `<!-- options:NAME -->` and `<!-- /options:NAME -->`, and a test
 * checks that README holds what the schema says.
 */
import { flagsOn, optionsOn, type FlagSpec } from './surfaces.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
const withNote = (doc: string, note: string | undefined): string => (note === undefined ? doc : `${doc}. ${note}`);

function flagTable(flags: FlagSpec[]): string {
  const rows = flags.map((f) => {
    const flag = `\`${f.short !== undefined ? `-${f.short}, ` : ''}--${f.name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}\``;
    return row([cell(flag), cell(f.default ?? (f.type === 'boolean' ? 'off' : 'none')), cell(withNote(f.help, f.note))]);
  });
  return [row(['flag', 'default', 'meaning']), row(['---', '---', '---']), ...rows].join('\n');
}

const literal = (v: unknown): string => (typeof v === 'string' ? `\`'${v}'\`` : Array.isArray(v) ? `\`[${v.join(', ')}]\`` : `\`${String(v)}\``);

function optionTable(surface: 'fit'): string {
  const rows = optionsOn(surface).map(({ key, entry, spec }) => {
    const def = spec.defaultDoc ?? (spec.default === undefined ? 'none' : literal(spec.default));
    return row([`\`${key}\``, cell(def), cell(withNote(spec.doc ?? entry.doc, spec.note))]);
  });
  return [row(['option', 'default', 'meaning']), row(['---', '---', '---']), ...rows].join('\n');
}

export const README_TABLES: Record<string, () => string> = {
  'train-flags': () => flagTable(flagsOn('train').filter((f) => f.group === undefined)),
  'host-flags': () => flagTable(flagsOn('train').filter((f) => f.group === 'hosts')),
  'fit-options': () => optionTable('fit'),
  'evaluate-flags': () => flagTable(flagsOn('evaluate')),
  'bench-flags': () => flagTable(flagsOn('bench')),
  'scale-flags': () => flagTable(flagsOn('scale')),
};

/** README with every marked table rendered anew; throws when a table's markers are missing. */
export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(README_TABLES)) {
    const block = new RegExp(`(<!-- options:${name} -->\\n)[\\s\\S]*?(<!-- /options:${name} -->)`);
    if (!block.test(out)) throw new Error(`README has no <!-- options:${name} --> ... <!-- /options:${name} --> block`);
    out = out.replace(block, (_, open: string, close: string) => `${open}${render()}\n${close}`);
  }
  return out;
}
