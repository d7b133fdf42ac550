/**
 * parallelFitDataset(model, dataset, options): a drop-in, data-parallel `model.fitDataset`. The
 * dataset's batch is the global batch, split across the workers; batches stream through a ring
 * of slots in shared memory (dataset-batches.ts), read ahead while the steps before them run.
 * The same callbacks, logs and History as fitDataset; checkpoints, resume and faults as
 * parallelFit.
 */
import type * as tf from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, batchRingLayout, type TensorSpec } from '@threadfit/shared';
import { validateFitDatasetOptions, type ParallelFitDatasetOptions } from '../options/fit-dataset-options.js';
import { isConstant, lrAt, type LrScheduleOptions } from './lr-schedule.js';
import { checkClassesWeighted, classWeightTables } from './class-weight.js';
import { callbacksOf, enterTraining, modelFacts, runSession, workerConfigOf, type ModelFacts, type SessionResult } from './fit-session.js';
import { batchTensors, DatasetBatches, isDatasetLike, type BatchTensors, type DatasetLike, type ModelIo } from './dataset-batches.js';
import { DatasetValidation } from './dataset-validation.js';
import { checkFinite, checkShapes, columns, fillSplit, splitSpecOf, type Column, type TensorData } from './tensor-dataset.js';
import type { SharedDataset } from '../data/dataset.js';

export type { ParallelFitDatasetOptions } from '../options/fit-dataset-options.js';
export type { DatasetLike } from './dataset-batches.js';

/** The ring of batch slots takes at most this much memory (it has at least two slots). */
export const RING_BYTES = 64 << 20;

/** A batch's tensors as columns of their sample shapes (their values are not read). */
const shapeColumns = (ts: tf.Tensor[]): Column[] => ts.map((t) => ({ values: [], sample: t.shape.slice(1), count: t.shape[0] }));
const specsOf = (cols: Column[]): TensorSpec[] => cols.map((c) => ({ dtype: 'float32', shape: c.sample }));

