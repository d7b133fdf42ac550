/**
 * The kinds of option value. A kind checks a value and gives its resolved form, says what a good
 * value looks like (the phrase of every message: `options.epochs must be an integer in 1..1000000,
 * got 0`), and turns a flag's text into what a program would pass, so that the CLI and the library
 * share one check. The schema (schema.ts) gives every option its kind, per surface.
 *
 * No schema library: every check's phrase is part of the contract (tests and users read it), so a
 * zod or valibot schema would still need one hand-written message per kind, and would add a
 * runtime dependency for a dozen one-line predicates.
 */
import { availableParallelism } from 'node:os';
import { invalidOption } from '@threadfit/shared';

/** Where a value came from, for messages: 'options' (library) or 'flag' (CLI). */
export type OptionSource = 'options' | 'flag';

/** An option as a message names it: `epochs` (-> options.epochs) or `--epochs` (-> flag --epochs). */
export interface Label {
  name: string;
  source: OptionSource;
}

/** The prefix of a message about `l`: 'options.epochs' or 'flag --epochs'. */
export const where = (l: Label): string => (l.source === 'flag' ? `flag ${l.name}` : `options.${l.name}`);

export const refuse = (l: Label, got: unknown, expected: string) => invalidOption(l.name, got, expected, l.source);

