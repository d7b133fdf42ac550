/**
 * One step path: a model with non-trainable weights (BatchNormalization's moving statistics)
 * runs executions of several steps, committed by the last rank in, which also averages the
 * statistics. The promise: the same bits as one step per round trip, also through a worker fault.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation } from '@threadfit/shared';
import { Trainer, coordinatorTf, modelSpecOf, shareImageDataset, loadImageDataset, type SharedDataset, type TrainerConfig } from '@threadfit/coordinator';
import { parseFault } from '../packages/coordinator/src/engine/faults.js';
import { tempDir, writeSyntheticIdxSet } from './helpers.js';

const STEPS = 8;
let shared: SharedDataset;
let trainers: Trainer[] = [];
const tmp = tempDir();

beforeAll(async () => {
  await coordinatorTf();
  writeSyntheticIdxSet(tmp.dir, { train: 512, test: 64 });
  shared = shareImageDataset(loadImageDataset(tmp.dir));
  return () => tmp.cleanup();
});
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

/** Dense(16, relu) -> BatchNormalization -> Dense(10, softmax), Adam, on 2 wasm workers; STEPS steps of 64 rows. */
async function run(extra: Partial<TrainerConfig>): Promise<{ trainer: Trainer; weights: Float32Array[]; losses: number[] }> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization(),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
  const spec = modelSpecOf(model);
  const initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const trainer = await Trainer.create({
    workers: 2,
    backend: 'wasm',
    model: spec,
    initialWeights,
    dataset: shared,
    maxBatch: 64,
    optimizer: { ...ADAM_DEFAULTS, learningRate: 0.01 },
    ...extra,
  });
  trainers.push(trainer);
  const order = epochPermutation(shared.trainCount, 3, 0);
  const batches = Array.from({ length: STEPS }, (_, s) => order.subarray(s * 64, (s + 1) * 64));
  const losses = (await trainer.trainSteps(batches)).map((s) => s.lossSum);
  return { trainer, weights: trainer.committedWeights(), losses };
}

const bits = (ws: Float32Array[]) => ws.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString('hex'));

describe('executions with non-trainable weights', () => {
  let perStep: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    perStep = await run({ stepsPerExecution: 1 });
  });

  it('4 steps per execution: the same weights and moving statistics, bit for bit, as one step per round trip', async () => {
    const r = await run({ stepsPerExecution: 4 });
    expect(r.trainer.stepsPerExecution).toBe(4);
    expect(r.trainer.step).toBe(STEPS);
    expect(r.losses).toEqual(perStep.losses);
    expect(bits(r.weights)).toEqual(bits(perStep.weights));
    // The moving mean (weight 4: gamma, beta, moving mean, moving variance after the kernel and bias) moved.
    const movingMean = r.weights[4];
    expect(movingMean.some((v) => v !== 0)).toBe(true);
  });

  it('a crash mid-execution: the step reruns and the bits are those of the fault-free run', async () => {
    const r = await run({ stepsPerExecution: 4, injectFault: parseFault('crash@step=6,rank=1') });
    expect(r.trainer.restarts).toBe(1);
    expect(bits(r.weights)).toEqual(bits(perStep.weights));
  });
});
