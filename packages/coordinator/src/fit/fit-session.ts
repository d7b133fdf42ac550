/**
 * What parallelFit and parallelFitDataset share once their data is in shared memory: model.fit's
 * re-entry flags, callbacks and History; checkpoints (resume, and the committed state written
 * when a run fails); the optimizer state carried between calls; the model synced at every epoch
 * end; warm workers; the fit loop over a BatchSource.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ErrorCodes,
  ThreadfitError,
  optimizerSpecOf,
  refuseUntrainable,
  silentLogger,
  stateSlotsOf,
  type ModelSpec,
  type NativeStepKind,
  type OptimizerSpec,
} from '@threadfit/shared';
import { checkpointWeightSpecs, restoreOptimizerState } from '../checkpoint/optimizer-state.js';
import { FIT_LABELS, RunCheckpoints, trajectoryOf } from '../checkpoint/policy.js';
import type { DataShape } from '../checkpoint/format.js';
import type { LoadedCheckpoint } from '../checkpoint/store.js';
import type { ResolvedFitOptions, CallbackInput } from '../options/fit-options.js';
import { DEFAULT_STEPS_PER_EXECUTION } from '../options/train-options.js';
import { runFitLoop, type FitCallbacks, type FitLoopOptions, type FitPosition, type FitResult } from './fit-loop.js';
import { modelSpecOf } from '../engine/model-spec.js';
import { resolveBackend } from '../engine/backend-choice.js';
import { ProgressReporter } from './progress.js';
import { optimizerStateOf, writeOptimizerState } from './optimizer-carry.js';
import { keepWarm, takeWarm, type WarmKey } from './warm-workers.js';
import type { SharedDataset } from '../data/dataset.js';
import type { BatchSource } from './batch-source.js';
import { Trainer, type TrainerConfig, type EvalStats } from '../engine/trainer.js';

interface TrainingFlags {
  isTraining: boolean;
  stopTraining: boolean;
}

/** A compiled model's facts every fit call needs, checked before any thread starts. */
export interface ModelFacts {
  spec: ModelSpec;
  optimizer: OptimizerSpec;
  inputs: { names: string[]; shapes: Array<ReadonlyArray<number | null>> };
  outputs: { names: string[]; shapes: Array<ReadonlyArray<number | null>>; losses: string[] };
  /** History keys of the metrics after 'loss' (model.metricsNames minus 'loss'). */
  metricNames: string[];
}

