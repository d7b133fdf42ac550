/**
 * `threadfit train`: the reference run. Loads the data set into shared memory, builds the seed
 * MLP, trains it data-parallel, validates on the test split every epoch, and reports.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import * as tf from '@tensorflow/tfjs';
import { ADAM_DEFAULTS, ErrorCodes, ThreadfitError, stepsPerEpoch, type Logger } from '@threadfit/shared';
import { resolveBackend } from './backend-choice.js';
import { shareImageDataset } from './dataset.js';
import { runFitLoop } from './fit-loop.js';
import { loadImageDataset } from './mnist.js';
import { modelSpecOf, weightsSha256 } from './model-spec.js';
import type { ResolvedTrainOptions } from './options.js';
import { ProgressReporter } from './progress.js';
import { epochsOf, historyForReport, writeJsonAtomic, type TrainReport } from './report.js';
import { buildSeedModel } from './seed-model.js';
import { Trainer } from './trainer.js';
import { VERSION } from './version.js';

export interface RunIO {
  logger: Logger;
  out: Writable & { isTTY?: boolean; columns?: number };
}

/** Refuses an output path whose directory is missing or read-only before any work is done. */
export function checkWritableFile(file: string, flag: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: directory ${dir} does not exist`);
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: directory ${dir} is not writable`);
  }
  if (existsSync(file) && statSync(file).isDirectory()) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: is a directory`);
}

/** The coordinator's own tfjs only builds the model and reads its weights: the cpu backend, quiet. */
export async function coordinatorTf(): Promise<typeof tf> {
  tf.env().set('PROD', true);
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  return tf;
}

export async function runTraining(o: ResolvedTrainOptions, io: RunIO): Promise<TrainReport> {
  const log = io.logger.child({ component: 'train' });
  if (o.report !== undefined) checkWritableFile(o.report, '--report');
  const t0 = performance.now();
  const data = loadImageDataset(o.dataDir);
  const shared = shareImageDataset(data);
  const inputSize = data.train.rows * data.train.cols;
  log.info({ dataset: data.name, train: data.train.count, test: data.test.count, ms: Math.round(performance.now() - t0) }, 'data set loaded into shared memory');

  const backend = resolveBackend(o.backend);
  const tfc = await coordinatorTf();
  const model = buildSeedModel(tfc, { seed: o.seed, inputSize, learningRate: o.learningRate });
  const spec = modelSpecOf(model);
  const initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();

  const perRank = Math.ceil(o.batchSize / o.workers);
  log.info({ workers: o.workers, backend, globalBatch: o.batchSize, perWorkerBatch: perRank, params: spec.paramCount }, `global batch ${o.batchSize} = ${o.workers} workers x ~${perRank}`);
  const trainer = await Trainer.create({
    workers: o.workers,
    backend,
    model: spec,
    initialWeights,
    dataset: shared,
    maxBatch: o.batchSize,
    optimizer: { ...ADAM_DEFAULTS, learningRate: o.learningRate },
  });
  try {
    const steps = stepsPerEpoch(shared.trainCount, o.batchSize);
    const callbacks = o.quiet ? [] : [new ProgressReporter({ epochs: o.epochs, stepsPerEpoch: steps, out: io.out })];
    const fit = await runFitLoop(trainer, {
      epochs: o.epochs,
      initialEpoch: 0,
      batchSize: o.batchSize,
      shuffle: true,
      seed: o.seed,
      trainCount: shared.trainCount,
      metricNames: ['acc'],
      validationSplit: 'test',
      callbacks: [...callbacks, { onEpochEnd: (epoch, logs) => log.debug({ epoch: epoch + 1, ...logs }, 'epoch end') }],
      shouldStop: () => false,
    });
    const test = await trainer.evaluate('test');
    const report: TrainReport = {
      threadfit: VERSION,
      config: { workers: o.workers, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, seed: o.seed, backend, dataset: data.name },
      history: historyForReport(fit.history),
      epochs: epochsOf(fit),
      test: { loss: test.loss, acc: test.metrics[0] },
      weightsSha256: await weightsSha256(trainer.committedWeights()),
    };
    if (o.report !== undefined) writeJsonAtomic(o.report, report);
    return report;
  } finally {
    await trainer.close();
  }
}
