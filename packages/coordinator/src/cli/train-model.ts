/**
 * `threadfit train --model FILE`: the user's tfjs Layers model on the user's data (IDX of any
 * shape, or a CSV streamed from disk), through parallelFitDataset, with the run's progress,
 * report, checkpoints (the user's model, loadable by tf.loadLayersModel), resume and faults as
 * for the seed. Everything is checked before any thread starts.
 */
import { resolve } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import { resolveBackend } from '../engine/backend-choice.js';
import { faultText } from '../engine/faults.js';
import { lrDecayText } from '../fit/lr-schedule.js';
import { weightsSha256 } from '../engine/model-spec.js';
import { fitDatasetRun } from '../fit/parallel-fit-dataset.js';
import { LogReporter } from '../fit/log-reporter.js';
import type { ResolvedTrainOptions } from '../options/train-options.js';
import { bundledMnistDir } from '../data/mnist.js';
import { checkIdxSplit, csvDataset, idxDataset, idxValidation, loadIdxDir, modelTarget, scanCsv } from '../data/user-data.js';
import type { DatasetLike } from '../fit/dataset-batches.js';
import { loadModelFile, saveModelFiles } from './model-file.js';
import { epochsOf, gradientsKind, gradientsMessage, historyForReport, writeJsonAtomic, type TrainReport } from './report.js';
import { onStopSignals } from './signals.js';
import { checkWritableFile, coordinatorTf, type RunIO, type TrainOutcome } from './train.js';
import { VERSION } from '../version.js';

interface UserData {
  name: string;
  dataset: DatasetLike;
  count: number;
  validation?: [tfTypes.Tensor, tfTypes.Tensor];
}

async function userData(tf: typeof tfTypes, o: ResolvedTrainOptions, model: tfTypes.LayersModel, modelFile: string): Promise<UserData> {
  const target = modelTarget(model, modelFile);
  if (o.data !== undefined) {
    const info = await scanCsv(o.data, o.labelColumn!, target, modelFile);
    return { name: o.data, dataset: csvDataset(tf, info, target, o.batchSize, o.seed), count: info.rows };
  }
  const dir = o.dataDir ?? bundledMnistDir();
  const idx = loadIdxDir(dir);
  checkIdxSplit(idx.train, target, modelFile);
  if (idx.test !== undefined) checkIdxSplit(idx.test, target, modelFile);
  return {
    name: o.dataDir === undefined ? 'mnist' : dir,
    dataset: idxDataset(tf, idx.train, target, o.batchSize, o.seed),
    count: idx.train.count,
    validation: idx.test === undefined ? undefined : idxValidation(tf, idx.test, target),
  };
}

export async function runModelTraining(o: ResolvedTrainOptions, io: RunIO): Promise<TrainOutcome> {
  const log = io.logger.child({ component: 'train' });
  if (o.report !== undefined) checkWritableFile(o.report, '--report');
  const modelFile = resolve(o.model!);
  const tf = await coordinatorTf();
  const model = await loadModelFile(tf, modelFile, { loss: o.loss, optimizer: o.optimizer, metrics: o.metrics });
  const data = await userData(tf, o, model, o.model!);
  const batchesPerEpoch = Math.ceil(data.count / o.batchSize);
  const backend = resolveBackend(o.backend);
  log.info(
    { model: modelFile, params: model.countParams(), data: data.name, samples: data.count, batchesPerEpoch, validation: data.validation?.[0].shape[0] ?? 0 },
    `training ${modelFile} on ${data.count} samples of ${data.name}`,
  );
  const stop = onStopSignals((signal) => {
    model.stopTraining = true;
    log.warn({ signal }, 'stopping after the step in flight (press Ctrl-C again to exit at once)');
  });
  const logReporter = new LogReporter(log);
  try {
    const {
      runHistory: h,
      fit,
      gradPath,
      nativeKind,
      notices,
    } = await fitDatasetRun(model, data.dataset, {
      epochs: o.epochs,
      batchesPerEpoch,
      workers: o.workers,
      backend,
      seed: o.seed,
      verbose: o.quiet ? 0 : 1,
      validationData: data.validation,
      callbacks: {
        onEpochBegin: async (epoch: number) => logReporter.onEpochBegin(epoch),
        onBatchEnd: async (batch: number, logs?: tfTypes.Logs) => logReporter.onBatchEnd(batch, logs as Record<string, number>),
        onEpochEnd: async (epoch: number, logs?: tfTypes.Logs) => logReporter.onEpochEnd(epoch, logs as Record<string, number>),
      },
      // The log's callbacks need no per-batch round trip: the workers run many steps per execution.
      stepsPerExecution: o.stepsPerExecution,
      checkpointDir: o.checkpointDir,
      checkpointEvery: o.checkpointEvery,
      keepCheckpoints: o.keepCheckpoints,
      resume: o.resume,
      maxRestarts: o.maxRestarts,
      maxSkippedSteps: o.maxSkippedSteps,
      stepTimeoutMs: o.stepTimeoutMs,
      injectFault: o.injectFault === undefined ? undefined : faultText(o.injectFault),
      threadsPerWorker: o.threadsPerWorker,
      gradients: o.gradients,
      deterministic: o.deterministic,
      microBatches: o.microBatches,
      lrScale: o.lrScale,
      lrBaseBatch: o.lrBaseBatch,
      lrWarmupEpochs: o.lrWarmupEpochs,
      lrDecay: lrDecayText(o.lrDecay),
    });
    // Which gradient path ran: the tape's reason, and the traced graph step's decisions.
    log.info({ gradients: gradPath, nativeKernels: nativeKind }, gradientsMessage(gradPath, nativeKind));
    for (const n of notices) log.info({ gradients: 'traced' }, `gradients: ${n}`);
    const last = (k: string) => h[k]?.at(-1) ?? Number.NaN;
    const acc = Object.keys(h).find((k) => /^val_(acc|accuracy)$/.test(k));
    if (o.saveModel !== undefined) {
      await saveModelFiles(model, tf, o.saveModel);
      log.info({ dir: o.saveModel }, 'model saved (model.json + weights.bin)');
    }
    const report: TrainReport = {
      threadfit: VERSION,
      config: {
        workers: o.workers,
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: (model.optimizer as unknown as { learningRate?: number }).learningRate ?? Number.NaN,
        seed: o.seed,
        backend,
        dataset: data.name,
        // How the gradients were computed is part of what the weights' bits depend on.
        gradients: gradientsKind(gradPath),
        ...(nativeKind !== undefined && { nativeKernels: nativeKind }),
        ...(notices.length > 0 && { gradientNotices: [...notices] }),
      },
      history: historyForReport(h),
      epochs: epochsOf(fit),
      test: { loss: last('val_loss'), acc: acc === undefined ? Number.NaN : last(acc) },
      weightsSha256: await weightsSha256(model.getWeights().map((w) => w.dataSync() as Float32Array)),
    };
    if (o.report !== undefined) writeJsonAtomic(o.report, report);
    return { report, interrupted: stop.signal, checkpoint: o.checkpointDir };
  } catch (err) {
    if (err instanceof ThreadfitError || (err as { code?: string }).code?.startsWith('ERR_THREADFIT_')) throw err;
    throw new ThreadfitError(ErrorCodes.WORKER_FAILED, `training --model ${modelFile} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    stop.dispose();
    model.dispose();
    for (const t of data.validation ?? []) t.dispose();
  }
}