/** Reads the first element of an iterator as a batch, naming the dataset in every failure. */
async function firstBatch(it: { next(): Promise<IteratorResult<unknown>> }, io: ModelIo, what: string): Promise<BatchTensors> {
  let r: IteratorResult<unknown>;
  try {
    r = await it.next();
  } catch (err) {
    throw new ThreadfitError(ErrorCodes.BAD_DATA, `${what}'s iterator threw at its first batch: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (r.done) throw new ThreadfitError(ErrorCodes.BAD_DATA, `${what} is empty: its iterator yielded no batch`);
  return batchTensors(r.value, io, `batch 0 of ${what}`);
}

async function iteratorOf(d: DatasetLike, what: string): Promise<{ next(): Promise<IteratorResult<unknown>> }> {
  try {
    return await d.iterator();
  } catch (err) {
    throw new ThreadfitError(ErrorCodes.BAD_DATA, `${what}'s iterator() threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function checkAgainstModel(b: BatchTensors, facts: ModelFacts, what: string): void {
  checkShapes(shapeColumns(b.xs), `${what} xs`, { role: 'input', ...facts.inputs });
  checkShapes(shapeColumns(b.ys), `${what} ys`, { role: 'output', ...facts.outputs });
}

export async function parallelFitDataset(model: tf.LayersModel, dataset: DatasetLike, options: ParallelFitDatasetOptions = {}): Promise<tf.History> {
  return (await fitDatasetRun(model, dataset, options)).history;
}

/** parallelFitDataset with the fit loop's record too (per-epoch steps, seconds, step-time breakdown): the CLI's report. */
export async function fitDatasetRun(model: tf.LayersModel, dataset: DatasetLike, options: ParallelFitDatasetOptions = {}): Promise<SessionResult> {
  const facts = modelFacts(model, 'parallelFitDataset');
  if (!isDatasetLike(dataset))
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'parallelFitDataset: the second argument must be a tf.data.Dataset of {xs, ys} batches');
  const r = validateFitDatasetOptions(options);
  // Marked as training before the first await, as model.fit does (a second fit call meanwhile is refused).
  const exitTraining = enterTraining(model);
  const io: ModelIo = { inputNames: facts.inputs.names, outputNames: facts.outputs.names, inputRanks: facts.inputs.shapes.map((sh) => sh.length) };
  // Batches read before the session owns them: disposed if the start fails.
  const owned: BatchTensors[] = [];
  try {
    return await startDatasetRun(model, dataset, r, facts, io, owned);
  } catch (err) {
    for (const b of owned) disposeBatch(b);
    exitTraining();
    throw err;
  }
}

const disposeBatch = (b: BatchTensors): void => {
  for (const t of [...b.xs, ...b.ys]) if (!t.isDisposed) t.dispose();
};

async function startDatasetRun(
  model: tf.LayersModel,
  dataset: DatasetLike,
  r: ReturnType<typeof validateFitDatasetOptions>,
  facts: ModelFacts,
  io: ModelIo,
  owned: BatchTensors[],
): Promise<SessionResult> {
  const o = r.fit;
  // As fitDataset, one iterator before the first epoch; its first batch sizes the ring of slots
  // and is checked against the model before any thread starts.
  const iterator = await iteratorOf(dataset, 'the dataset');
  const peeked = await firstBatch(iterator, io, 'the dataset');
  owned.push(peeked);
  let val: { data: TensorData } | { dataset: DatasetLike; first: BatchTensors } | undefined;
  checkAgainstModel(peeked, facts, 'the dataset');
  const vd = r.validationData;
  if (isDatasetLike(vd)) {
    const first = await firstBatch(await iteratorOf(vd, 'validationData'), io, 'validationData');
    owned.push(first);
    val = { dataset: vd, first };
    checkAgainstModel(first, facts, 'validationData');
  } else if (vd !== undefined) {
    const vx = columns(vd[0], 'validationData[0]', model.inputs.length);
    const vy = columns(vd[1], 'validationData[1]', model.outputs.length);
    checkShapes(vx, 'validationData[0]', { role: 'input', ...facts.inputs });
    checkShapes(vy, 'validationData[1]', { role: 'output', ...facts.outputs });
    if (o.checkNumerics) {
      checkFinite(vx, 'validationData[0]');
      checkFinite(vy, 'validationData[1]');
    }
    val = { data: { x: vx, y: vy } };
  }
  const xCols = shapeColumns(peeked.xs);
  const yCols = shapeColumns(peeked.ys);
  const slotRows = r.maxBatchSize ?? peeked.size;
  if (peeked.size > slotRows) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `options.maxBatchSize ${slotRows} is smaller than the dataset's first batch (${peeked.size} samples)`);
  }

  const callbacks = callbacksOf(o);
  // The ring: up to twice the steps of an execution (half in flight, half read ahead), within RING_BYTES.
  const rowBytes = [...xCols, ...yCols].reduce((a, c) => a + 4 * c.sample.reduce((x, y) => x * y, 1), 0);
  const slots = Math.max(2, Math.min(2 * callbacks.stepsPerExecution, Math.floor(RING_BYTES / (rowBytes * slotRows))));
  const stepsPerExecution = Math.max(1, Math.min(callbacks.stepsPerExecution, Math.floor(slots / 2)));
  const valFirst = val !== undefined && 'first' in val ? val.first : undefined;
  const layout = batchRingLayout({
    slots,
    slotRows,
    inputs: specsOf(xCols),
    targets: specsOf(yCols),
    val:
      val === undefined
        ? undefined
        : 'data' in val
          ? { ...splitSpecOf(val.data, val.data.x[0].count), rows: val.data.x[0].count }
          : { rows: Math.max(valFirst!.size, slots * slotRows), inputs: specsOf(shapeColumns(valFirst!.xs)), targets: specsOf(shapeColumns(valFirst!.ys)) },
  });
  if (valFirst !== undefined) disposeBatch(valFirst);
  const buffer = new SharedArrayBuffer(layout.bytes);
  if (val !== undefined && 'data' in val) fillSplit(buffer, layout.splits.val, val.data, 0, val.data.x[0].count);
  const shared: SharedDataset = {
    buffer,
    layout,
    decode: { inputScale: 1, oneHot: 0 },
    trainCount: layout.splits.train.count,
    testCount: layout.splits.val?.count ?? 0,
  };

  const classWeights = classWeightTables(o.classWeight, facts.outputs.names, yCols, 0);
  const source = new DatasetBatches({
    dataset,
    io,
    buffer,
    ring: layout,
    iterator,
    peeked,
    batchesPerEpoch: r.batchesPerEpoch,
    checkNumerics: o.checkNumerics,
    checkTargets:
      classWeights === undefined
        ? undefined
        : (b, where) => {
            const ys = b.ys.map((t) => ({ values: t.dataSync(), sample: t.shape.slice(1) }));
            checkClassesWeighted(o.classWeight, facts.outputs.names, ys, b.size, (k) => `${where}: ys${ys.length > 1 ? `[${k}]` : ''}`);
          },
  });
  // The source owns the first batch now (it disposes it when closed).
  owned.length = 0;
  const validation =
    val !== undefined && 'dataset' in val
      ? new DatasetValidation({ dataset: val.dataset, io, buffer, layout, validationBatches: r.validationBatches, checkNumerics: o.checkNumerics })
      : undefined;
  const bpe = r.batchesPerEpoch;
  const schedule: LrScheduleOptions | undefined =
    bpe === undefined
      ? undefined
      : {
          base: facts.optimizer.learningRate,
          scale: o.lrScale,
          baseBatch: o.lrBaseBatch,
          batch: peeked.size,
          warmupEpochs: o.lrWarmupEpochs,
          decay: o.lrDecay,
          epochs: o.epochs,
          stepsPerEpoch: bpe,
        };
  const size = Number.isFinite(dataset.size) && (dataset.size ?? -1) >= 0 ? (dataset.size as number) : null;
  return runSession(model, {
    options: o,
    facts,
    callbacks,
    workerConfig: workerConfigOf(o, facts, { maxBatch: slotRows, classWeights, stepsPerExecution }),
    dataset: () => shared,
    source,
    validation: validation !== undefined ? { run: (t) => validation.run(t) } : val !== undefined ? { split: 'val' } : undefined,
    // As fitDataset: steps from batchesPerEpoch or a finite dataset.size; samples and batch size unknown.
    params: { samples: null, steps: bpe ?? size, batchSize: null },
    dataShape: { inputShape: xCols[0].sample, classes: yCols[0].sample[yCols[0].sample.length - 1] ?? 1, trainCount: 0 },
    batchSize: peeked.size,
    shuffle: false,
    trajectory: { batchesPerEpoch: bpe ?? null },
    learningRateAt: schedule === undefined || isConstant(schedule) ? undefined : (step) => lrAt(schedule, step),
    beforeLoop: async (position, resumed) => {
      if (!resumed) return;
      // The loop starts an epoch whose last batch was trained at the next one.
      const epoch = position.epoch + (bpe !== undefined && position.stepInEpoch >= bpe ? 1 : 0);
      await source.fastForward(o.initialEpoch, epoch);
      await validation?.fastForward(epoch - o.initialEpoch);
    },
    close: async () => source.close(),
  });
}
