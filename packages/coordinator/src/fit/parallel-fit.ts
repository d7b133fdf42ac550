/**
 * parallelFit(model, x, y, options): a drop-in, data-parallel `model.fit` for a compiled tfjs
 * LayersModel. The same callbacks in the same order with the same logs keys, `stopTraining`
 * honoured after every batch, re-entry refused, History returned; the model holds the trained
 * weights at every epoch end and at the end. Semantics follow tfjs-layers' fitLoop.
 */
import * as tf from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, optimizerSpecOf, refuseUntrainable, silentLogger, stateSlotsOf, stepsPerEpoch } from '@threadfit/shared';
import { checkpointWeightSpecs, restoreOptimizerState } from '../checkpoint/optimizer-state.js';
import { FIT_LABELS, RunCheckpoints, trajectoryOf } from '../checkpoint/policy.js';
import { resolveBackend } from '../engine/backend-choice.js';
import { validateFitOptions, type CallbackInput, type ParallelFitOptions } from '../options/fit-options.js';
import { DEFAULT_STEPS_PER_EXECUTION } from '../options/train-options.js';
import { runFitLoop, type FitCallbacks, type FitPosition } from './fit-loop.js';
import { isConstant, lrAt, type LrScheduleOptions } from './lr-schedule.js';
import { modelSpecOf } from '../engine/model-spec.js';
import { ProgressReporter } from './progress.js';
import { classWeightTables } from './class-weight.js';
import { optimizerStateOf, writeOptimizerState } from './optimizer-carry.js';
import { keepWarm, takeWarm, type WarmKey } from './warm-workers.js';
import type { SharedDataset } from '../data/dataset.js';
import { checkFinite, checkShapes, columns, shareTensorData, type TensorInput } from './tensor-dataset.js';
import { Trainer } from '../engine/trainer.js';

export type { ParallelFitOptions } from '../options/fit-options.js';

interface TrainingFlags {
  isTraining: boolean;
  stopTraining: boolean;
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

function tensorsOf(weights: Float32Array[], shapes: number[][]): tf.Tensor[] {
  return weights.map((w, i) => tf.tensor(w, shapes[i], 'float32'));
}

export async function parallelFit(model: tf.LayersModel, x: TensorInput, y: TensorInput, options: ParallelFitOptions = {}): Promise<tf.History> {
  if (model === null || typeof model !== 'object' || typeof (model as tf.LayersModel).getWeights !== 'function') {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'parallelFit: the first argument must be a tf.LayersModel');
  }
  const o = validateFitOptions(options);
  const flags = model as unknown as TrainingFlags;
  const reentry = trainingFlagsOf(model);
  if (reentry.some((f) => f.isTraining)) {
    throw new ThreadfitError(ErrorCodes.REENTRY, 'Cannot start training because another fit() call is ongoing on this model');
  }
  const spec = modelSpecOf(model);
  const optimizer = optimizerSpecOf(model.optimizer);
  refuseUntrainable(optimizer);

