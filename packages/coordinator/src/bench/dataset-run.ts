/**
 * threadfit's side of a `bench --input dataset` measurement: the seed model on MNIST fed as a
 * user's tf.data pipeline would be (batches made on the main thread from a seeded permutation,
 * float32 pixels, one-hot labels), streamed through parallelFitDataset's ring of slots. One
 * warm-up epoch of `steps` batches, then each repeat an epoch of `steps` batches; the figures are
 * the fit loop's own epoch records, whose `data` column includes the time a step waited for the
 * iterator. Runs inside a child process (child.ts).
 */
import { loadImageDataset } from '../data/mnist.js';
import { buildSeedModel } from '../data/seed-model.js';
import { idxDataset } from '../data/user-data.js';
import { coordinatorTf } from '../cli/train.js';
import { fitDatasetRun } from '../fit/parallel-fit-dataset.js';
import { median, medianStepMs, peakRssMb, stepsPerRepeat } from './measure.js';
import type { Measurement, ThreadfitRun } from './protocol.js';

export async function runThreadfitDataset(cfg: ThreadfitRun, progress: (text: string) => void): Promise<Measurement> {
  const tf = await coordinatorTf();
  const data = loadImageDataset(cfg.dataDir);
  const inputSize = data.train.rows * data.train.cols;
  const model = buildSeedModel(tf, { seed: cfg.seed, inputSize, classes: data.numClasses });
  const split = {
    x: data.train.images,
    labels: data.train.labels,
    sample: [inputSize],
    count: data.train.count,
    files: [data.source, data.source] as [string, string],
  };
  const dataset = idxDataset(
    tf,
    split,
    { inputShape: [inputSize], encoding: { kind: 'one-hot', width: data.numClasses, classes: data.numClasses } },
    cfg.batchSize,
    cfg.seed,
  );
  const steps = stepsPerRepeat(cfg, data.train.count);
  progress(`warm-up: one epoch of ${steps} steps, then ${cfg.repeats} of ${steps}`);
  try {
    const { fit, gradPath, nativeKind } = await fitDatasetRun(model, dataset, {
      epochs: 1 + cfg.repeats,
      batchesPerEpoch: steps,
      workers: cfg.workers,
      backend: cfg.backend,
      seed: cfg.seed,
      verbose: 0,
      gradients: cfg.gradients,
      stepsPerExecution: cfg.stepsPerExecution,
      callbacks: { onEpochEnd: async (epoch: number) => (epoch > 0 ? progress(`repeat ${epoch}/${cfg.repeats} done`) : undefined) },
    });
    const timed = fit.epochs.slice(1);
    const rates = timed.map((e) => e.samplesPerSec);
    return {
      samplesPerSec: median(rates),
      stepMs: medianStepMs(timed.map((e) => e.stepMs)),
      peakRssMb: peakRssMb(),
      repeatSamplesPerSec: rates,
      stepsPerExecution: cfg.stepsPerExecution,
      gradPath,
      nativeKind,
    };
  } finally {
    model.dispose();
  }
}
