/**
 * The shape of a schema entry (schema.ts): per surface, a kind and what the surface says about the
 * option besides it (default, doc line, `--help` placeholder, ...). `on(kind, extra)` keeps the
 * literal types of the default, which the defaults objects' types are made of.
 */
import type { Kind } from './kinds.js';

export type Surface = 'train' | 'fit' | 'bench' | 'scale' | 'evaluate' | 'plot';
export const SURFACES: readonly Surface[] = ['train', 'fit', 'bench', 'scale', 'evaluate', 'plot'];

/** What a surface says about an option besides its kind. */
export interface SpecExtra<In> {
  default?: In;
  /** This surface's doc line, when not the entry's. */
  doc?: string;
  /** The default as `--help` and README say it, when not String(default) ('auto = all cores'). */
  defaultDoc?: string;
  /** The `--help` placeholder, when not the entry's. */
  value?: string;
  /** Refused when missing. */
  required?: true;
  /** A flag of the CLI only, not an option of the library's options object (`--plot`). */
  cliOnly?: true;
  /** The option's former name on this surface, still accepted (with a warning). */
  deprecated?: string;
  /** A one-letter flag (`-o FILE`). */
  short?: string;
  /** README only: more than the doc line. */
  note?: string;
}

export type Spec<In = unknown, Out = unknown> = { kind: Kind<In, Out> } & SpecExtra<In>;

/** A surface's spec of an option: `on(int(1, 10), { default: 3 })`. */
export function on<In, Out, const X extends SpecExtra<In> = object>(kind: Kind<In, Out>, extra?: X): { kind: Kind<In, Out> } & X {
  return { kind, ...(extra as X) };
}

export interface OptionEntry extends Partial<Record<Surface, Spec>> {
  doc: string;
  flag?: string;
  value?: string;
  group?: 'hosts';
}

/** Steps the workers run on their own per execution: the default, and the most accepted (each
 * execution's step and rank counts must fit layout.ts's barrier counters). */
export const DEFAULT_STEPS_PER_EXECUTION = 32;
export const MAX_STEPS_PER_EXECUTION = 1024;
/** The largest global batch bench and scale measure. */
export const MAX_BENCH_BATCH = 1 << 16;
