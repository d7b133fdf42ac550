/**
 * Every option of threadfit, once: its kind (kinds.ts), default, doc, CLI flag, and the surfaces
 * that accept it (`threadfit train`, parallelFit, bench, scale, evaluate, plot). The defaults
 * objects, the known keys, the TrainOptions / ParallelFitOptions types, the flag tables, `--help`
 * and README's tables are derived from it (surfaces.ts); the validators add only the rules that
 * relate two options. The JSDoc of each entry is what an editor shows on TrainOptions' and
 * ParallelFitOptions' keys; `doc` is the one line of `--help` and README.
 *
 * An entry: `doc`, optional `flag` (default: the name in kebab case), `value` (the placeholder of
 * `--help`), `group` ('hosts': README's multi-host table), and per surface `on(kind, { default,
 * doc, value, defaultDoc, required, cliOnly, deprecated, short, note })`.
 */
import { BackendNames, type LevelWithSilent, type LogFormat } from '@threadfit/shared';
import type * as tfTypes from '@tensorflow/tfjs';
import { isAbsolute, resolve } from 'node:path';
import { parseFault } from '../engine/faults.js';
import { parseLrDecay } from '../fit/lr-schedule.js';
import type { TensorInput } from '../fit/tensor-dataset.js';
import {
  bool,
  custom,
  elasticWorkers,
  fn,
  int,
  intList,
  maxWorkers,
  num,
  oneOf,
  oneOfList,
  orWord,
  parsed,
  path,
  refuse,
  text,
  workerCount,
  type Kind,
} from './kinds.js';

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
const MAX_BENCH_BATCH = 1 << 16;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
const LOG_FORMATS = ['pretty', 'json'] as const satisfies readonly LogFormat[];
const backend = () => oneOf(['auto', ...BackendNames] as const);
const spe = () => int(1, MAX_STEPS_PER_EXECUTION);

export type CallbackInput = tfTypes.CustomCallbackArgs | tfTypes.CustomCallbackArgs[] | tfTypes.Callback | tfTypes.Callback[];

/** model.fit arguments parallelFit refuses, and why (each names the reason in its message). */
export const REFUSED_FIT_ARGS = {
  classWeight: "not applied by the workers' loss yet; weight the loss in a custom loss function instead",
  sampleWeight: "not applied by the workers' loss yet; weight the loss in a custom loss function instead",
  stepsPerEpoch: 'an epoch is one pass over x (tfjs uses it for datasets: model.fitDataset)',
  validationSteps: 'validation covers the whole validation set (tfjs uses it for datasets: model.fitDataset)',
  yieldEvery: "the workers train; the main thread's event loop is free between executions",
} as const;

