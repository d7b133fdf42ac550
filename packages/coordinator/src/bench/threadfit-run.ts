/**
 * threadfit's side of a measurement: the seed model on the shared data set, `Trainer.trainSteps`
 * over each repeat's batches (no validation, no callbacks), timed per repeat after a warm-up. Runs inside a child
 * process (child.ts), so its peak RSS is this configuration's alone.
 */
import { ADAM_DEFAULTS } from '@threadfit/shared';
import { shareImageDataset } from '../data/dataset.js';
import { loadImageDataset } from '../data/mnist.js';
import { modelSpecOf } from '../engine/model-spec.js';
import { buildSeedModel } from '../data/seed-model.js';
import { coordinatorTf } from '../cli/train.js';
import { Trainer, type StepMs } from '../engine/trainer.js';
import { BatchStream, STEP_PHASES, median, medianStepMs, peakRssMb, stepsPerRepeat } from './measure.js';
import type { Measurement, ThreadfitRun } from './protocol.js';

export async function runThreadfit(cfg: ThreadfitRun, progress: (text: string) => void): Promise<Measurement> {
  const tf = await coordinatorTf();
  const shared = shareImageDataset(loadImageDataset(cfg.dataDir));
  const inputSize = shared.layout.splits.train.inputs[0].shape[0];
  const model = buildSeedModel(tf, { seed: cfg.seed, inputSize, classes: shared.decode.oneHot });
  const spec = modelSpecOf(model);
  const initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();

  const trainer = await Trainer.create({
    workers: cfg.workers,
    backend: cfg.backend,
    model: spec,
    initialWeights,
    dataset: shared,
    maxBatch: cfg.batchSize,
    optimizer: { ...ADAM_DEFAULTS },
    seed: cfg.seed,
    gradients: cfg.gradients,
    stepsPerExecution: cfg.stepsPerExecution,
    logLevel: 'warn',
  });
  try {
    // Step mode times full batches only; epoch mode keeps each epoch's partial last batch.
    const epochMode = cfg.epochs !== undefined;
    const batches = new BatchStream(shared.trainCount, cfg.batchSize, cfg.seed, !epochMode);
    if (cfg.warmup > 0) progress(`warm-up: ${cfg.warmup} step${cfg.warmup === 1 ? '' : 's'}`);
    await trainer.trainSteps(Array.from({ length: cfg.warmup }, () => batches.next()));

    const steps = stepsPerRepeat(cfg, shared.trainCount);
    const rates: number[] = [];
    const stepMs: StepMs[] = [];
    for (let r = 0; r < cfg.repeats; r++) {
      if (epochMode) batches.nextEpoch();
      const sum = { grad: 0, update: 0, coord: 0, data: 0 };
      let samples = 0;
      const work = Array.from({ length: steps }, () => batches.next());
      const t0 = performance.now();
      await trainer.trainSteps(work, {
        onStep: (stats) => {
          samples += stats.count;
          for (const k of STEP_PHASES) sum[k] += stats.ms[k];
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      rates.push(samples / seconds);
      for (const k of STEP_PHASES) sum[k] /= steps;
      stepMs.push(sum);
      progress(`repeat ${r + 1}/${cfg.repeats}: ${Math.round(rates[r]).toLocaleString('en-US')} samples/s`);
    }
    return {
      samplesPerSec: median(rates),
      stepMs: medianStepMs(stepMs),
      peakRssMb: peakRssMb(),
      repeatSamplesPerSec: rates,
      gradPath: trainer.gradPath,
      nativeKind: trainer.nativeKind,
      stepsPerExecution: trainer.stepsPerExecution,
    };
  } finally {
    await trainer.close();
  }
}
