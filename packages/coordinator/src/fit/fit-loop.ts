/**
 * The epoch/batch loop with tfjs's fit semantics: callbacks in tfjs's order with the same logs
 * keys, `shouldStop()` checked after every batch, sample-weighted epoch means (tfjs's BaseLogger),
 * validation after every epoch, History filled once per epoch.
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import type { EvalStats, StepStats, Trainer } from '../engine/trainer.js';
import { PermutationBatches, type BatchSource } from './batch-source.js';

export type Logs = Record<string, number>;

export interface FitCallbacks {
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
}

/** Batches of rows of the train split in memory: `batchSize` at a time, shuffled per epoch or not. */
export interface PermutationInput {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  trainCount: number;
}

/** The loop's data: rows of the train split in memory, or any BatchSource (a dataset's ring of slots). */
export type FitLoopOptions = FitLoopCommon & (PermutationInput | { source: BatchSource });

export interface FitLoopCommon {
  epochs: number;
  initialEpoch: number;
  /** History keys of the metrics after 'loss', e.g. ['acc'] (model.metricsNames minus 'loss'). */
  metricNames: string[];
  /** Split to validate on after each epoch ('test' in the CLI), or none. */
  validationSplit?: string;
  /** How to validate after each epoch when not a split (a validation dataset); wins over validationSplit. */
  validate?(): Promise<EvalStats>;
  callbacks: FitCallbacks[];
  shouldStop(): boolean;
  /**
   * Where training stands; updated after every step, so that a checkpoint, a signal handler or an
   * error handler knows what is committed. Start values resume a run mid-epoch: batches
   * [0, position.stepInEpoch) of `initialEpoch` are skipped.
   */
  position?: FitPosition;
  /** The learning rate of the step with this 0-based index in the run; none: the optimizer's own. */
  learningRateAt?(globalStep: number): number;
  /** At every epoch end (after the callbacks): how many workers the next epoch uses (elastic). */
  workersForEpoch?(epoch: number): number | undefined;
  /**
   * Called after every committed (or skipped) step, and after every epoch's validation. With
   * executions of several steps, after each execution; `afterStepDue` says after which steps it
   * must be called (a checkpoint is due there), and an execution ends at those.
   */
  afterStep?(position: FitPosition): void | Promise<void>;
  afterStepDue?(globalStep: number): boolean;
  /**
   * The most steps the workers run on their own between two visits of this loop (Keras's
   * steps_per_execution; capped by the trainer's). Default 1. Above 1, the batch callbacks of an
   * execution's steps are called once it returns, and shouldStop() is checked after it.
   */
  stepsPerExecution?: number;
  afterEpoch?(position: FitPosition): void | Promise<void>;
}

export interface FitPosition {
  /** Epochs completed. */
  epoch: number;
  /** Batches done in the current epoch. */
  stepInEpoch: number;
  /** Steps done in the run, skipped ones included. */
  globalStep: number;
}

export interface EpochRecord {
  epoch: number;
  steps: number;
  seconds: number;
  samplesPerSec: number;
  skippedSteps: number;
  /** Per-step means of the step-time breakdown, ms. */
  stepMs: StepStats['ms'];
  /** Several hosts: each host's own figures (host-rank order), to spot stragglers. */
  hosts?: HostEpochRecord[];
}

export interface HostEpochRecord {
  hostRank: number;
  steps: number;
  seconds: number;
  /** This host's samples per second (its shard of each batch). */
  samplesPerSec: number;
  stepMs: Required<StepStats['ms']>;
}

export interface FitResult {
  epoch: number[];
  history: Record<string, number[]>;
  epochs: EpochRecord[];
}

async function each(cbs: FitCallbacks[], fn: (cb: FitCallbacks) => void | Promise<void>): Promise<void> {
  for (const cb of cbs) await fn(cb);
}

