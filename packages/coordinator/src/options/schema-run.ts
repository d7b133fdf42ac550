/**
 * The schema's options of a run, its data and its outputs (see schema.ts for what an entry says).
 * The JSDoc of each entry is what an editor shows on TrainOptions' and ParallelFitOptions' keys.
 */
import { isAbsolute, resolve } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { BackendNames } from '@threadfit/shared';
import type { TensorInput } from '../fit/tensor-dataset.js';
import { bool, custom, elasticWorkers, int, intList, maxWorkers, num, oneOf, oneOfList, path, refuse, workerCount } from './kinds.js';
import { MAX_BENCH_BATCH, on, type OptionEntry } from './spec.js';

const backend = () => oneOf(['auto', ...BackendNames] as const);

export type CallbackInput = tfTypes.CustomCallbackArgs | tfTypes.CustomCallbackArgs[] | tfTypes.Callback | tfTypes.Callback[];

export const RUN_OPTIONS = {
  /** Worker threads (data-parallel replicas). Default 'auto': all cores. `threadfit train` also takes
   * elastic 'MIN:MAX': it shrinks when a worker keeps failing and grows back. */
  workers: {
    doc: 'worker threads',
    value: 'N|auto',
    train: on(elasticWorkers(), {
      default: 'auto',
      defaultDoc: 'auto = all cores',
      value: 'N|MIN:MAX|auto',
      doc: 'worker threads (replicas); MIN:MAX is elastic: shrinks when a worker keeps failing, grows back',
    }),
    fit: on(workerCount(), { default: 'auto', defaultDoc: 'auto = all cores' }),
    evaluate: on(workerCount(), { default: 'auto', defaultDoc: 'auto = all cores' }),
    bench: on(intList(1, maxWorkers), { value: 'LIST', defaultDoc: '1..number of cores', doc: 'threadfit worker counts to run, e.g. 1,2,4' }),
    scale: on(intList(1, maxWorkers), {
      value: 'LIST',
      defaultDoc: '1..2x number of cores; must include 1',
      doc: 'threadfit worker counts to run, e.g. 1,2,4',
    }),
  },
  /** Passes over the training set. Default 10 (`threadfit train`), 1 (parallelFit, as model.fit). */
  epochs: {
    doc: 'passes over the training set',
    value: 'N',
    train: on(int(1, 1_000_000), { default: 10 }),
    fit: on(int(1, 1_000_000), { default: 1, doc: 'passes over the training set (as model.fit)' }),
    bench: on(int(1, 1000), { doc: 'time N whole epochs per repeat instead of --steps' }),
    scale: on(int(1, 1000), { doc: 'time N whole epochs per repeat instead of --steps' }),
  },
  /** The epoch to start at (as model.fit). Default 0. */
  initialEpoch: { doc: 'the epoch to start at (as model.fit)', fit: on(int(0, 1_000_000), { default: 0 }) },
  /** GLOBAL batch size, split across the workers (as in Keras). Default 128 (`threadfit train`), 32 (parallelFit, as model.fit). */
  batchSize: {
    doc: 'GLOBAL batch size, split across the workers',
    value: 'N',
    train: on(int(1, 1 << 20), { default: 128 }),
    fit: on(int(1, 1 << 20), { default: 32 }),
    bench: on(int(1, MAX_BENCH_BATCH), { default: 128, doc: 'GLOBAL batch size' }),
  },
  /** Adam learning rate of the seed MLP. Default 0.001. */
  learningRate: {
    doc: 'Adam learning rate',
    flag: 'lr',
    value: 'X',
    train: on(
      num((x) => x > 0, 'a positive number'),
      { default: 0.001 },
    ),
  },
  /** Seeds weight init, the per-epoch shuffles and the dropout masks. Default 42, so that runs are reproducible. */
  seed: {
    doc: 'seed of weight init, shuffling and dropout',
    value: 'N',
    train: on(int(0, 2 ** 32 - 1), { default: 42 }),
    fit: on(int(0, 2 ** 32 - 1), { default: 42 }),
    bench: on(int(0, 2 ** 32 - 1), { default: 42, doc: 'seed of weight init and batch order' }),
    scale: on(int(0, 2 ** 32 - 1), { default: 42, doc: 'seed of weight init and batch order' }),
  },
  /** tfjs backend in the workers. Default 'auto': tensorflow when @tensorflow/tfjs-node is installed, else wasm. */
  backend: {
    doc: 'auto|wasm|cpu|tensorflow (auto: tensorflow if installed, else wasm)',
    value: 'NAME',
    train: on(backend(), { default: 'auto' }),
    fit: on(backend(), { default: 'auto' }),
    evaluate: on(backend(), { default: 'auto' }),
    bench: on(oneOfList(BackendNames), {
      default: 'wasm',
      value: 'LIST',
      doc: 'wasm|cpu|tensorflow, or a list such as wasm,tensorflow measured in the same run',
    }),
    scale: on(oneOf(BackendNames), { default: 'wasm', doc: 'wasm|cpu|tensorflow (tensorflow needs @tensorflow/tfjs-node)' }),
  },
  /** Directory of MNIST-shaped IDX files (raw or .gz). Default: the bundled MNIST (evaluate: the checkpoint's own data). */
  dataDir: {
    doc: 'MNIST-shaped IDX files, raw or .gz',
    value: 'DIR',
    train: on(path(), { defaultDoc: 'the bundled MNIST', note: 'the four MNIST files, or any data set of that shape (e.g. Fashion-MNIST)' }),
    evaluate: on(path(), { defaultDoc: "the checkpoint's training data, else the bundled MNIST" }),
    bench: on(path(), { defaultDoc: 'the bundled MNIST' }),
    scale: on(path(), { defaultDoc: 'the bundled MNIST' }),
  },
  /** Evaluate: a checkpoint root (its newest valid checkpoint) or one ckpt-* directory. Required. */
  checkpoint: {
    doc: 'checkpoint root (its newest valid checkpoint) or one ckpt-* directory (required)',
    value: 'DIR',
    evaluate: on(path('a checkpoint directory (required)'), { required: true }),
  },
  /** [xVal, yVal], evaluated after every epoch (as model.fit). */
  validationData: {
    doc: '[xVal, yVal] evaluated after every epoch',
    fit: on(
      custom<[TensorInput, TensorInput]>('an array [xVal, yVal]', (v, l, e) => {
        if (!Array.isArray(v) || v.length !== 2) throw refuse(l, v, e);
        return v as [TensorInput, TensorInput];
      }),
    ),
  },
  /** Fraction of the LAST samples held out for validation (as model.fit), in [0, 1). Default 0. */
  validationSplit: {
    doc: 'fraction of the LAST samples held out for validation',
    fit: on(
      num((x) => x >= 0 && x < 1, 'a number in [0, 1)'),
      { default: 0 },
    ),
  },
  /** Shuffle the training samples each epoch (a seeded permutation). Default true. */
  shuffle: { doc: 'a seeded permutation of the training samples per epoch', fit: on(bool(), { default: true }) },
  /** tf.Callback instances or `{ onEpochEnd, onBatchEnd, ... }` objects, as model.fit. */
  callbacks: {
    doc: 'tf.Callback instances or { onEpochEnd, onBatchEnd, ... } objects, as model.fit',
    fit: on(custom<CallbackInput>('tf.Callback instances or objects of callback functions', (v) => v as CallbackInput)),
  },
  /**
   * As model.fit: weights of the training loss per class (one-hot argmax or class id), `{ 0: 1, 1: 5 }`
   * for one output, else an array with one per output or an object keyed by output name. Every class
   * in the training data needs one. Validation losses are unweighted, as in model.fit.
   */
  classWeight: {
    doc: 'as model.fit: weights of the training loss per class ({ 0: 1, 1: 5 }; per output for several)',
    fit: on(
      custom<NonNullable<tfTypes.ModelFitArgs['classWeight']>>('an object of class index -> weight (or one per output)', (v, l, e) => {
        if (v === null || typeof v !== 'object') throw refuse(l, v, e);
        return v as NonNullable<tfTypes.ModelFitArgs['classWeight']>;
      }),
    ),
  },
  /**
   * As model.fit: how often the main thread yields to the event loop and calls the callbacks'
   * onYield: 'auto' (every 125 ms), 'batch', 'epoch', 'never', or a number of ms. The training
   * itself runs in the workers, so the main thread is free between executions anyway. Default 'auto'.
   */
  yieldEvery: {
    doc: "as model.fit: when callbacks' onYield runs: auto|batch|epoch|never or ms",
    fit: on(
      custom<NonNullable<tfTypes.ModelFitArgs['yieldEvery']>>("'auto', 'batch', 'epoch', 'never' or a number of ms", (v, l, e) => {
        if (v === 'auto' || v === 'batch' || v === 'epoch' || v === 'never' || (typeof v === 'number' && Number.isFinite(v) && v >= 0)) return v;
        throw refuse(l, v, e);
      }),
      { default: 'auto' },
    ),
  },
  /** 1: the CLI's progress bar on stdout; 0: silent. Default 1. */
  verbose: { doc: "1: the CLI's progress bar on stdout; 0: silent", fit: on(oneOf([0, 1], '0 or 1'), { default: 1 }) },
  /** Module every worker imports before building its replica, where custom classes register (a path or URL; relative to the working directory). */
  workerSetup: {
    doc: 'a module (path or URL) every worker imports first: register custom layers there',
    fit: on(
      custom<string>('a module path or URL', (v, l, e) => {
        if (typeof v !== 'string' || v.length === 0) throw refuse(l, v, e);
        // A relative path means relative to the caller's working directory, not to the worker file.
        return v.startsWith('.') && !isAbsolute(v) ? resolve(v) : v;
      }),
    ),
  },
  /** Refuse NaN/Infinity in x and y before training. Default false. */
  checkNumerics: { doc: 'refuse NaN/Infinity in x and y (and validationData) before training', fit: on(bool(), { default: false }) },
  /** Write the JSON report here. */
  report: { doc: 'write the JSON report here', value: 'FILE', train: on(path()), evaluate: on(path()) },
  /** `threadfit train`: draw the learning curves to this SVG (CLI only). */
  plot: {
    doc: 'draw the learning curves (loss and accuracy per epoch, train and validation) to this SVG',
    value: 'FILE',
    train: on(path(), { cliOnly: true }),
  },
  /** Where the output goes: `threadfit scale`'s directory, `threadfit plot`'s SVG file. */
  out: {
    doc: 'where scale.csv, scale.json, throughput.svg and breakdown.svg go',
    value: 'DIR',
    scale: on(path(), { default: './threadfit-scale' }),
    plot: on(path(), { value: 'FILE', short: 'o', defaultDoc: 'the report path with .svg', doc: 'where the SVG goes' }),
  },
  /** Bench: write the results as JSON here. */
  json: { doc: 'write the results as JSON here', value: 'FILE', bench: on(path()) },
  /** No progress bar or epoch lines. */
  quiet: { doc: 'no progress bar or epoch lines', train: on(bool(), { default: false }) },
} satisfies Record<string, OptionEntry>;