  // Data: validated before any thread starts (copied into shared memory below).
  const xs = columns(x, 'x', model.inputs.length);
  const ys = columns(y, 'y', model.outputs.length);
  const n = xs[0].count;
  [...xs, ...ys].forEach((c, i) => {
    if (c.count !== n)
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `x and y must have the same number of samples: ${i < xs.length ? 'x' : 'y'} has ${c.count}, x has ${n}`,
      );
  });
  // The model's own shapes, before any thread starts (model.fit's standardizeInputData checks these too).
  const inputs = { names: model.inputNames ?? model.inputs.map((t) => t.name), shapes: model.inputs.map((t) => t.shape) };
  const outputs = { names: model.outputNames ?? model.outputs.map((t) => t.name), shapes: model.outputs.map((t) => t.shape), losses: spec.loss };
  checkShapes(xs, 'x', { role: 'input', ...inputs });
  checkShapes(ys, 'y', { role: 'output', ...outputs });
  if (o.checkNumerics) {
    checkFinite(xs, 'x');
    checkFinite(ys, 'y');
  }
  const splitAt = o.validationSplit > 0 ? Math.floor(n * (1 - o.validationSplit)) : n;
  if (splitAt < 1) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `options.validationSplit ${o.validationSplit} leaves no training samples out of ${n}`);
  let val: Parameters<typeof shareTensorData>[2];
  if (o.validationData !== undefined) {
    const vx = columns(o.validationData[0], 'validationData[0]', model.inputs.length);
    const vy = columns(o.validationData[1], 'validationData[1]', model.outputs.length);
    checkShapes(vx, 'validationData[0]', { role: 'input', ...inputs });
    checkShapes(vy, 'validationData[1]', { role: 'output', ...outputs });
    if (o.checkNumerics) {
      checkFinite(vx, 'validationData[0]');
      checkFinite(vy, 'validationData[1]');
    }
    val = { data: { x: vx, y: vy }, start: 0, end: vx[0].count };
  } else if (splitAt < n) {
    val = { data: { x: xs, y: ys }, start: splitAt, end: n };
  }
  const doValidation = val !== undefined && val.end > val.start;

  const shapes = spec.weights.map((w) => w.shape);
  const initialWeights = model.getWeights().map((t) => t.dataSync() as Float32Array);
  const metricNames = (model.metricsNames ?? ['loss']).slice(1);
  const callbacks = standardizeCallbacks(o.callbacks, o.yieldEvery);
  const classWeights = classWeightTables(o.classWeight, outputs.names, ys, splitAt);
  const history = new tf.History();
  const list = new tf.CallbackList([...callbacks, history]);
  const stepBatch = o.batchSize * o.accumulate;
  // Batch callbacks see every batch before the next one runs unless the caller chose otherwise.
  const stepsPerExecution = o.stepsPerExecution === 'auto' ? (callbacks.length === 0 ? DEFAULT_STEPS_PER_EXECUTION : 1) : o.stepsPerExecution;
  // What the workers are built from, but the weights and the data (warm-workers.ts keys on it).
  const trainerConfig = {
    workers: o.workers,
    backend: resolveBackend(o.backend),
    model: spec,
    maxBatch: stepBatch,
    accumulate: o.accumulate,
    microBatches: o.deterministic ? o.microBatches : undefined,
    optimizer,
    seed: o.seed,
    workerSetup: o.workerSetup,
    classWeights,
    threadsPerWorker: o.threadsPerWorker,
    gradients: o.gradients,
    stepsPerExecution,
    maxRestarts: o.maxRestarts,
    maxSkippedSteps: o.maxSkippedSteps,
    stepTimeoutMs: o.stepTimeoutMs,
  };
  // Warm workers of the last call on this model are taken over when nothing they were built from
  // changed; never with checkpoints, injected faults or elastic resizes, nor for typed-array data.
  const inputTensors = [x, y, ...(o.validationData ?? [])].flat();
  const warmKey: WarmKey = { config: JSON.stringify({ ...trainerConfig, validationSplit: o.validationSplit }), tensors: inputTensors };
  const reusable =
    o.checkpointDir === undefined &&
    o.injectFault === undefined &&
    o.workersForEpoch === undefined &&
    inputTensors.every((t) => t instanceof tf.Tensor && !(t instanceof tf.Variable));
  const trainCount = splitAt;
  const steps = stepsPerEpoch(trainCount, stepBatch);
  const schedule: LrScheduleOptions = {
    base: optimizer.learningRate,
    scale: o.lrScale,
    baseBatch: o.lrBaseBatch,
    batch: stepBatch,
    warmupEpochs: o.lrWarmupEpochs,
    decay: o.lrDecay,
    epochs: o.epochs,
    stepsPerEpoch: steps,
  };
  list.setModel(model as never);
  list.setParams({
    epochs: o.epochs,
    initialEpoch: o.initialEpoch,
    samples: trainCount,
    steps,
    batchSize: o.batchSize,
    verbose: o.verbose,
    doValidation,
    metrics: ['loss', ...metricNames, ...(doValidation ? ['val_loss', ...metricNames.map((m) => `val_${m}`)] : [])],
  });

  for (const f of reentry) f.isTraining = true;
  flags.stopTraining = false;
  let trainer: Trainer | undefined;
  let dataset: SharedDataset | undefined;
  let keep = false;
  try {
    // After the re-entry flags are set (model.fit must see them before this call first awaits).
    const warm = reusable ? await takeWarm(model, warmKey, initialWeights, (model.optimizer as tf.Optimizer | undefined)?.iterations ?? 0) : undefined;
    trainer = warm?.trainer;
    // Data: copied into shared memory once, unless warm workers hold it already.
    dataset = warm?.dataset ?? shareTensorData({ x: xs, y: ys }, { start: 0, end: splitAt }, val);
    // Checkpoints: checked before any thread starts; on resume, the newest valid one of this
    // model and data shape gives the weights, the optimizer state and the position.
    const ckpts =
      o.checkpointDir === undefined
        ? undefined
        : await RunCheckpoints.open(
            o.checkpointDir,
            {
              spec,
              optimizer,
              weightSpecs: checkpointWeightSpecs(model),
              seed: o.seed,
              dataShape: { inputShape: xs[0].sample, classes: ys[0].sample[ys[0].sample.length - 1] ?? 1, trainCount },
              config: { epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, workers: o.workers },
              trajectory: trajectoryOf({
                ...o,
                optimizer,
                lr: { scale: o.lrScale, baseBatch: o.lrBaseBatch, warmupEpochs: o.lrWarmupEpochs, decay: o.lrDecay, epochs: o.epochs },
              }),
            },
            o.keepCheckpoints,
            silentLogger,
            { resume: o.resume, labels: FIT_LABELS },
          );
    const resumed = o.resume ? await ckpts!.latest({ epochs: o.epochs, stepsPerEpoch: steps }) : undefined;
    const position: FitPosition = resumed
      ? { epoch: resumed.epoch, stepInEpoch: resumed.stepInEpoch, globalStep: resumed.globalStep }
      : { epoch: o.initialEpoch, stepInEpoch: 0, globalStep: 0 };
    const carried = resumed || warm ? undefined : await optimizerStateOf(model, spec, optimizer);
    trainer ??= await Trainer.create({ ...trainerConfig, initialWeights: resumed?.weights ?? initialWeights, dataset, injectFault: o.injectFault });
    const t = trainer;
    if (resumed) ckpts!.restore(t, resumed);
    // Else, as model.fit: the state earlier fit calls left in model.optimizer (optimizer-carry.ts);
    // warm workers hold it already.
    else if (carried !== undefined) restoreOptimizerState(t.views, spec, carried, stateSlotsOf(optimizer));
    const syncModel = () => {
      const tensors = tensorsOf(t.committedWeights(), shapes);
      model.setWeights(tensors);
      tf.dispose(tensors);
    };
    // The model holds the committed weights whenever a callback may read it: at epoch end and
    // at train end (before the user's callbacks run, so that one restoring weights wins).
    const modelSync: FitCallbacks = { onEpochEnd: () => syncModel(), onTrainEnd: () => syncModel() };
    const progress: FitCallbacks[] = o.verbose === 1 ? [new ProgressReporter({ epochs: o.epochs, stepsPerEpoch: steps, out: process.stdout })] : [];
    await runFitLoop(t, {
      epochs: o.epochs,
      initialEpoch: position.epoch,
      position,
      batchSize: stepBatch,
      shuffle: o.shuffle,
      learningRateAt: isConstant(schedule) ? undefined : (step) => lrAt(schedule, step),
      workersForEpoch: o.workersForEpoch,
      seed: o.seed,
      trainCount,
      metricNames,
      validationSplit: doValidation ? 'val' : undefined,
      callbacks: [modelSync, ...progress, list as unknown as FitCallbacks],
      shouldStop: () => flags.stopTraining,
      stepsPerExecution,
      ...ckpts?.hooks(
        t,
        o.checkpointEvery,
        o.epochs,
        () => history.history as Record<string, number[]>,
        () => undefined,
      ),
    });
    // The final committed state is always checkpointed (early stopping, or steps N does not divide).
    await ckpts?.writeFinal(t, position, history.history as Record<string, number[]>);
    await writeOptimizerState(model, t, spec, optimizer);
    // A trainer that replaced a worker or reran a step starts the next call afresh (maxRestarts
    // counts per call).
    keep = reusable && t.restarts === 0;
    return history;
  } finally {
    for (const f of reentry) f.isTraining = false;
    if (trainer !== undefined) {
      if (keep) keepWarm(model, trainer, dataset!, warmKey);
      else await trainer.close();
    }
  }
}
