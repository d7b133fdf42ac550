/** parallelFit's options: model.fit's names and defaults, plus the thread-specific ones; validated before any thread starts. */
import { isAbsolute, resolve } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { BackendNames, ErrorCodes, ThreadfitError, invalidOption, type BackendName } from '@threadfit/shared';
import {
  MAX_STEPS_PER_EXECUTION,
  checkEnum,
  checkInt,
  checkKnownKeys,
  checkNumber,
  checkSlotCount,
  resolveWorkers,
  type ReliabilityOptions,
} from './train-options.js';
import type { TensorInput } from '../fit/tensor-dataset.js';
import { parseLrDecay, type LrDecay } from '../fit/lr-schedule.js';
import { parseFault, type FaultSpec } from '../engine/faults.js';

export type CallbackInput = tfTypes.CustomCallbackArgs | tfTypes.CustomCallbackArgs[] | tfTypes.Callback | tfTypes.Callback[];

export interface ParallelFitOptions extends ReliabilityOptions {
  /** Worker threads. Default 'auto' (all cores). */
  workers?: number | 'auto';
  /** Default 1 (as model.fit). */
  epochs?: number;
  /** GLOBAL batch size, split across the workers. Default 32 (as model.fit). */
  batchSize?: number;
  /** [xVal, yVal] evaluated after every epoch. */
  validationData?: [TensorInput, TensorInput];
  /** Fraction of the LAST samples held out for validation (as model.fit), in [0, 1). */
  validationSplit?: number;
  /** Shuffle the training samples each epoch (seeded). Default true. */
  shuffle?: boolean;
  /** Seeds shuffling and dropout masks. Default 42, so that runs are reproducible. */
  seed?: number;
  callbacks?: CallbackInput;
  /** 1: the CLI's progress bar on stdout; 0: silent. Default 1. */
  verbose?: 0 | 1;
  /** Default 0. */
  initialEpoch?: number;
  /** tfjs backend in the workers. Default 'auto' (tensorflow when installed, else wasm). */
  backend?: BackendName | 'auto';
  /** Module every worker imports before building its replica, where custom classes register. */
  workerSetup?: string;
  /** Refuse NaN/Infinity in x and y before training. Default false. */
  checkNumerics?: boolean;
  /** TensorFlow intra/inter-op threads per worker (tensorflow backend). Default 1. */
  threadsPerWorker?: number;
  /**
   * 'auto' (default): a chain of Dense layers computes its gradients with the backward pass written
   * out (the dense fast path, docs/ARCHITECTURE.md), any other model on tfjs's tape. 'tape': always
   * the tape (slower; results then follow model.fit's op order exactly).
   */
  gradients?: 'auto' | 'tape';
  /**
   * The most steps the workers run on their own between two visits of the fit loop (Keras's
   * steps_per_execution; docs/ARCHITECTURE.md). Above 1, the batch callbacks of an execution's
   * steps are called once it returns, and `model.stopTraining` takes effect after it. 'auto'
   * (default): 32 when no callbacks are given, else 1 (every batch callback before the next
   * batch, as model.fit). The weights are the same bits either way.
   */
  stepsPerExecution?: number | 'auto';
  /** The same weights, bit for bit, for any worker count: `microBatches` fixed micro-batches per step. */
  deterministic?: boolean;
  /** Micro-batches per step in deterministic mode. Default 8. */
  microBatches?: number;
  /** Gradient accumulation: each optimizer step takes accumulate x batchSize samples. Default 1. */
  accumulate?: number;
  /** Linear learning-rate warm-up over this many epochs. Default 0. */
  lrWarmupEpochs?: number;
  /** 'linear': lr x (batchSize x accumulate) / lrBaseBatch. Default 'none'. */
  lrScale?: 'none' | 'linear';
  /** Default 128. */
  lrBaseBatch?: number;
  /** 'none', 'cosine[:MIN_LR]' or 'step:EVERY_EPOCHS:GAMMA'. Default 'none'. */
  lrDecay?: string;
  /** Elastic resize: called at every epoch end, returns the worker count for the next epoch (1..workers). */
  workersForEpoch?: (epoch: number) => number | undefined;
  /** Fixed step-phase timeout in ms. Default adaptive: max(30 s, 50 x median step). */
  stepTimeoutMs?: number;
  /** Testing aid: `crash|exit|hang|nan@step=S,rank=R[,times=T]`. */
  injectFault?: string;
}