export interface Kind<In, Out = In> {
  /** What a good value looks like, as the messages say it. */
  expected(): string;
  /** Checks a value (a program's, or a flag's after fromText) and gives its resolved form. */
  check(v: unknown, l: Label): Out;
  /** On the CLI: a flag without a value (boolean) or with one. */
  readonly flag: 'boolean' | 'string';
  /** A flag's text to what a program would pass (a number for numeric kinds); default: the text. */
  fromText?(text: string, l: Label): unknown;
  /** Type only: what a program passes. */
  readonly _in?: In;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * An integer flag is plain decimal digits (a sign allowed for the message about it). "1e0", "+2",
 * "2.0" and " 2" are integers to Number() but not what anyone types on purpose: refused, naming
 * the text; "1.5" becomes 1.5 so the range message shows it; anything else stays text.
 */
function intFromText(text: string, l: Label, expected: string): unknown {
  if (/^-?\d+$/.test(text)) return Number(text);
  if (NUMBER.test(text.trim())) {
    const n = Number(text.trim());
    if (!Number.isInteger(n)) return n;
    throw refuse(l, text, `${expected} written in plain decimal digits`);
  }
  return text;
}

export function int(min: number, max: number | (() => number) = Number.MAX_SAFE_INTEGER): Kind<number> {
  const hi = () => (typeof max === 'function' ? max() : max);
  const expected = () => (hi() === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer in ${min}..${hi()}`);
  return {
    flag: 'string',
    expected,
    check(v, l) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > hi()) throw refuse(l, v, expected());
      return v;
    },
    fromText: (text, l) => intFromText(text, l, expected()),
  };
}

export function num(ok: (x: number) => boolean, expected: string): Kind<number> {
  return {
    flag: 'string',
    expected: () => expected,
    check(v, l) {
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw refuse(l, v, expected);
      return v;
    },
    fromText: (text) => (NUMBER.test(text) ? Number(text) : text),
  };
}

export function oneOf<const T extends string | number>(values: readonly T[], expected = `one of ${values.join(', ')}`): Kind<T> {
  return {
    flag: 'string',
    expected: () => expected,
    check(v, l) {
      if (!(values as readonly unknown[]).includes(v)) throw refuse(l, v, expected);
      return v as T;
    },
  };
}

export function bool(): Kind<boolean> {
  return {
    flag: 'boolean',
    expected: () => 'true or false',
    check(v, l) {
      if (typeof v !== 'boolean') throw refuse(l, v, 'true or false');
      return v;
    },
  };
}

/** A non-empty string (a path, a module, a name). */
export function path(expected = 'a non-empty path'): Kind<string> {
  return {
    flag: 'string',
    expected: () => expected,
    check(v, l) {
      if (typeof v !== 'string' || v.length === 0) throw refuse(l, v, expected);
      return v;
    },
  };
}

/** 'auto' (or another word) or a value of `kind`. */
export function orWord<const W extends string, In, Out>(word: W, kind: Kind<In, Out>): Kind<In | W, Out | W> {
  const expected = () => `'${word}' or ${kind.expected()}`;
  return {
    flag: 'string',
    expected,
    check(v, l) {
      if (v === word) return word;
      try {
        return kind.check(v, l);
      } catch {
        throw refuse(l, v, expected());
      }
    },
    fromText: (text, l) => (text === word ? text : (kind.fromText?.(text, l) ?? text)),
  };
}

/** Text parsed by a function that names `where` in its own message (fault specs, schedules). */
export function parsed<Out>(expected: string, parse: (v: unknown, where: string) => Out): Kind<string, Out> {
  return { flag: 'string', expected: () => expected, check: (v, l) => parse(v, where(l)) };
}

/** Passed on as text; checked where it is used, with that place's messages (the cluster flags). */
export function text(): Kind<string | number, string> {
  return {
    flag: 'string',
    expected: () => 'a string',
    check(v, l) {
      if (typeof v !== 'string' && typeof v !== 'number') throw refuse(l, v, 'a string');
      return String(v);
    },
  };
}

/** "1,2,4" or [1, 2, 4] (or one number) -> [1, 2, 4]: sorted, unique, each in min..max. */
export function intList(min: number, max: number | (() => number)): Kind<readonly number[] | string | number, number[]> {
  const hi = () => (typeof max === 'function' ? max() : max);
  const expected = () => `a comma-separated list of integers in ${min}..${hi()}`;
  return {
    flag: 'string',
    expected,
    check(v, l) {
      const items = typeof v === 'string' ? v.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN)) : typeof v === 'number' ? [v] : v;
      if (!Array.isArray(items) || items.length === 0 || !items.every((x) => Number.isInteger(x) && x >= min && x <= hi())) throw refuse(l, v, expected());
      return [...new Set(items as number[])].sort((a, b) => a - b);
    },
  };
}

/** One of `values`, or a comma-separated list of them ("wasm,tensorflow"); each item named when bad. */
export function oneOfList<const T extends string>(values: readonly T[]): Kind<T | readonly T[] | string, T[]> {
  const item = oneOf(values);
  return {
    flag: 'string',
    expected: () => `${item.expected()}, or a comma-separated list of them`,
    check(v, l) {
      const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : Array.isArray(v) ? (v as unknown[]) : [v];
      return [...new Set(list.map((x) => item.check(x, l)))];
    },
  };
}

export function fn<F extends (...args: never[]) => unknown>(): Kind<F> {
  return {
    flag: 'string',
    expected: () => 'a function',
    check(v, l) {
      if (typeof v !== 'function') throw refuse(l, v, 'a function');
      return v as F;
    },
  };
}

/** A kind of its own: `check` throws `refuse(l, v, expected)` or returns the resolved value. */
export function custom<In, Out = In>(expected: string, check: (v: unknown, l: Label, expected: string) => Out): Kind<In, Out> {
  return { flag: 'string', expected: () => expected, check: (v, l) => check(v, l, expected) };
}

/** More workers than this is a typo, not a plan (each holds a replica and a gradient slot). */
export const maxWorkers = (): number => Math.max(16, 4 * availableParallelism());

/** 'auto' (all cores) or a worker count. */
export function workerCount(): Kind<number | 'auto', number> {
  const count = int(1, maxWorkers);
  return {
    flag: 'string',
    expected: count.expected,
    check: (v, l) => (v === 'auto' ? availableParallelism() : count.check(v, l)),
    fromText: (t, l) => (t === 'auto' ? t : count.fromText!(t, l)),
  };
}

/** `threadfit train`'s workers: a count, 'auto', or elastic 'MIN:MAX'. */
export function elasticWorkers(): Kind<number | 'auto' | `${number}:${number}`, { workers: number; minWorkers: number }> {
  const count = workerCount();
  return {
    flag: 'string',
    expected: () => `'auto', ${count.expected()}, or MIN:MAX`,
    check(v, l) {
      const elastic = typeof v === 'string' ? /^(\d+):(\d+)$/.exec(v) : null;
      if (elastic === null) {
        const workers = count.check(v, l);
        return { workers, minWorkers: workers };
      }
      const workers = count.check(Number(elastic[2]), l);
      const minWorkers = Number(elastic[1]);
      if (minWorkers < 1 || minWorkers > workers) throw refuse(l, v, 'MIN:MAX with 1 <= MIN <= MAX');
      return { workers, minWorkers };
    },
    fromText: (t, l) => (/^\d+:\d+$/.test(t) ? t : count.fromText!(t, l)),
  };
}
