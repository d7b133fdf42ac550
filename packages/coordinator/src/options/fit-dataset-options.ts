/**
 * parallelFitDataset's options: model.fitDataset's (batchesPerEpoch, validationData as a dataset
 * or tensors, validationBatches) with parallelFit's thread, reliability and checkpoint options.
 * The options a dataset makes meaningless are refused, each with why.
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import type { DatasetLike } from '../fit/dataset-batches.js';
import { isDatasetLike } from '../fit/dataset-batches.js';
import type { TensorInput } from '../fit/tensor-dataset.js';
import { validateFitOptions, type ParallelFitOptions, type ResolvedFitOptions } from './fit-options.js';

/** Options of parallelFit that a dataset replaces. */
export const REFUSED_DATASET_OPTIONS = {
  batchSize: "the dataset's batch is the global batch: batch the dataset (dataset.batch(n))",
  shuffle: 'shuffle the dataset itself (dataset.shuffle(bufferSize, seed))',
  validationSplit: 'as model.fitDataset: give validationData (a dataset or [xVal, yVal])',
  accumulate: "the dataset's batch is the step's batch: batch the dataset larger",
} as const;

export type ParallelFitDatasetOptions = Omit<ParallelFitOptions, keyof typeof REFUSED_DATASET_OPTIONS | 'validationData'> & {
  /** Batches per epoch (as fitDataset): the iterator then runs on across epochs. Default: one pass over the dataset. */
  batchesPerEpoch?: number;
  /** Validation after every epoch: a dataset of {xs, ys} batches or [xVal, yVal] tensors. */
  validationData?: DatasetLike | [TensorInput, TensorInput];
  /** With a validation dataset: at most this many of its batches per validation. Default: all. */
  validationBatches?: number;
  /** The largest batch the dataset yields, when its first batch is not the largest. Default: the first batch's size. */
  maxBatchSize?: number;
};

export interface ResolvedFitDatasetOptions {
  fit: Omit<ResolvedFitOptions, 'validationData'>;
  batchesPerEpoch?: number;
  validationData?: DatasetLike | [TensorInput, TensorInput];
  validationBatches?: number;
  maxBatchSize?: number;
}

const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);

function positiveInt(v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid(`options.${key} must be a positive integer, got ${String(v)}`);
  return v;
}

export function validateFitDatasetOptions(input: ParallelFitDatasetOptions = {}): ResolvedFitDatasetOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid(`options must be an object, got ${String(input)}`);
  const given = input as Record<string, unknown>;
  for (const [key, why] of Object.entries(REFUSED_DATASET_OPTIONS)) {
    if (given[key] !== undefined) throw invalid(`options.${key} does not apply to parallelFitDataset: ${why}`);
  }
  const { batchesPerEpoch, validationData, validationBatches, maxBatchSize, ...rest } = input;
  const val = validationData as unknown;
  if (val !== undefined && !isDatasetLike(val) && !(Array.isArray(val) && val.length === 2)) {
    throw invalid('options.validationData must be a tf.data.Dataset of {xs, ys} batches or an array [xVal, yVal]');
  }
  if (validationBatches !== undefined && !isDatasetLike(val)) throw invalid('options.validationBatches needs options.validationData to be a dataset');
  const fit = validateFitOptions(rest as ParallelFitOptions);
  const scheduled = fit.lrScale !== 'none' || fit.lrWarmupEpochs > 0 || fit.lrDecay.kind !== 'none';
  const bpe = positiveInt(batchesPerEpoch, 'batchesPerEpoch');
  if (scheduled && bpe === undefined) {
    throw invalid(
      'a learning-rate schedule (lrScale, lrWarmupEpochs, lrDecay) needs options.batchesPerEpoch with a dataset: the length of an epoch is not known ahead',
    );
  }
  return {
    fit,
    batchesPerEpoch: bpe,
    validationData: val as ResolvedFitDatasetOptions['validationData'],
    validationBatches: positiveInt(validationBatches, 'validationBatches'),
    maxBatchSize: positiveInt(maxBatchSize, 'maxBatchSize'),
  };
}
