/**
 * The tensorflow backend (@tensorflow/tfjs-node built from source by scripts/setup-tensorflow.mjs):
 * it loads in several worker threads at once, W=1 and W=2 agree, and a conv model (which wasm
 * cannot differentiate) trains through parallelFit.
 */
import { Worker } from 'node:worker_threads';
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
} from '@threadfit/coordinator';
import { ensureTensorflow } from './tensorflow-setup.js';

let shared: SharedDataset;
let trainers: Trainer[] = [];

beforeAll(async () => {
  ensureTensorflow();
  await coordinatorTf();
  shared = shareImageDataset(loadImageDataset());
}, 660_000);
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

function loadInWorker(): Promise<{ backend: string; product: number[][] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/tfnode-worker.mjs', import.meta.url));
    w.once('message', (m) => {
      resolve(m as { backend: string; product: number[][] });
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe('tensorflow backend', () => {
  it('the addon loads and computes in three worker threads at once', async () => {
    const results = await Promise.all([loadInWorker(), loadInWorker(), loadInWorker()]);
    for (const r of results) {
      expect(r.backend).toBe('tensorflow');
      expect(r.product).toEqual([
        [19, 22],
        [43, 50],
      ]);
    }
  });

  it('W=1 and W=2 reach the same weights within 1e-4 relative after 20 steps', async () => {
    const run = async (workers: number) => {
      const model = buildSeedModel(tf, { seed: 4, hidden: 32 });
      const spec = modelSpecOf(model);
      const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
      model.dispose();
      const t = await Trainer.create({
        workers,
        backend: 'tensorflow',
        model: spec,
        initialWeights: init,
        dataset: shared,
        maxBatch: 128,
        optimizer: ADAM_DEFAULTS,
      });
      trainers.push(t);
      const order = epochPermutation(shared.trainCount, 4, 0);
      for (let s = 0; s < 20; s++) await t.trainStep(order.subarray(s * 128, (s + 1) * 128));
      return { init, final: t.committedWeights() };
    };
    const one = await run(1);
    const two = await run(2);
    one.final.forEach((w, i) => {
      let diff = 0;
      let scale = 0;
      let moved = 0;
      for (let k = 0; k < w.length; k++) {
        diff = Math.max(diff, Math.abs(w[k] - two.final[i][k]));
        scale = Math.max(scale, Math.abs(w[k]));
        moved = Math.max(moved, Math.abs(w[k] - one.init[i][k]));
      }
      expect(moved).toBeGreaterThan(1e-4);
      expect(diff / scale).toBeLessThanOrEqual(1e-4);
    });
  });

  it('a conv model trains through parallelFit on 2 workers', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [8, 8, 1],
          filters: 4,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    m.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
    // Class 1 has a bright top half: learnable by one conv layer.
    const n = 128;
    const x = tf.tidy(() => {
      const noise = tf.randomUniform([n, 8, 8, 1], 0, 0.3, 'float32', 3);
      const top = tf.concat([tf.ones([n, 4, 8, 1]), tf.zeros([n, 4, 8, 1])], 1);
      const cls = tf.reshape(tf.cast(tf.greater(tf.range(0, n).mod(2), 0), 'float32'), [n, 1, 1, 1]);
      return tf.add(noise, tf.mul(top, cls));
    });
    const y = tf.oneHot(tf.cast(tf.range(0, n).mod(2), 'int32'), 2).toFloat();
    const h = await parallelFit(m, x, y, { epochs: 5, batchSize: 32, workers: 2, verbose: 0, backend: 'tensorflow' });
    const loss = h.history.loss as number[];
    expect(loss[4]).toBeLessThan(loss[0]);
  });
});
