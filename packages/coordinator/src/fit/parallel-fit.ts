/**
 * parallelFit(model, x, y, options): a drop-in, data-parallel `model.fit` for a compiled tfjs
 * LayersModel. The same callbacks in the same order with the same logs keys, `stopTraining` set by
 * a callback honoured after its batch, re-entry refused, History returned; the model holds the trained
 * weights at every epoch end and at the end. Semantics follow tfjs-layers' fitLoop.
 */
import type * as tf from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, stepsPerEpoch } from '@threadfit/shared';
import { validateFitOptions, type ParallelFitOptions } from '../options/fit-options.js';
import { isConstant, lrAt, type LrScheduleOptions } from './lr-schedule.js';
import { classWeightTables } from './class-weight.js';
import { callbacksOf, modelFacts, refuseReentry, runSession, workerConfigOf, type SessionResult } from './fit-session.js';
import { PermutationBatches } from './batch-source.js';
import { checkFinite, checkShapes, columns, isTensor, shareTensorData, type TensorInput } from './tensor-dataset.js';

export type { ParallelFitOptions } from '../options/fit-options.js';

export async function parallelFit(model: tf.LayersModel, x: TensorInput, y: TensorInput, options: ParallelFitOptions = {}): Promise<tf.History> {
  return (await parallelFitRun(model, x, y, options)).history;
}

/** parallelFit with the session's record too (the fit loop's epochs, the gradient path, the workers' notices): the bench's. */
export async function parallelFitRun(model: tf.LayersModel, x: TensorInput, y: TensorInput, options: ParallelFitOptions = {}): Promise<SessionResult> {
  const facts = modelFacts(model, 'parallelFit');
  const o = validateFitOptions(options);
  refuseReentry(model);
  const { inputs, outputs } = facts;

  // Data: validated before any thread starts (copied into shared memory by the session).
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

  const callbacks = callbacksOf(o);
  const classWeights = classWeightTables(o.classWeight, outputs.names, ys, splitAt);
  const stepBatch = o.batchSize * o.accumulate;
  const workerConfig = workerConfigOf(o, facts, {
    maxBatch: stepBatch,
    accumulate: o.accumulate,
    classWeights,
    stepsPerExecution: callbacks.stepsPerExecution,
  });

  // Warm workers of the last call on this model are taken over when nothing they were built from
  // changed; never with checkpoints, injected faults or elastic resizes, nor for typed-array data.
  const inputTensors = [x, y, ...(o.validationData ?? [])].flat();
  // Tensors are immutable; a Variable (assign) or a typed array can change between calls.
  const tensorsOnly = inputTensors.every((t) => isTensor(t) && typeof (t as tf.Variable).assign !== 'function');
  const trainCount = splitAt;
  const steps = stepsPerEpoch(trainCount, stepBatch);
  const schedule: LrScheduleOptions = {
    base: facts.optimizer.learningRate,
    scale: o.lrScale,
    baseBatch: o.lrBaseBatch,
    batch: stepBatch,
    warmupEpochs: o.lrWarmupEpochs,
    decay: o.lrDecay,
    epochs: o.epochs,
    stepsPerEpoch: steps,
  };
  return await runSession(model, {
    options: o,
    facts,
    workerConfig,
    callbacks,
    dataset: () => shareTensorData({ x: xs, y: ys }, { start: 0, end: splitAt }, val),
    source: new PermutationBatches(trainCount, stepBatch, o.shuffle, o.seed),
    validation: doValidation ? { split: 'val' } : undefined,
    params: { samples: trainCount, steps, batchSize: o.batchSize },
    dataShape: { inputShape: xs[0].sample, classes: ys[0].sample[ys[0].sample.length - 1] ?? 1, trainCount },
    batchSize: o.batchSize,
    shuffle: o.shuffle,
    learningRateAt: isConstant(schedule) ? undefined : (step) => lrAt(schedule, step),
    warm: tensorsOnly ? { config: JSON.stringify({ ...workerConfig, validationSplit: o.validationSplit }), tensors: inputTensors } : undefined,
  });
}
