/**
 * Options of `threadfit bench` and `threadfit scale`: types, defaults and keys from the schema
 * (options/schema.ts), plus each command's shapes and cross-option rules. Validated before any
 * process or thread starts; the CLI maps its flags onto these options (source 'flag' names the
 * flag in messages).
 */
import { availableParallelism } from 'node:os';
import { ErrorCodes, ThreadfitError, type BackendName } from '@threadfit/shared';
import { where, type OptionSource } from '../options/kinds.js';
import { MAX_BENCH_BATCH } from '../options/spec.js';
import type { ZooModelName } from '../zoo/models.js';
import { defaultsOn, labelOf, resolveOn, type OptionsOn, type ResolvedOn } from '../options/surfaces.js';

export type BenchOptions = OptionsOn<'bench'>;
export type ScaleOptions = OptionsOn<'scale'>;

/** What both commands measure per configuration. */
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
  /** Where threadfit rows read batches: the shared data set, or a dataset streamed through parallelFitDataset. */
  input: Array<'memory' | 'dataset'>;
  stepsPerExecution: number[];
  batchSize: number;
  /** Whether --batch-size was given (a zoo model otherwise uses its example's batch size). */
  batchSizeGiven: boolean;
  model: 'seed' | ZooModelName;
  samples?: number;
  json?: string;
};
export type ResolvedScaleOptions = ResolvedWork & Omit<ResolvedOn<'scale'>, keyof ResolvedWork>;

export const BENCH_DEFAULTS = defaultsOn('bench');
export const SCALE_DEFAULTS = defaultsOn('scale');

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

export function validateBenchOptions(input: BenchOptions = {}, source: OptionSource = 'options'): ResolvedBenchOptions {
  const { backend: backends, gradients, workers, input: inputs, ...o } = resolveOn('bench', input, source).options;
  if (o.model !== 'seed' && inputs !== 'memory') {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${where(labelOf('input', source))} ${inputs} is for the seed bench; --model ${o.model} runs model.fit and parallelFit on tensors`,
    );
  }
  if (o.model === 'seed' && o.samples !== undefined) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${where(labelOf('samples', source))} is for --model NAME (a tfjs-examples model); the seed bench uses the whole MNIST`,
    );
  }
  return {
    ...o,
    // A zoo model trains at its example's own batch size unless one is given.
    batchSizeGiven: input.batchSize !== undefined,
    backend: backends[0],
    backends,
    workers: workers ?? range(availableParallelism()),
    gradients: gradients === 'both' ? ['tape', 'auto'] : [gradients],
    input: inputs === 'both' ? ['memory', 'dataset'] : [inputs],
  };
}

export function validateScaleOptions(input: ScaleOptions = {}, source: OptionSource = 'options'): ResolvedScaleOptions {
  const o = resolveOn('scale', input, source).options;
  const workers = o.workers ?? range(2 * availableParallelism());
  if (!workers.includes(1)) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${where(labelOf('workers', source))} must include 1 (the baseline of speed-up and efficiency), got ${workers.join(',')}`,
    );
  }
  const maxW = workers[workers.length - 1];
  if (o.weakBatchSize * maxW > MAX_BENCH_BATCH) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `weak scaling at ${maxW} workers x ${o.weakBatchSize} is a global batch of ${o.weakBatchSize * maxW}, above ${MAX_BENCH_BATCH}`,
    );
  }
  return { ...o, workers };
}
