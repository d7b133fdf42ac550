/**
 * Options of `threadfit bench` and `threadfit scale`: one all-optional type each, frozen defaults,
 * one validator per command that runs before any process or thread starts and rejects unknown keys.
 * The CLI maps its flags onto these options (source 'flag' names the flag in messages).
 */
import { availableParallelism } from 'node:os';
import { BackendNames, ErrorCodes, ThreadfitError, invalidOption, type BackendName } from '@threadfit/shared';
import {
  DEFAULT_STEPS_PER_EXECUTION,
  MAX_STEPS_PER_EXECUTION,
  checkEnum,
  checkInt,
  checkKnownKeys,
  maxWorkers,
  type OptionSource,
} from '../options/train-options.js';

/** What both commands measure per configuration. */
export interface WorkOptions {
  /** tfjs backend: 'wasm' (default), 'cpu', or 'tensorflow' when @tensorflow/tfjs-node is installed. */
  backend?: BackendName;
  /** Steps run and thrown away before timing starts. */
  warmup?: number;
  /** Timed steps per repeat (full batches only). */
  steps?: number;
  /** Time this many whole epochs per repeat instead of `steps` (the last partial batch kept). */
  epochs?: number;
  /** Timed repeats per configuration; the report gives their median. Default 3. */
  repeats?: number;
  /** Worker counts to run, e.g. "1,2,4" on the CLI. Default: 1..cores (bench), 1..2x cores (scale). */
  workers?: number[] | string;
  /** Seeds weight init and the batch order. Default 42. */
  seed?: number;
  /** MNIST-shaped IDX files; default the bundled MNIST. */
  dataDir?: string;
}

export interface BenchOptions extends Omit<WorkOptions, 'backend'> {
  /** tfjs backend(s): one name, or a list ("wasm,tensorflow" on the CLI) measured in the same run. Default 'wasm'. */
  backend?: BackendName | BackendName[] | string;
  /** threadfit's gradients ('auto': the dense fast path; 'tape'; 'both': a row of each). Default 'auto'. */
  gradients?: 'auto' | 'tape' | 'both';
  /** threadfit's steps per execution: one value or a list ("1,32" on the CLI), a row each. Default 32. */
  stepsPerExecution?: number | number[] | string;
  /** GLOBAL batch size. Default 128. */
  batchSize?: number;
  /** Write the JSON results here. */
  json?: string;
}

export interface ScaleOptions extends WorkOptions {
  /** threadfit's gradients: 'auto' (the dense fast path) or 'tape'. Default 'auto'. */
  gradients?: 'auto' | 'tape';
  /** Steps the workers run per execution (1: a round trip per step). Default 32. */
  stepsPerExecution?: number;
  /** Global batch sizes of the strong-scaling series, e.g. "128,1024". Default [128, 1024]. */
  strongBatchSizes?: number[] | string;
  /** Per-worker batch of the weak-scaling series. Default 64. */
  weakBatchSize?: number;
  /** Directory for scale.csv, scale.json and the SVG charts. Default ./threadfit-scale. */
  out?: string;
}

export interface ResolvedWork {
  backend: BackendName;
  warmup: number;
  steps: number;
  epochs?: number;
  repeats: number;
  workers: number[];
  seed: number;
  dataDir?: string;
}

export type GradientsMode = 'auto' | 'tape';
export type ResolvedBenchOptions = ResolvedWork & {
  backends: BackendName[];
  gradients: GradientsMode[];
  stepsPerExecution: number[];
  batchSize: number;
  json?: string;
};
export type ResolvedScaleOptions = ResolvedWork & {
  gradients: GradientsMode;
  stepsPerExecution: number;
  strongBatchSizes: number[];
  weakBatchSize: number;
  out: string;
};

export const BENCH_DEFAULTS = Object.freeze({
  backend: 'wasm' as const,
  gradients: 'auto' as const,
  stepsPerExecution: DEFAULT_STEPS_PER_EXECUTION,
  warmup: 10,
  steps: 100,
  repeats: 3,
  seed: 42,
  batchSize: 128,
});
export const SCALE_DEFAULTS = Object.freeze({
  backend: 'wasm' as const,
  gradients: 'auto' as const,
  stepsPerExecution: DEFAULT_STEPS_PER_EXECUTION,
  warmup: 5,
  steps: 50,
  repeats: 3,
  seed: 42,
  strongBatchSizes: Object.freeze([128, 1024]),
  weakBatchSize: 64,
  out: './threadfit-scale',
});

const WORK_KEYS = ['backend', 'warmup', 'steps', 'epochs', 'repeats', 'workers', 'seed', 'dataDir'] as const;
const MAX_BATCH = 1 << 16;

