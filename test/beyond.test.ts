/**
 * Beyond the peers: deterministic mode (the same bits for any W), elastic workers, gradient
 * accumulation, learning-rate schedules. Real threads, small model, MNIST-shaped synthetic data.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation } from '@threadfit/shared';
import {
  Trainer,
  buildSeedModel,
  coordinatorTf,
  loadImageDataset,
  modelSpecOf,
  parallelFit,
  shareImageDataset,
  type SharedDataset,
  type TrainerConfig,
} from '@threadfit/coordinator';
import { parseFault } from '../packages/coordinator/src/engine/faults.js';
import { lrAt, parseLrDecay, type LrScheduleOptions } from '../packages/coordinator/src/fit/lr-schedule.js';
import { tempDir, writeSyntheticIdxSet } from './helpers.js';

let shared: SharedDataset;
let trainers: Trainer[] = [];
const tmp = tempDir();

beforeAll(async () => {
  await coordinatorTf();
  writeSyntheticIdxSet(tmp.dir, { train: 1280, test: 64 });
  shared = shareImageDataset(loadImageDataset(tmp.dir));
  return () => tmp.cleanup();
});
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

async function run(
  cfg: Partial<TrainerConfig>,
  steps: number,
  batch: number,
  lr?: (step: number) => number,
): Promise<{ init: Float32Array[]; final: Float32Array[]; trainer: Trainer }> {
  const model = buildSeedModel(tf, { seed: 8, hidden: 16 });
  const spec = modelSpecOf(model);
  const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const trainer = await Trainer.create({
    workers: 1,
    backend: 'wasm',
    model: spec,
    initialWeights: init,
    dataset: shared,
    maxBatch: batch,
    optimizer: ADAM_DEFAULTS,
    ...cfg,
  });
  trainers.push(trainer);
  const order = epochPermutation(shared.trainCount, 8, 0);
  for (let s = 0; s < steps; s++) await trainer.trainStep(order.subarray(s * batch, (s + 1) * batch), { learningRate: lr?.(s) });
  return { init, final: trainer.committedWeights(), trainer };
}

const bits = (ws: Float32Array[]) => Buffer.concat(ws.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength)));
const sameBits = (a: Float32Array[], b: Float32Array[]) => Buffer.compare(bits(a), bits(b)) === 0;
function maxRel(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((w, i) => {
    let d = 0;
    let s = 1e-12;
    for (let k = 0; k < w.length; k++) {
      d = Math.max(d, Math.abs(w[k] - b[i][k]));
      s = Math.max(s, Math.abs(w[k]));
    }
    worst = Math.max(worst, d / s);
  });
  return worst;
}

describe('deterministic mode', () => {
  it('W = 1, 2, 3, 4 give bitwise identical weights (and the ordinary mode does not)', async () => {
    const det = (workers: number) => run({ workers, microBatches: 4 }, 8, 128);
    const w1 = await det(1);
    expect(maxRel(w1.init, w1.final)).toBeGreaterThan(1e-3);
    for (const w of [2, 3, 4]) expect(sameBits((await det(w)).final, w1.final)).toBe(true);
    // Without deterministic mode the summation order follows W: the test above could fail.
    const plain1 = await run({ workers: 1 }, 8, 128);
    const plain2 = await run({ workers: 2 }, 8, 128);
    expect(sameBits(plain1.final, plain2.final)).toBe(false);
  });

  it('elastic: a worker that keeps failing is dropped, and the weights are those of a run that lost none', async () => {
    const clean = await run({ workers: 3, microBatches: 6 }, 6, 96);
    const lossy = await run({ workers: 3, minWorkers: 2, microBatches: 6, injectFault: parseFault('crash@step=3,rank=2,times=100') }, 6, 96);
    expect(lossy.trainer.activeWorkers).toBe(2);
    expect(lossy.trainer.step).toBe(6);
    expect(sameBits(lossy.final, clean.final)).toBe(true);
  });

  it('parallelFit: resizing the workers at an epoch boundary does not change the result', async () => {
    const x = tf.randomUniform([256, 10], 0, 1, 'float32', 5);
    const y = tf.oneHot(tf.argMax(x.slice([0, 0], [256, 3]), 1), 3).toFloat();
    const fit = async (workersForEpoch?: (e: number) => number) => {
      const m = tf.sequential({
        layers: [
          tf.layers.dense({ units: 8, activation: 'relu', inputShape: [10], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
          tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
        ],
      });
      m.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01) });
      await parallelFit(m, x, y, { epochs: 3, batchSize: 64, workers: 3, verbose: 0, deterministic: true, microBatches: 4, workersForEpoch });
      return m.getWeights().map((w) => w.dataSync() as Float32Array);
    };
    const fixed = await fit();
    const resized = await fit((e) => [3, 1, 2][e % 3]);
    expect(sameBits(resized, fixed)).toBe(true);
  });
});

describe('gradient accumulation', () => {
  it('accumulate 4 x batch 32 equals batch 128 within 1e-5 (2 workers)', async () => {
    const once = await run({ workers: 2 }, 6, 128);
    const acc = await run({ workers: 2, accumulate: 4 }, 6, 128);
    expect(maxRel(once.init, once.final)).toBeGreaterThan(1e-3);
    expect(maxRel(acc.final, once.final)).toBeLessThanOrEqual(1e-5);
  });
});

describe('learning-rate schedules', () => {
  const base: LrScheduleOptions = {
    base: 0.001,
    scale: 'none',
    baseBatch: 128,
    batch: 128,
    warmupEpochs: 0,
    decay: { kind: 'none' },
    epochs: 10,
    stepsPerEpoch: 100,
  };

  it('linear scaling, warm-up, step and cosine decay (hand-derived values)', () => {
    // Linear scaling: batch 512 at base batch 128 -> 4 x 0.001.
    expect(lrAt({ ...base, scale: 'linear', batch: 512 }, 500)).toBeCloseTo(0.004, 12);
    // Warm-up over 2 epochs = 200 steps: step k (0-based) gets peak x (k+1)/200.
    const warm = { ...base, warmupEpochs: 2 };
    expect(lrAt(warm, 0)).toBeCloseTo(0.001 / 200, 15);
    expect(lrAt(warm, 99)).toBeCloseTo(0.0005, 15);
    expect(lrAt(warm, 199)).toBeCloseTo(0.001, 15);
    expect(lrAt(warm, 200)).toBe(0.001);
    // Step decay every 3 epochs by 0.5: epoch 7 (step 700) -> 0.001 x 0.5^2.
    expect(lrAt({ ...base, decay: parseLrDecay('step:3:0.5', 't') }, 700)).toBeCloseTo(0.00025, 15);
    // Cosine to 0 over 10 epochs: half-way -> half the peak; the end -> 0.
    const cos = { ...base, decay: parseLrDecay('cosine', 't') };
    expect(lrAt(cos, 500)).toBeCloseTo(0.0005, 12);
    expect(lrAt(cos, 1000)).toBeCloseTo(0, 12);
    expect(() => parseLrDecay('step:0:2', '--lr-decay')).toThrow(/--lr-decay must be none, cosine\[:MIN_LR\] or step:EVERY_EPOCHS:GAMMA/);
  });

  it('the scheduled rate reaches the optimizer: Adam moves each weight by ~lr on its first step', async () => {
    const r = await run({ workers: 2 }, 1, 128, () => 1e-5);
    let maxStep = 0;
    r.final.forEach((w, i) => w.forEach((v, k) => (maxStep = Math.max(maxStep, Math.abs(v - r.init[i][k])))));
    // Adam's first step is lr x m/(sqrt(v)+eps) with |m/sqrt(v)| = 1 where the gradient is not tiny;
    // measured as a float32 weight difference, so within the weights' ulp (~3e-8 near 0.3): 1%.
    expect(maxStep).toBeGreaterThan(0.99e-5);
    expect(maxStep).toBeLessThanOrEqual(1.01e-5);
    // and not the optimizer's own 1e-3
    expect(maxStep).toBeLessThan(1e-4);
  });
});

describe('through the CLI', () => {
  it('--deterministic: 1 and 2 workers give the same weightsSha256; --accumulate, --lr-warmup/--lr-scale/--lr-decay and --workers MIN:MAX run', async () => {
    const { runCli } = await import('./helpers.js');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const base = ['train', '--data-dir', tmp.dir, '--epochs', '1', '--batch-size', '64', '--quiet', '--log-level', 'warn'];
    const sha = async (name: string, extra: string[]) => {
      const file = join(tmp.dir, name);
      const r = await runCli([...base, ...extra, '--report', file]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(readFileSync(file, 'utf8')) as { weightsSha256: string; epochs: Array<{ steps: number }> };
    };
    const a = await sha('d1.json', ['--deterministic', '--micro-batches', '4', '--workers', '1']);
    const b = await sha('d2.json', ['--deterministic', '--micro-batches', '4', '--workers', '2']);
    expect(b.weightsSha256).toBe(a.weightsSha256);
    const acc = await sha('acc.json', ['--accumulate', '2', '--lr-warmup', '0.5', '--lr-scale', 'linear', '--lr-decay', 'cosine', '--workers', '1:2']);
    expect(acc.epochs[0].steps).toBe(Math.ceil(1280 / 128));
    const bad = await runCli([...base, '--workers', '3:2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--workers must be MIN:MAX with 1 <= MIN <= MAX, got "3:2"/);
  });
});