const KEYS = [
  'workers',
  'epochs',
  'batchSize',
  'validationData',
  'validationSplit',
  'shuffle',
  'seed',
  'callbacks',
  'verbose',
  'initialEpoch',
  'backend',
  'workerSetup',
  'checkNumerics',
  'threadsPerWorker',
  'gradients',
  'stepsPerExecution',
  'deterministic',
  'microBatches',
  'accumulate',
  'lrWarmupEpochs',
  'lrScale',
  'lrBaseBatch',
  'lrDecay',
  'workersForEpoch',
  'checkpointDir',
  'checkpointEvery',
  'keepCheckpoints',
  'resume',
  'maxRestarts',
  'maxSkippedSteps',
  'stepTimeoutMs',
  'injectFault',
] as const;

export const FIT_DEFAULTS = Object.freeze({
  epochs: 1,
  batchSize: 32,
  shuffle: true,
  seed: 42,
  verbose: 1 as 0 | 1,
  initialEpoch: 0,
  backend: 'auto' as const,
  checkNumerics: false,
  threadsPerWorker: 1,
  gradients: 'auto' as const,
  stepsPerExecution: 'auto' as const,
  deterministic: false,
  microBatches: 8,
  accumulate: 1,
  lrWarmupEpochs: 0,
  lrScale: 'none' as const,
  lrBaseBatch: 128,
  checkpointEvery: 'epoch' as const,
  keepCheckpoints: 2,
  resume: false,
  maxRestarts: 3,
  maxSkippedSteps: 5,
});

export interface ResolvedFitOptions extends Omit<
  Required<ParallelFitOptions>,
  | 'workers'
  | 'validationData'
  | 'validationSplit'
  | 'callbacks'
  | 'workerSetup'
  | 'lrDecay'
  | 'workersForEpoch'
  | 'checkpointDir'
  | 'stepTimeoutMs'
  | 'injectFault'
> {
  checkpointDir?: string;
  stepTimeoutMs?: number;
  injectFault?: FaultSpec;
  lrDecay: LrDecay;
  workersForEpoch?: (epoch: number) => number | undefined;
  workers: number;
  validationData?: [TensorInput, TensorInput];
  validationSplit: number;
  callbacks?: CallbackInput;
  workerSetup?: string;
}

const fnOrUndefined = <F>(name: string, v: F | undefined): F | undefined => {
  if (v !== undefined && typeof v !== 'function') throw invalidOption(name, v, 'a function');
  return v;
};

const nonEmpty = (name: string, v: unknown): string => {
  if (typeof v !== 'string' || v.length === 0) throw invalidOption(name, v, 'a non-empty path');
  return v;
};

const bool = (name: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw invalidOption(name, v, 'true or false');
  return v;
};

function stepsPerExecutionOf(v: unknown): number | 'auto' {
  if (v === 'auto') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_STEPS_PER_EXECUTION) return v;
  throw invalidOption('stepsPerExecution', v, `'auto' or an integer in 1..${MAX_STEPS_PER_EXECUTION}`);
}