/** "1,2,4" or [1, 2, 4] -> [1, 2, 4]: sorted, unique, each a worker count. */
function intList(name: string, v: unknown, min: number, max: number, source: OptionSource): number[] {
  const flag = source === 'flag' ? `--${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}` : name;
  const items = typeof v === 'string' ? v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s.trim()))) : v;
  if (!Array.isArray(items) || items.length === 0 || !items.every((x) => Number.isInteger(x) && x >= min && x <= max)) {
    throw invalidOption(flag, v, `a comma-separated list of integers in ${min}..${max}`, source === 'flag' ? 'flag' : 'options');
  }
  return [...new Set(items as number[])].sort((a, b) => a - b);
}

function path(name: string, v: unknown, source: OptionSource): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) {
    throw invalidOption(
      source === 'flag' ? `--${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}` : name,
      v,
      'a non-empty path',
      source === 'flag' ? 'flag' : 'options',
    );
  }
  return v;
}

function resolveWork(o: WorkOptions, defaultWorkers: number[], source: OptionSource): ResolvedWork {
  return {
    backend: checkEnum('backend', o.backend, BackendNames, source),
    warmup: checkInt('warmup', o.warmup, 0, 1_000_000, source),
    steps: checkInt('steps', o.steps, 1, 1_000_000, source),
    epochs: o.epochs === undefined ? undefined : checkInt('epochs', o.epochs, 1, 1000, source),
    repeats: checkInt('repeats', o.repeats, 1, 1000, source),
    workers: o.workers === undefined ? defaultWorkers : intList('workers', o.workers, 1, maxWorkers(), source),
    seed: checkInt('seed', o.seed, 0, 2 ** 32 - 1, source),
    dataDir: path('dataDir', o.dataDir, source),
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

export function validateBenchOptions(input: BenchOptions = {}, source: OptionSource = 'options'): ResolvedBenchOptions {
  checkKnownKeys(input, [...WORK_KEYS, 'gradients', 'stepsPerExecution', 'batchSize', 'json']);
  const o = { ...BENCH_DEFAULTS, ...input };
  const list = typeof o.backend === 'string' ? o.backend.split(',').map((b) => b.trim()) : Array.isArray(o.backend) ? o.backend : [o.backend];
  const backends = [...new Set(list.map((b) => checkEnum('backend', b, BackendNames, source)))];
  const gradients = checkEnum('gradients', o.gradients, ['auto', 'tape', 'both'] as const, source);
  return {
    ...resolveWork({ ...o, backend: backends[0] }, range(availableParallelism()), source),
    backends,
    gradients: gradients === 'both' ? ['tape', 'auto'] : [gradients],
    stepsPerExecution: intList(
      'stepsPerExecution',
      typeof o.stepsPerExecution === 'number' ? [o.stepsPerExecution] : o.stepsPerExecution,
      1,
      MAX_STEPS_PER_EXECUTION,
      source,
    ),
    batchSize: checkInt('batchSize', o.batchSize, 1, MAX_BATCH, source),
    json: path('json', o.json, source),
  };
}

export function validateScaleOptions(input: ScaleOptions = {}, source: OptionSource = 'options'): ResolvedScaleOptions {
  checkKnownKeys(input, [...WORK_KEYS, 'gradients', 'stepsPerExecution', 'strongBatchSizes', 'weakBatchSize', 'out']);
  const o = { ...SCALE_DEFAULTS, ...input };
  const work = resolveWork(o, range(2 * availableParallelism()), source);
  if (!work.workers.includes(1)) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${source === 'flag' ? 'flag --workers' : 'options.workers'} must include 1 (the baseline of speed-up and efficiency), got ${work.workers.join(',')}`,
    );
  }
  const weakBatchSize = checkInt('weakBatchSize', o.weakBatchSize, 1, MAX_BATCH, source);
  const maxW = work.workers[work.workers.length - 1];
  if (weakBatchSize * maxW > MAX_BATCH) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `weak scaling at ${maxW} workers x ${weakBatchSize} is a global batch of ${weakBatchSize * maxW}, above ${MAX_BATCH}`,
    );
  }
  return {
    ...work,
    gradients: checkEnum('gradients', o.gradients, ['auto', 'tape'] as const, source),
    stepsPerExecution: checkInt('stepsPerExecution', o.stepsPerExecution, 1, MAX_STEPS_PER_EXECUTION, source),
    strongBatchSizes: intList('strongBatchSizes', o.strongBatchSizes, 1, MAX_BATCH, source),
    weakBatchSize,
    out: path('out', o.out, source)!,
  };
}
