/**
 * `threadfit evaluate --checkpoint DIR`: test loss and metrics of a checkpoint, computed by the
 * same Trainer (worker threads, shared data set) that trains, so the numbers equal what
 * `trainer.evaluate('test')` gave at the time the checkpoint was written.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, type Logger } from '@threadfit/shared';
import { resolveBackend } from '../engine/backend-choice.js';
import { CHECKPOINT_FILES, checkCompatible, loadCheckpoint, loadLatestCheckpoint, type LoadedCheckpoint } from '../checkpoint/store.js';
import { shareImageDataset } from '../data/dataset.js';
import { loadImageDataset } from '../data/mnist.js';
import { modelSpecOf, weightsSha256 } from '../engine/model-spec.js';
import type { OptionSource } from '../options/kinds.js';
import { resolveOn, type OptionsOn, type ResolvedOn } from '../options/surfaces.js';
import { writeJsonAtomic } from './report.js';
import { checkWritableFile, coordinatorTf } from './train.js';
import { Trainer, type TrainerConfig } from '../engine/trainer.js';
import { VERSION } from '../version.js';

/** `threadfit evaluate`'s options (schema.ts): checkpoint (required), dataDir, backend, workers, report, logLevel, logFormat. */
export type EvaluateOptions = OptionsOn<'evaluate'>;
export type ResolvedEvaluateOptions = ResolvedOn<'evaluate'>;

export interface EvaluateReport {
  threadfit: string;
  checkpoint: { path: string; name: string; epoch: number; stepInEpoch: number; globalStep: number; optimizerStep: number };
  config: { workers: number; backend: string; dataset: string };
  /** Sample count, mean loss, and each metric under its History key (acc for 'accuracy'). */
  test: { count: number; loss: number } & Record<string, number>;
  weightsSha256: string;
}

export function validateEvaluateOptions(input: EvaluateOptions, source: OptionSource = 'options'): ResolvedEvaluateOptions {
  return resolveOn('evaluate', input, source).options;
}

/** A root (newest valid, with fallback) or one checkpoint directory; bad values are exit-2 errors naming --checkpoint. */
export async function resolveCheckpoint(path: string, flag = '--checkpoint'): Promise<{ checkpoint: LoadedCheckpoint; warnings: string[] }> {
  if (!existsSync(path)) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${path}: no such directory`);
  if (!statSync(path).isDirectory()) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${path}: is not a directory`);
  if (existsSync(join(path, CHECKPOINT_FILES.meta)) || /^ckpt-\d+$/.test(basename(path))) {
    try {
      return { checkpoint: await loadCheckpoint(path), warnings: [] };
    } catch (err) {
      const e = err as ThreadfitError;
      throw new ThreadfitError(e.code ?? ErrorCodes.CHECKSUM, `${flag} ${path}: ${e.message}`, { cause: err });
    }
  }
  const { checkpoint, warnings } = await loadLatestCheckpoint(path, undefined, flag);
  if (checkpoint === undefined) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${path}: holds no checkpoint`);
  return { checkpoint, warnings };
}

/** The History key of a metric identifier, as tfjs names it ('accuracy' -> 'acc'). */
const metricKey = (m: string): string => (m === 'accuracy' || m === 'acc' ? 'acc' : m);

export async function runEvaluate(o: ResolvedEvaluateOptions, io: { logger: Logger; out: Writable }): Promise<EvaluateReport> {
  const log = io.logger.child({ component: 'evaluate' });
  if (o.report !== undefined) checkWritableFile(o.report, '--report');
  const { checkpoint: ckpt, warnings } = await resolveCheckpoint(o.checkpoint);
  for (const w of warnings) log.warn({ code: 'THREADFIT_CHECKPOINT_SKIPPED' }, w);
  log.info({ checkpoint: ckpt.path, epoch: ckpt.epoch, globalStep: ckpt.globalStep }, `evaluating ${ckpt.name}`);

  // Without --data-dir, the data the checkpoint was trained on (a Fashion-MNIST checkpoint must not
  // be scored on MNIST silently).
  const trainedOn = typeof ckpt.config.dataDir === 'string' ? ckpt.config.dataDir : undefined;
  if (o.dataDir === undefined && trainedOn !== undefined && !existsSync(trainedOn)) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `checkpoint ${ckpt.name} was trained on --data-dir ${trainedOn}, which no longer exists; pass --data-dir`,
    );
  }
  const data = loadImageDataset(o.dataDir ?? trainedOn);
  checkCompatible(ckpt, { dataShape: { inputShape: [data.test.rows * data.test.cols], classes: data.numClasses } });
  const shared = shareImageDataset(data);

  const tf = await coordinatorTf();
  const model = await tf.models.modelFromJSON({ modelTopology: ckpt.modelTopology } as tfTypes.io.ModelJSON);
  const lossId = ckpt.loss.length === 1 ? ckpt.loss[0] : ckpt.loss;
  model.compile({ loss: lossId, metrics: ckpt.metrics, optimizer: 'adam' });
  const spec = modelSpecOf(model);
  model.dispose();
  // The topology rebuilt the model; its weights must be the checkpoint's, position by position.
  checkCompatible(ckpt, { weights: spec.weights });

  const backend = resolveBackend(o.backend);
  const trainer = await Trainer.create({
    workers: o.workers,
    backend,
    model: spec,
    initialWeights: ckpt.weights,
    dataset: shared,
    maxBatch: 1,
    // Never applied (no step is made); the Trainer sizes the optimizer state by it.
    optimizer: { kind: ckpt.optimizer.kind, ...ckpt.optimizer.config } as unknown as TrainerConfig['optimizer'],
  });
  try {
    const r = await trainer.evaluate('test');
    const metrics = Object.fromEntries(spec.metrics.map((m, i) => [metricKey(m), r.metrics[i]]));
    const report: EvaluateReport = {
      threadfit: VERSION,
      checkpoint: {
        path: ckpt.path,
        name: ckpt.name,
        epoch: ckpt.epoch,
        stepInEpoch: ckpt.stepInEpoch,
        globalStep: ckpt.globalStep,
        optimizerStep: ckpt.optimizer.step,
      },
      config: { workers: o.workers, backend, dataset: data.name },
      test: { count: r.count, loss: r.loss, ...metrics },
      weightsSha256: await weightsSha256(trainer.committedWeights()),
    };
    const shown = Object.entries(metrics)
      .map(([k, v]) => ` - ${k} ${v.toFixed(4)}`)
      .join('');
    io.out.write(`Test: loss ${r.loss.toFixed(4)}${shown}\n`);
    if (o.report !== undefined) {
      writeJsonAtomic(o.report, report);
      io.out.write(`Report written to ${o.report}\n`);
    }
    return report;
  } finally {
    await trainer.close();
  }
}