export function validateFitOptions(input: ParallelFitOptions = {}): ResolvedFitOptions {
  if (typeof input !== 'object' || input === null) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `options must be an object, got ${String(input)}`);
  checkKnownKeys(input, KEYS);
  const o = { ...FIT_DEFAULTS, ...input };
  const epochs = checkInt('epochs', o.epochs, 1, 1_000_000);
  const initialEpoch = checkInt('initialEpoch', o.initialEpoch, 0, 1_000_000);
  if (initialEpoch >= epochs) throw invalidOption('initialEpoch', initialEpoch, `less than options.epochs (${epochs})`);
  const validationSplit = o.validationSplit === undefined ? 0 : checkNumber('validationSplit', o.validationSplit, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  if (o.validationData !== undefined && (!Array.isArray(o.validationData) || o.validationData.length !== 2)) {
    throw invalidOption('validationData', o.validationData, 'an array [xVal, yVal]');
  }
  if (o.validationData !== undefined && validationSplit > 0) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'options.validationData and options.validationSplit cannot both be given');
  }
  let workerSetup: string | undefined;
  if (o.workerSetup !== undefined) {
    if (typeof o.workerSetup !== 'string' || o.workerSetup.length === 0) throw invalidOption('workerSetup', o.workerSetup, 'a module path or URL');
    // A relative path means relative to the caller's working directory, not to the worker file.
    workerSetup = o.workerSetup.startsWith('.') && !isAbsolute(o.workerSetup) ? resolve(o.workerSetup) : o.workerSetup;
  }
  if (o.verbose !== 0 && o.verbose !== 1) throw invalidOption('verbose', o.verbose, '0 or 1');
  if (o.resume === true && o.checkpointDir === undefined)
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'options.resume needs options.checkpointDir: the directory to resume from');
  const r: ResolvedFitOptions = {
    workers: resolveWorkers(o.workers),
    epochs,
    batchSize: checkInt('batchSize', o.batchSize, 1, 1 << 20),
    validationData: o.validationData,
    validationSplit,
    shuffle: bool('shuffle', o.shuffle),
    seed: checkInt('seed', o.seed, 0, 2 ** 32 - 1),
    callbacks: o.callbacks,
    verbose: o.verbose,
    initialEpoch,
    backend: checkEnum('backend', o.backend, ['auto', ...BackendNames]),
    workerSetup,
    checkNumerics: bool('checkNumerics', o.checkNumerics),
    threadsPerWorker: checkInt('threadsPerWorker', o.threadsPerWorker, 1, 256),
    gradients: checkEnum('gradients', o.gradients, ['auto', 'tape'] as const),
    stepsPerExecution: stepsPerExecutionOf(o.stepsPerExecution),
    deterministic: bool('deterministic', o.deterministic),
    microBatches: checkInt('microBatches', o.microBatches, 1, 256),
    accumulate: checkInt('accumulate', o.accumulate, 1, 1024),
    lrWarmupEpochs: checkNumber('lrWarmupEpochs', o.lrWarmupEpochs, (x) => x >= 0, 'a number of epochs >= 0'),
    lrScale: checkEnum('lrScale', o.lrScale, ['none', 'linear'] as const),
    lrBaseBatch: checkInt('lrBaseBatch', o.lrBaseBatch, 1, 1 << 24),
    lrDecay: parseLrDecay(o.lrDecay, 'options.lrDecay'),
    workersForEpoch: fnOrUndefined('workersForEpoch', o.workersForEpoch),
    checkpointDir: o.checkpointDir === undefined ? undefined : nonEmpty('checkpointDir', o.checkpointDir),
    checkpointEvery: o.checkpointEvery === 'epoch' ? 'epoch' : checkInt('checkpointEvery', o.checkpointEvery, 1, Number.MAX_SAFE_INTEGER),
    keepCheckpoints: checkInt('keepCheckpoints', o.keepCheckpoints, 1, 1000),
    resume: bool('resume', o.resume),
    maxRestarts: checkInt('maxRestarts', o.maxRestarts, 0, 1_000_000),
    maxSkippedSteps: checkInt('maxSkippedSteps', o.maxSkippedSteps, 0, 1_000_000),
    stepTimeoutMs: o.stepTimeoutMs === undefined ? undefined : checkInt('stepTimeoutMs', o.stepTimeoutMs, 1, 86_400_000),
    injectFault: o.injectFault === undefined ? undefined : parseFault(o.injectFault, 'options.injectFault'),
  };
  checkSlotCount(r);
  return r;
}