export function modelFacts(model: tf.LayersModel, fn: string): ModelFacts {
  if (model === null || typeof model !== 'object' || typeof (model as tf.LayersModel).getWeights !== 'function') {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${fn}: the first argument must be a tf.LayersModel`);
  }
  const spec = modelSpecOf(model);
  const optimizer = optimizerSpecOf(model.optimizer);
  refuseUntrainable(optimizer);
  return {
    spec,
    optimizer,
    inputs: { names: model.inputNames ?? model.inputs.map((t) => t.name), shapes: model.inputs.map((t) => t.shape) },
    outputs: { names: model.outputNames ?? model.outputs.map((t) => t.name), shapes: model.outputs.map((t) => t.shape), losses: spec.loss },
    metricNames: (model.metricsNames ?? ['loss']).slice(1),
  };
}

/**
 * Where model.fit keeps its re-entry flag: a Sequential's fit runs on its inner LayersModel
 * (`model.model`), which alone sets and checks `isTraining`, so both are marked and checked.
 */
function trainingFlagsOf(model: tf.LayersModel): TrainingFlags[] {
  const inner = (model as unknown as { model?: unknown }).model;
  return inner instanceof tf.LayersModel && inner !== model
    ? [model as unknown as TrainingFlags, inner as unknown as TrainingFlags]
    : [model as unknown as TrainingFlags];
}

/** Refuses a second fit on a model in training (as model.fit), before anything else is checked. */
export function refuseReentry(model: tf.LayersModel): void {
  if (trainingFlagsOf(model).some((f) => f.isTraining)) {
    throw new ThreadfitError(ErrorCodes.REENTRY, 'Cannot start training because another fit() call is ongoing on this model');
  }
}

/**
 * Refuses re-entry and marks the model as training at once, for a call that awaits before its
 * session starts (parallelFitDataset reads the dataset first); returns the unmark for a failure
 * before the session, which unmarks itself when it ends.
 */
export function enterTraining(model: tf.LayersModel): () => void {
  refuseReentry(model);
  const flags = trainingFlagsOf(model);
  for (const f of flags) f.isTraining = true;
  return () => {
    for (const f of flags) f.isTraining = false;
  };
}

/** What model.fit's callbacks see through `this.model`; a callback instance has setModel. */
type AnyCallback = tf.Callback | tf.CustomCallback;

function standardizeCallbacks(input: CallbackInput | undefined, yieldEvery: tf.ModelFitArgs['yieldEvery']): AnyCallback[] {
  if (input === undefined || input === null) return [];
  const list = (Array.isArray(input) ? input : [input]) as Array<tf.CustomCallbackArgs | tf.Callback>;
  return list.map((c, i) => {
    if (typeof c !== 'object' || c === null)
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `options.callbacks[${i}] must be a tf.Callback or an object of onEpochEnd/onBatchEnd/... functions`);
    return typeof (c as tf.Callback).setModel === 'function' ? (c as tf.Callback) : new tf.CustomCallback(c as tf.CustomCallbackArgs, yieldEvery);
  });
}

/** The options both fit calls resolve to (parallelFitDataset's lack the batch and shuffle ones). */
export type SessionOptions = Omit<ResolvedFitOptions, 'batchSize' | 'shuffle' | 'validationSplit' | 'validationData'>;

/** The user's callbacks with model.fit's History after them, and the batch callbacks' cadence. */
export function callbacksOf(o: SessionOptions): { list: tf.CallbackList; history: tf.History; stepsPerExecution: number; user: number } {
  const input = o.callbacks === undefined || o.callbacks === null ? [] : Array.isArray(o.callbacks) ? o.callbacks : [o.callbacks];
  const callbacks = standardizeCallbacks(o.callbacks, o.yieldEvery);
  const history = new tf.History();
  return {
    list: new tf.CallbackList([...callbacks, history]),
    history,
    user: callbacks.length,
    // Batch callbacks see every batch before the next one runs, unless the caller chose otherwise;
    // callbacks of the epoch and the run only (tf.callbacks.earlyStopping, an onEpochEnd logger)
    // see exactly what they would with one step per round trip, which costs ~0.5-1 ms a step.
    stepsPerExecution:
      o.stepsPerExecution === 'auto' ? (input.some((c) => wantsEveryBatch(c as CallbackArg)) ? 1 : DEFAULT_STEPS_PER_EXECUTION) : o.stepsPerExecution,
  };
}

type CallbackArg = tf.CustomCallbackArgs | tf.Callback;

/**
 * Whether a callback acts between batches: a batch hook (onBatchBegin, onBatchEnd) or onYield,
 * given as a plain object's functions, as a tf.CustomCallback's, or as a tf.Callback subclass's
 * own override of the base class's no-op.
 */
function wantsEveryBatch(c: CallbackArg): boolean {
  if (typeof (c as tf.Callback).setModel !== 'function') {
    const a = c as tf.CustomCallbackArgs;
    return a.onBatchBegin != null || a.onBatchEnd != null || a.onYield != null;
  }
  const overrides = (base: tf.Callback) => (c as tf.Callback).onBatchBegin !== base.onBatchBegin || (c as tf.Callback).onBatchEnd !== base.onBatchEnd;
  if (c instanceof tf.CustomCallback) {
    // Its constructor keeps the functions it was given under these (protected) names; a subclass
    // may also override the methods themselves.
    const k = c as unknown as { batchBegin?: unknown; batchEnd?: unknown; yield?: unknown };
    return k.batchBegin != null || k.batchEnd != null || k.yield != null || overrides(tf.CustomCallback.prototype as unknown as tf.Callback);
  }
  return overrides(tf.Callback.prototype);
}

/** What the workers are built from, but the weights and the data (warm-workers.ts keys on it). */
export type WorkerConfig = Omit<TrainerConfig, 'initialWeights' | 'dataset' | 'injectFault'>;

/** The workers' config from a fit call's options; `step` says what the data decides. */
export function workerConfigOf(
  o: SessionOptions,
  facts: ModelFacts,
  step: { maxBatch: number; accumulate?: number; classWeights?: Array<number[] | null>; stepsPerExecution: number },
): WorkerConfig {
  return {
    workers: o.workers,
    backend: resolveBackend(o.backend),
    model: facts.spec,
    maxBatch: step.maxBatch,
    accumulate: step.accumulate,
    microBatches: o.deterministic ? o.microBatches : undefined,
    optimizer: facts.optimizer,
    seed: o.seed,
    workerSetup: o.workerSetup,
    classWeights: step.classWeights,
    threadsPerWorker: o.threadsPerWorker,
    gradients: o.gradients,
    stepsPerExecution: step.stepsPerExecution,
    maxRestarts: o.maxRestarts,
    maxSkippedSteps: o.maxSkippedSteps,
    stepTimeoutMs: o.stepTimeoutMs,
  };
}

export interface SessionPlan {
  options: SessionOptions;
  facts: ModelFacts;
  workerConfig: WorkerConfig;
  callbacks: ReturnType<typeof callbacksOf>;
  /** The data in shared memory (called unless warm workers hold it). */
  dataset(): SharedDataset;
  source: BatchSource;
  /** Validation after each epoch: a split of the shared data, or a function (a validation dataset). */
  validation?: { split: string } | { run(trainer: Trainer): Promise<EvalStats> };
  /** model.fit's callback params for the data. */
  params: { samples: number | null; steps: number | null; batchSize: number | null };
  dataShape: DataShape;
  /** The step's batch for the checkpoints' trajectory (a dataset: the first batch's size). */
  batchSize: number;
  /** More of what a resumed run must share with its checkpoint's (a dataset: batchesPerEpoch). */
  trajectory?: Record<string, unknown>;
  shuffle: boolean;
  learningRateAt?: FitLoopOptions['learningRateAt'];
  /** Warm workers may be taken over and kept (parallelFit on tensors). */
  warm?: WarmKey;
  /** With the trainer up, before the first step: a resumed run's position (a dataset fast-forwards to it). */
  beforeLoop?(position: FitPosition, resumed: boolean): Promise<void>;
  /** The run failed or finished: stop fetching data. */
  close?(): Promise<void>;
}

function tensorsOf(weights: Float32Array[], shapes: number[][]): tf.Tensor[] {
  return weights.map((w, i) => tf.tensor(w, shapes[i], 'float32'));
}

/** What a fit call ran: model.fit's History, the loop's own record (per-epoch timings), how the replicas computed gradients. */
export interface SessionResult {
  history: tf.History;
  fit: FitResult;
  /** 'dense' (the dense fast path) or 'tape (why)'. */
  gradPath: string;
  /** On the native step: its kernels (NativeStepKind). */
  nativeKind?: NativeStepKind;
  /** What the traced graph step decided (tape models on tensorflow: which row counts run as one graph, which stay on the tape and why), each once. */
  notices: readonly string[];
  /** The whole run's History: a resumed run's earlier epochs (from its checkpoint), then this call's. */
  runHistory: Record<string, number[]>;
  /** The most steps the workers ran between visits of the fit loop ('auto': 1 where a callback acts between batches). */
  stepsPerExecution: number;
}

function mergeHistory(a: Record<string, number[]>, b: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, [...(a[k] ?? []), ...(b[k] ?? [])]]));
}

/** Runs the fit. */
export async function runSession(model: tf.LayersModel, plan: SessionPlan): Promise<SessionResult> {
  const { options: o, facts, callbacks } = plan;
  const { spec, optimizer } = facts;
  const { list, history } = callbacks;
  const flags = model as unknown as TrainingFlags;
  const reentry = trainingFlagsOf(model);
  const doValidation = plan.validation !== undefined;
  list.setModel(model as never);
  // As model.fit and fitDataset: the run's History is model.history from the start.
  (model as unknown as { history: tf.History }).history = history;
  // As tfjs: samples, steps and batchSize are null where the data does not say (fitDataset).
  list.setParams({
    epochs: o.epochs,
    initialEpoch: o.initialEpoch,
    samples: plan.params.samples,
    steps: plan.params.steps,
    batchSize: plan.params.batchSize,
    verbose: o.verbose,
    doValidation,
    metrics: ['loss', ...facts.metricNames, ...(doValidation ? ['val_loss', ...facts.metricNames.map((m) => `val_${m}`)] : [])],
  } as never);
  const shapes = spec.weights.map((w) => w.shape);
  const initialWeights = model.getWeights().map((t) => t.dataSync() as Float32Array);
  const reusable = plan.warm !== undefined && o.checkpointDir === undefined && o.injectFault === undefined && o.workersForEpoch === undefined;

  for (const f of reentry) f.isTraining = true;
  flags.stopTraining = false;
  let trainer: Trainer | undefined;
  let dataset: SharedDataset | undefined;
  let keep = false;
  let ckpts: RunCheckpoints | undefined;
  const position: FitPosition = { epoch: o.initialEpoch, stepInEpoch: 0, globalStep: 0 };
  // The run's History for its checkpoints: the epochs before a resume (from the checkpoint), then
  // this call's (model.fit's History itself holds this call's epochs only, as model.fit's does).
  let prior: Record<string, number[]> = {};
  const runHistory = () => mergeHistory(prior, history.history as Record<string, number[]>);
  try {
    // After the re-entry flags are set (model.fit must see them before this call first awaits).
    const warm = reusable ? await takeWarm(model, plan.warm!, initialWeights, (model.optimizer as tf.Optimizer | undefined)?.iterations ?? 0) : undefined;
    trainer = warm?.trainer;
    // Data: in shared memory once, unless warm workers hold it already.
    dataset = warm?.dataset ?? plan.dataset();
    // Checkpoints: checked before any thread starts; on resume, the newest valid one of this
    // model and data shape gives the weights, the optimizer state and the position.
    ckpts =
      o.checkpointDir === undefined
        ? undefined
        : await RunCheckpoints.open(
            o.checkpointDir,
            {
              spec,
              optimizer,
              weightSpecs: checkpointWeightSpecs(model),
              seed: o.seed,
              dataShape: plan.dataShape,
              config: { epochs: o.epochs, batchSize: plan.batchSize, seed: o.seed, workers: o.workers },
              trajectory: {
                ...trajectoryOf({
                  ...o,
                  batchSize: plan.batchSize,
                  shuffle: plan.shuffle,
                  optimizer,
                  lr: { scale: o.lrScale, baseBatch: o.lrBaseBatch, warmupEpochs: o.lrWarmupEpochs, decay: o.lrDecay, epochs: o.epochs },
                }),
                ...plan.trajectory,
              },
            },
            o.keepCheckpoints,
            silentLogger,
            { resume: o.resume, labels: FIT_LABELS },
          );
    const resumed: LoadedCheckpoint | undefined = o.resume
      ? await ckpts!.latest({ epochs: o.epochs, stepsPerEpoch: plan.source.stepsPerEpoch ?? Infinity })
      : undefined;
    if (resumed) {
      Object.assign(position, { epoch: resumed.epoch, stepInEpoch: resumed.stepInEpoch, globalStep: resumed.globalStep });
      prior = (resumed.config.history ?? {}) as Record<string, number[]>;
    }
    const carried = resumed || warm ? undefined : await optimizerStateOf(model, spec, optimizer);
    trainer ??= await Trainer.create({ ...plan.workerConfig, initialWeights: resumed?.weights ?? initialWeights, dataset, injectFault: o.injectFault });
    const t = trainer;
    if (resumed) ckpts!.restore(t, resumed);
    // Else, as model.fit: the state earlier fit calls left in model.optimizer (optimizer-carry.ts);
    // warm workers hold it already.
    else if (carried !== undefined) restoreOptimizerState(t.views, spec, carried, stateSlotsOf(optimizer));
    await plan.beforeLoop?.(position, resumed !== undefined);
    const syncModel = () => {
      const tensors = tensorsOf(t.committedWeights(), shapes);
      model.setWeights(tensors);
      tf.dispose(tensors);
    };
    // The model holds the committed weights whenever a callback may read it: at epoch end and
    // at train end (before the user's callbacks run, so that one restoring weights wins).
    const modelSync: FitCallbacks = { onEpochEnd: () => syncModel(), onTrainEnd: () => syncModel() };
    const progress: FitCallbacks[] =
      o.verbose === 1 ? [new ProgressReporter({ epochs: o.epochs, stepsPerEpoch: plan.params.steps ?? undefined, out: process.stdout })] : [];
    const v = plan.validation;
    const fit = await runFitLoop(t, {
      epochs: o.epochs,
      initialEpoch: position.epoch,
      position,
      source: plan.source,
      learningRateAt: plan.learningRateAt,
      workersForEpoch: o.workersForEpoch,
      metricNames: facts.metricNames,
      validationSplit: v !== undefined && 'split' in v ? v.split : undefined,
      validate: v !== undefined && 'run' in v ? () => v.run(t) : undefined,
      callbacks: [modelSync, ...progress, list as unknown as FitCallbacks],
      shouldStop: () => flags.stopTraining,
      stepsPerExecution: callbacks.stepsPerExecution,
      ...ckpts?.hooks(
        t,
        o.checkpointEvery,
        o.epochs,
        () => runHistory(),
        () => undefined,
      ),
    });
    // The final committed state is always checkpointed (early stopping, or steps N does not divide).
    await ckpts?.writeFinal(t, position, runHistory());
    await writeOptimizerState(model, t, spec, optimizer);
    // A trainer that replaced a worker or reran a step starts the next call afresh (maxRestarts
    // counts per call).
    keep = reusable && t.restarts === 0;
    return {
      history,
      fit,
      gradPath: t.gradPath,
      nativeKind: t.nativeKind,
      notices: t.notices,
      runHistory: runHistory(),
      stepsPerExecution: callbacks.stepsPerExecution,
    };
  } catch (err) {
    // A failed run (bad data, a dataset's iterator that threw, a worker that kept failing) never
    // costs the committed state: it is checkpointed, and the error says where.
    if (ckpts !== undefined && trainer !== undefined && position.globalStep > 0) {
      const saved = await ckpts.writeFinal(trainer, position, runHistory()).catch(() => undefined);
      if (saved !== undefined && err instanceof ThreadfitError) {
        throw new ThreadfitError(
          err.code,
          `${err.message} (the committed state, step ${position.globalStep}, is in checkpoint ${saved}: resume with options.resume)`,
          { cause: err.cause },
        );
      }
    }
    throw err;
  } finally {
    for (const f of reentry) f.isTraining = false;
    await plan.close?.();
    if (trainer !== undefined) {
      if (keep) keepWarm(model, trainer, dataset!, plan.warm!);
      else await trainer.close();
    }
  }
}