export async function runFitLoop(trainer: Trainer, o: FitLoopOptions): Promise<FitResult> {
  const history: Record<string, number[]> = {};
  const push = (logs: Logs) => {
    for (const [k, v] of Object.entries(logs)) (history[k] ??= []).push(v);
  };
  const result: FitResult = { epoch: [], history, epochs: [] };
  const source: BatchSource = 'source' in o ? o.source : new PermutationBatches(o.trainCount, o.batchSize, o.shuffle, o.seed);
  const steps = source.stepsPerEpoch;
  const pos: FitPosition = o.position ?? { epoch: o.initialEpoch, stepInEpoch: 0, globalStep: 0 };
  let initialEpoch = o.initialEpoch;
  if (steps !== undefined && pos.stepInEpoch >= steps) {
    // Resumed from a state taken after an epoch's last step but before its end was recorded.
    initialEpoch = pos.epoch = pos.epoch + 1;
    pos.stepInEpoch = 0;
  }
  await each(o.callbacks, (cb) => cb.onTrainBegin?.({}));
  applyWorkersForEpoch(trainer, o, initialEpoch);
  for (let epoch = initialEpoch; epoch < o.epochs; epoch++) {
    await each(o.callbacks, (cb) => cb.onEpochBegin?.(epoch, {}));
    const firstBatch = epoch === initialEpoch ? pos.stepInEpoch : 0;
    await source.beginEpoch(epoch, firstBatch);
    const t0 = performance.now();
    let seen = 0;
    let lossSum = 0;
    let skipped = 0;
    let metricSums = o.metricNames.map(() => 0);
    const ms: StepStats['ms'] = { grad: 0, update: 0, coord: 0, data: 0 };
    let commMs = 0;
    let done = 0;
    const perExecution = Math.max(1, Math.min(o.stepsPerExecution ?? 1, trainer.stepsPerExecution));
    let batch = firstBatch;
    let completed = false;
    for (;;) {
      // An execution: consecutive batches of one size (the source's cut), ending where a checkpoint
      // is due. A stop asked for before it (a callback's onTrainBegin or onEpochBegin, a timer)
      // gets one step, as model.fit trains the batch in progress and then stops.
      let most = 1;
      while (most < perExecution && !o.shouldStop() && !o.afterStepDue?.(pos.globalStep + most)) most++;
      const batches = await source.take(most);
      const k = batches.length;
      if (k === 0) {
        // A source that ends an epoch before its first batch (a generator object reused, whose
        // second iterator() yields nothing) would record a loss of 0/0.
        if (batch === 0 && source.exhausted !== true) {
          throw new ThreadfitError(
            ErrorCodes.BAD_DATA,
            `epoch ${epoch + 1}: the data yielded no batch (a dataset whose iterator() does not start over each epoch?)`,
          );
        }
        completed = batch > 0;
        break;
      }
      // Waiting for the data (a dataset's iterator) counts as the steps' data time.
      const waitPerStep = source.waitMs / k;
      const rates = o.learningRateAt === undefined ? undefined : batches.map((_, i) => o.learningRateAt!(pos.globalStep + i));
      // model.fit hands onBatchBegin an empty logs object (it fills batch/size afterwards).
      if (k === 1) await each(o.callbacks, (cb) => cb.onBatchBegin?.(batch, {}));
      const first = batch;
      const made = await trainer.trainSteps(batches, {
        learningRates: rates,
        // Per step, as soon as the execution returns (also when a later step of it fails), so
        // that the position always names what is committed.
        onStep: (s) => {
          done++;
          pos.epoch = epoch;
          pos.stepInEpoch = ++batch;
          pos.globalStep++;
          if (s.skipped) skipped++;
          seen += s.count;
          lossSum += s.lossSum;
          metricSums = metricSums.map((m, i) => m + (s.metricSums[i] ?? 0));
          for (const key of ['grad', 'update', 'coord', 'data'] as const) ms[key] += s.ms[key];
          ms.data += waitPerStep;
          commMs += s.ms.comm ?? 0;
        },
      });
      for (let i = 0; i < made.length; i++) {
        const s = made[i];
        if (k > 1) await each(o.callbacks, (cb) => cb.onBatchBegin?.(first + i, {}));
        const batchLogs: Logs = { batch: first + i, size: s.count, loss: s.lossSum / s.count };
        o.metricNames.forEach((name, m) => (batchLogs[name] = s.metricSums[m] / s.count));
        await each(o.callbacks, (cb) => cb.onBatchEnd?.(first + i, batchLogs));
      }
      // A step that ended the epoch is recorded by afterEpoch, once validation is done.
      if (steps === undefined || batch < steps) await o.afterStep?.(pos);
      if (o.shouldStop()) break;
      if (steps !== undefined && batch >= steps) {
        completed = true;
        break;
      }
    }
    // A dataset that ran out (batchesPerEpoch) exactly at this epoch's start: training ends here.
    if (done === 0 && batch === 0) break;
    const seconds = (performance.now() - t0) / 1000;
    // Key order as model.fit's History: validation first (tfjs's fitLoop writes them into the
    // epoch logs before its BaseLogger adds the training means).
    const logs: Logs = {};
    if (o.validate !== undefined || o.validationSplit !== undefined) {
      const v = o.validate !== undefined ? await o.validate() : await trainer.evaluate(o.validationSplit);
      logs.val_loss = v.loss;
      o.metricNames.forEach((name, i) => (logs[`val_${name}`] = v.metrics[i]));
    }
    for (const k of ['grad', 'update', 'coord', 'data'] as const) ms[k] /= Math.max(done, 1);
    commMs /= Math.max(done, 1);
    let hosts: HostEpochRecord[] | undefined;
    if (trainer.hosts > 1) {
      // Epoch means over every host's samples, and each host's timings (the straggler table).
      const rows = await trainer.acrossHosts([seen, lossSum, ...metricSums, seconds, done, ms.grad, ms.update, commMs, ms.coord, ms.data]);
      const k = 2 + metricSums.length;
      seen = rows.reduce((a, r) => a + r[0], 0);
      lossSum = rows.reduce((a, r) => a + r[1], 0);
      metricSums = metricSums.map((_, i) => rows.reduce((a, r) => a + r[2 + i], 0));
      hosts = rows.map((r, hostRank) => ({
        hostRank,
        seconds: r[k],
        steps: r[k + 1],
        samplesPerSec: r[0] / r[k],
        stepMs: { grad: r[k + 2], update: r[k + 3], comm: r[k + 4], coord: r[k + 5], data: r[k + 6] },
      }));
      ms.comm = commMs;
    }
    logs.loss = lossSum / seen;
    o.metricNames.forEach((name, i) => (logs[name] = metricSums[i] / seen));
    result.epoch.push(epoch);
    push(logs);
    result.epochs.push({ epoch: epoch + 1, steps: done, seconds, samplesPerSec: seen / seconds, skippedSteps: skipped, stepMs: ms, ...(hosts && { hosts }) });
    await each(o.callbacks, (cb) => cb.onEpochEnd?.(epoch, logs));
    applyWorkersForEpoch(trainer, o, epoch + 1);
    if (completed) {
      pos.epoch = epoch + 1;
      pos.stepInEpoch = 0;
      await o.afterEpoch?.(pos);
    }
    if (o.shouldStop() || source.exhausted === true) break;
  }
  await each(o.callbacks, (cb) => cb.onTrainEnd?.({}));
  return result;
}

/** The elastic resize a caller asks for at an epoch boundary; a bad answer names the option. */
function applyWorkersForEpoch(trainer: Trainer, o: FitLoopOptions, epoch: number): void {
  const n = o.workersForEpoch?.(epoch);
  if (n === undefined || n === trainer.activeWorkers) return;
  if (!Number.isInteger(n) || n < 1 || n > trainer.workers) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `options.workersForEpoch(${epoch}) must return an integer in 1..${trainer.workers} (the pool's size), got ${n}`,
    );
  }
  trainer.resize(n);
}
