/**
 * What the schema gives each surface: its options type, resolved type and defaults (types derived
 * with mapped types, so an editor shows each key's JSDoc from schema.ts), its known keys, its flag
 * table, and the one per-option check (`resolveOn`) that every validator starts with.
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import type { Kind, Label, OptionSource } from './kinds.js';
import { OPTIONS, type OptionEntry, type Options, type Spec, type Surface } from './schema.js';

type SpecOf<K extends keyof Options, U extends Surface> = Options[K] extends { [P in U]: infer S } ? S : never;
type InOf<S> = S extends { kind: Kind<infer I, unknown> } ? I : never;
type OutOf<S> = S extends { kind: Kind<unknown, infer O> } ? O : never;
/** Keys of the surface's options object (its CLI-only flags left out). */
export type KeyOn<U extends Surface> = {
  [K in keyof Options]: [SpecOf<K, U>] extends [never] ? never : SpecOf<K, U> extends { cliOnly: true } ? never : K;
}[keyof Options];
type Settled<S> = S extends { default: unknown } ? true : S extends { required: true } ? true : false;

/** What a program passes: every key optional. */
export type OptionsOn<U extends Surface> = { -readonly [K in keyof Options as K extends KeyOn<U> ? K : never]?: InOf<SpecOf<K, U>> };
/** After validation: keys with a default (or required) are set. */
export type ResolvedOn<U extends Surface> = {
  -readonly [K in keyof Options as K extends KeyOn<U> ? (Settled<SpecOf<K, U>> extends true ? K : never) : never]: OutOf<SpecOf<K, U>>;
} & { -readonly [K in keyof Options as K extends KeyOn<U> ? (Settled<SpecOf<K, U>> extends true ? never : K) : never]?: OutOf<SpecOf<K, U>> };
export type DefaultsOn<U extends Surface> = {
  readonly [K in keyof Options as K extends KeyOn<U> ? (SpecOf<K, U> extends { default: unknown } ? K : never) : never]: SpecOf<K, U> extends {
    default: infer D;
  }
    ? D
    : never;
};

export interface SurfaceOption {
  key: string;
  entry: OptionEntry;
  spec: Spec;
}

/** The surface's options in schema order, its CLI-only flags included. */
export function optionsOn(surface: Surface): SurfaceOption[] {
  return Object.entries(OPTIONS as Record<string, OptionEntry>).flatMap(([key, entry]) => {
    const spec = entry[surface];
    return spec === undefined ? [] : [{ key, entry, spec }];
  });
}

export function keysOn<U extends Surface>(surface: U): KeyOn<U>[] {
  return optionsOn(surface)
    .filter((o) => o.spec.cliOnly !== true)
    .map((o) => o.key as KeyOn<U>);
}

export function defaultsOn<U extends Surface>(surface: U): DefaultsOn<U> {
  const d = optionsOn(surface).filter((o) => o.spec.default !== undefined && o.spec.cliOnly !== true);
  return Object.freeze(
    Object.fromEntries(d.map((o) => [o.key, Array.isArray(o.spec.default) ? Object.freeze([...o.spec.default]) : o.spec.default])),
  ) as DefaultsOn<U>;
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
export const flagName = (key: string): string => (OPTIONS as Record<string, OptionEntry>)[key]?.flag ?? kebab(key);

/** How messages name an option: `epochs` (options.epochs) or `--epochs` (flag --epochs). */
export const labelOf = (key: string, source: OptionSource): Label => ({ name: source === 'flag' ? `--${flagName(key)}` : key, source });

/** A flag of a command, derived from the schema (cli/args.ts parses them). */
export interface FlagSpec {
  name: string;
  /** The option key it sets. */
  key: string;
  type: 'string' | 'boolean';
  short?: string;
  value?: string;
  /** The default as `--help` says it. */
  default?: string;
  help: string;
  group?: 'hosts';
  /** README only: more than the help line. */
  note?: string;
  /** The flag's text to what a program would pass. */
  fromText?(text: string, l: Label): unknown;
}

const shown = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));

export function flagsOn(surface: Surface): FlagSpec[] {
  return optionsOn(surface).map(({ key, entry, spec }) => ({
    name: flagName(key),
    key,
    type: spec.kind.flag,
    ...(spec.short !== undefined && { short: spec.short }),
    value: spec.value ?? entry.value ?? 'VALUE',
    default: spec.defaultDoc ?? (spec.default === undefined || spec.kind.flag === 'boolean' ? undefined : shown(spec.default)),
    help: spec.doc ?? entry.doc,
    ...(entry.group !== undefined && { group: entry.group }),
    ...(spec.note !== undefined && { note: spec.note }),
    ...(spec.kind.fromText !== undefined && { fromText: spec.kind.fromText }),
  }));
}

const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);
const warned = new Set<string>();

/**
 * The checks of one surface: an object, no unknown keys (a former name is mapped to its option,
 * with a DeprecationWarning once), defaults merged, every option checked by its kind. `given` is
 * what the caller passed (after the mapping), for the rules that ask whether an option was given.
 */
export function resolveOn<U extends Surface>(
  surface: U,
  input: unknown,
  source: OptionSource = 'options',
): { options: ResolvedOn<U>; given: Partial<Record<KeyOn<U>, unknown>> } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid(`options must be an object, got ${String(input)}`);
  const specs = optionsOn(surface).filter((o) => o.spec.cliOnly !== true);
  const given: Record<string, unknown> = { ...input };
  for (const { key, spec } of specs) {
    const old = spec.deprecated;
    if (old === undefined || !(old in given)) continue;
    if (given[key] !== undefined) throw invalid(`options.${old} and options.${key} are one option (${old} is its former name): give ${key} only`);
    given[key] = given[old];
    delete given[old];
    if (!warned.has(old)) {
      warned.add(old);
      process.emitWarning(`options.${old} is deprecated: use options.${key}`, {
        type: 'DeprecationWarning',
        code: `THREADFIT_DEP_${kebab(old).toUpperCase().replace(/-/g, '_')}`,
      });
    }
  }
  const known = specs.map((o) => o.key);
  for (const k of Object.keys(given)) {
    if (!known.includes(k)) throw invalid(`unknown option '${k}'; the known options are ${known.join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const { key, spec } of specs) {
    const v = given[key] === undefined ? spec.default : given[key];
    if (v === undefined && spec.required !== true) continue;
    out[key] = spec.kind.check(v, labelOf(key, source));
  }
  return { options: out as ResolvedOn<U>, given: given as Partial<Record<KeyOn<U>, unknown>> };
}