export const OPTIONS = {
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
  checkNumerics: { doc: 'refuse NaN/Infinity in x and y before training', fit: on(bool(), { default: false }) },
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
  /** Write checkpoints of the committed state here (atomic; the newest keepCheckpoints kept; model.json loadable by tfjs). */
  checkpointDir: {
    doc: 'write checkpoints here (atomic; model.json loadable by tfjs)',
    value: 'DIR',
    train: on(path()),
    fit: on(path()),
  },
  /** Checkpoint every N steps, or 'epoch' (default): at every epoch end. Needs checkpointDir. */
  checkpointEvery: {
    doc: 'checkpoint every N steps, or at every epoch end',
    value: 'N|epoch',
    train: on(orWord('epoch', int(1)), { default: 'epoch' }),
    fit: on(orWord('epoch', int(1)), { default: 'epoch' }),
  },
  /** How many of the newest checkpoints to keep. Default 2. Needs checkpointDir. */
  keepCheckpoints: {
    doc: 'how many of the newest checkpoints to keep',
    value: 'K',
    train: on(int(1, 1000), { default: 2 }),
    fit: on(int(1, 1000), { default: 2 }),
  },
  /** Continue from the newest valid checkpoint in checkpointDir (what is done is not done again). Default false. */
  resume: {
    doc: 'continue from the newest valid checkpoint in --checkpoint-dir',
    train: on(bool(), { default: false }),
    fit: on(bool(), { default: false, doc: 'continue from the newest valid checkpoint in checkpointDir (exact resume)' }),
  },
  /** Reruns of failed steps (crashed or hung workers) allowed over the run. Default 3. */
  maxRestarts: {
    doc: 'reruns of failed steps (crashed or hung workers) before giving up',
    value: 'N',
    train: on(int(0, 1_000_000), { default: 3 }),
    fit: on(int(0, 1_000_000), { default: 3 }),
  },
  /** Non-finite steps allowed in a row. Default 5. */
  maxSkippedSteps: {
    doc: 'non-finite steps in a row before giving up',
    value: 'N',
    train: on(int(0, 1_000_000), { default: 5 }),
    fit: on(int(0, 1_000_000), { default: 5 }),
  },
  /** A step phase slower than this many ms is hung: its workers are replaced. Default adaptive: max(30 s, 50 x median step). */
  stepTimeoutMs: {
    doc: 'a step phase slower than this is hung: its workers are replaced',
    flag: 'step-timeout',
    value: 'MS',
    train: on(int(1, 86_400_000), { defaultDoc: 'max(30000, 50 x median step)', deprecated: 'stepTimeout' }),
    fit: on(int(1, 86_400_000), { defaultDoc: 'max(30000, 50 x median step)' }),
  },
  /** Testing aid: `crash|exit|hang|nan@step=S,rank=R[,times=T]` (rank < workers). */
  injectFault: {
    doc: 'testing aid: crash|exit|hang|nan@step=S,rank=R[,times=T]',
    value: 'SPEC',
    train: on(parsed('crash|exit|hang|nan@step=S,rank=R[,times=T]', parseFault)),
    fit: on(parsed('crash|exit|hang|nan@step=S,rank=R[,times=T]', parseFault)),
  },
  /** TensorFlow intra/inter-op threads per worker (tensorflow backend). Default 1. */
  threadsPerWorker: {
    doc: 'TensorFlow intra/inter-op threads per worker (--backend tensorflow)',
    value: 'N',
    train: on(int(1, 256), { default: 1 }),
    fit: on(int(1, 256), { default: 1, doc: 'TensorFlow intra/inter-op threads per worker (tensorflow backend)' }),
  },
  /**
   * 'auto' (default): a chain of Dense layers computes its gradients with the backward pass written
   * out (the dense fast path, docs/ARCHITECTURE.md), any other model on tfjs's tape. 'tape': always
   * the tape (slower; results then follow model.fit's op order exactly). Bench also takes 'both'.
   */
  gradients: {
    doc: "auto|tape: auto computes a chain of Dense layers' gradients without tfjs's tape (faster); tape always uses the tape",
    value: 'HOW',
    train: on(oneOf(['auto', 'tape']), {
      default: 'auto',
      note: "the dense fast path: docs/ARCHITECTURE.md; its gradients equal the tape's to float32 rounding",
    }),
    fit: on(oneOf(['auto', 'tape']), {
      default: 'auto',
      note: "the dense fast path: docs/ARCHITECTURE.md; its gradients equal the tape's to float32 rounding",
    }),
    bench: on(oneOf(['auto', 'tape', 'both']), { default: 'auto', doc: 'threadfit rows: auto (dense fast path), tape, or both (a row of each, same run)' }),
    scale: on(oneOf(['auto', 'tape']), { default: 'auto', doc: 'auto (dense fast path) or tape' }),
  },
  /**
   * The most steps the workers run on their own, without a round trip to the coordinator (Keras's
   * steps_per_execution; docs/ARCHITECTURE.md). Executions end at epoch ends, at the last partial
   * batch and where a checkpoint is due; 1 makes every step a round trip; the weights are the same
   * bits either way. `threadfit train`: default 32 (1 across hosts, and for models with
   * non-trainable weights). parallelFit: default 'auto' = 32 without callbacks, else 1 (every batch
   * callback before the next batch, as model.fit); above 1, an execution's batch callbacks are
   * called once it returns and `model.stopTraining` takes effect after it.
   */
  stepsPerExecution: {
    doc: 'the most steps the workers run without a round trip to the coordinator (1: every step; same weights either way)',
    value: 'N',
    train: on(spe(), {
      default: DEFAULT_STEPS_PER_EXECUTION,
      note:
        "Keras's `steps_per_execution`: less per-step overhead. Executions end at epoch ends, at the last partial batch and where a checkpoint is due; " +
        'a signal stops after the execution in flight (~0.3 s for the reference run at W=2; N x the step time in general)',
    }),
    fit: on(orWord('auto', spe()), {
      default: 'auto',
      doc: "steps the workers run between visits of the fit loop; 'auto': 32 without callbacks, else 1 (batch callbacks before the next batch, as model.fit)",
    }),
    bench: on(intList(1, MAX_STEPS_PER_EXECUTION), {
      default: DEFAULT_STEPS_PER_EXECUTION,
      value: 'LIST',
      doc: 'threadfit rows: steps the workers run per execution, or a list such as 1,32 (a row each, same run)',
    }),
    scale: on(spe(), { default: DEFAULT_STEPS_PER_EXECUTION, doc: 'steps the workers run per execution (1: a round trip per step)' }),
  },
  /** The same weights, bit for bit, for any worker count: microBatches fixed micro-batches per step. Default false. */
  deterministic: {
    doc: 'the same weights, bit for bit, for any worker count (fixed micro-batches)',
    train: on(bool(), { default: false }),
    fit: on(bool(), { default: false }),
  },
  /** Micro-batches per step in deterministic mode. Default 8. */
  microBatches: {
    doc: 'micro-batches per step in deterministic mode',
    value: 'M',
    train: on(int(1, 256), { default: 8 }),
    fit: on(int(1, 256), { default: 8 }),
  },
  /** Gradient accumulation: accumulate x batchSize samples per optimizer step, as accumulate micro-batches per rank. Default 1. */
  accumulate: {
    doc: 'gradient accumulation: N x batch size samples per optimizer step',
    value: 'N',
    train: on(int(1, 1024), { default: 1 }),
    fit: on(int(1, 1024), { default: 1, doc: 'gradient accumulation: accumulate x batchSize samples per optimizer step' }),
  },
  /** Linear learning-rate warm-up over this many (possibly fractional) epochs. Default 0. */
  lrWarmupEpochs: {
    doc: 'linear learning-rate warm-up over the first EPOCHS',
    flag: 'lr-warmup',
    value: 'EPOCHS',
    train: on(
      num((x) => x >= 0, 'a number of epochs >= 0'),
      { default: 0, deprecated: 'lrWarmup' },
    ),
    fit: on(
      num((x) => x >= 0, 'a number of epochs >= 0'),
      { default: 0 },
    ),
  },
  /** 'linear': the linear scaling rule, lr x (batchSize x accumulate) / lrBaseBatch. Default 'none'. */
  lrScale: {
    doc: 'none|linear (lr x effective batch / --lr-base-batch)',
    value: 'RULE',
    train: on(oneOf(['none', 'linear']), { default: 'none' }),
    fit: on(oneOf(['none', 'linear']), { default: 'none', doc: 'none|linear (lr x batchSize x accumulate / lrBaseBatch)' }),
  },
  /** Reference batch of the linear scaling rule. Default 128. Needs lrScale 'linear'. */
  lrBaseBatch: {
    doc: 'reference batch of the linear scaling rule',
    value: 'N',
    train: on(int(1, 1 << 24), { default: 128 }),
    fit: on(int(1, 1 << 24), { default: 128 }),
  },
  /** 'none' (default), 'cosine[:MIN_LR]' or 'step:EVERY_EPOCHS:GAMMA', after the warm-up. */
  lrDecay: {
    doc: 'none | cosine[:MIN_LR] | step:EVERY_EPOCHS:GAMMA',
    value: 'SCHED',
    train: on(parsed('none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA', parseLrDecay), { default: 'none' }),
    fit: on(parsed('none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA', parseLrDecay), { default: 'none' }),
  },
  /** Elastic resize: called at every epoch end, returns the worker count for the next epoch (1..workers). */
  workersForEpoch: {
    doc: 'elastic resize at an epoch boundary: returns the worker count of the next epoch',
    fit: on(fn<(epoch: number) => number | undefined>()),
  },
  /** Bench and scale: steps run and thrown away before timing starts. Default 10 (bench), 5 (scale). */
  warmup: {
    doc: 'steps run before timing starts (excluded)',
    value: 'N',
    bench: on(int(0, 1_000_000), { default: 10 }),
    scale: on(int(0, 1_000_000), { default: 5 }),
  },
  /** Bench and scale: timed steps per repeat (full batches only). Default 100 (bench), 50 (scale). */
  steps: { doc: 'timed steps per repeat', value: 'N', bench: on(int(1, 1_000_000), { default: 100 }), scale: on(int(1, 1_000_000), { default: 50 }) },
  /** Bench and scale: timed repeats per configuration; the report gives their median. Default 3. */
  repeats: {
    doc: 'timed repeats per configuration; the median is reported',
    value: 'N',
    bench: on(int(1, 1000), { default: 3 }),
    scale: on(int(1, 1000), { default: 3 }),
  },
  /** Scale: global batch sizes of the strong-scaling series. Default [128, 1024]. */
  strongBatchSizes: { doc: 'global batch sizes of the strong-scaling series', value: 'LIST', scale: on(intList(1, MAX_BENCH_BATCH), { default: [128, 1024] }) },
  /** Scale: per-worker batch of the weak-scaling series. Default 64. */
  weakBatchSize: { doc: 'per-worker batch of the weak-scaling series', value: 'N', scale: on(int(1, MAX_BENCH_BATCH), { default: 64 }) },
  /** Several hosts (docs/MULTI-HOST.md): 'N' or 'MIN:N' hosts; default from WORLD_SIZE / SLURM_STEP_NUM_TASKS. */
  hosts: {
    doc: 'hosts joined by Gloo (docs/MULTI-HOST.md); MIN: fewest to go on with',
    value: 'N|MIN:N',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'WORLD_SIZE or SLURM_STEP_NUM_TASKS, else 1' }),
  },
  /** This host's rank at launch; default from RANK / SLURM_PROCID. */
  hostRank: { doc: "this host's rank, 0..N-1", value: 'R', group: 'hosts', train: on(text(), { defaultDoc: 'RANK or SLURM_PROCID' }) },
  /** redis://HOST:PORT or file:///DIR; default THREADFIT_RENDEZVOUS, else Redis at MASTER_ADDR:MASTER_PORT+1. */
  rendezvous: {
    doc: 'where hosts meet: redis://HOST:PORT or file:///SHARED/DIR',
    value: 'URL',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'THREADFIT_RENDEZVOUS, else redis://MASTER_ADDR:MASTER_PORT+1' }),
  },
  /** Rendezvous namespace, new for every run. Default THREADFIT_JOB, torchrun's run id + restart count, Slurm's job.step; else required. */
  job: {
    doc: 'rendezvous namespace, new for every run (required otherwise)',
    value: 'ID',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'THREADFIT_JOB, torchrun run id, Slurm job.step' }),
  },
  /** Network interface to advertise; default the one routing to the rendezvous host. */
  iface: {
    doc: 'network interface to advertise to peers',
    value: 'NAME',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'the one routing to the rendezvous host' }),
  },
  /** Per-collective timeout across hosts in ms. Default adaptive: max(5 s, 10 x median step). */
  commTimeoutMs: {
    doc: 'a collective across hosts slower than this fails',
    flag: 'comm-timeout',
    value: 'MS',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'max(5000, 10 x median step)', deprecated: 'commTimeout' }),
  },
  /** Pino log level (stderr). Default 'info'. */
  logLevel: {
    doc: 'fatal|error|warn|info|debug|trace|silent',
    value: 'LEVEL',
    train: on(oneOf(LOG_LEVELS), { default: 'info' }),
    evaluate: on(oneOf(LOG_LEVELS), { default: 'info' }),
  },
  /** Log format (stderr). Default 'pretty' (the CLI: pretty on a terminal, else json). */
  logFormat: {
    doc: 'pretty|json (logs go to stderr)',
    value: 'FMT',
    train: on(oneOf(LOG_FORMATS), { default: 'pretty', defaultDoc: 'pretty on a terminal, else json' }),
    evaluate: on(oneOf(LOG_FORMATS), { default: 'pretty', defaultDoc: 'pretty on a terminal, else json' }),
  },
} satisfies Record<string, OptionEntry>;

export type Options = typeof OPTIONS;
