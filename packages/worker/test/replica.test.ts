/**
 * The replica and the chunk updater driven in this thread (no pool): one rank, W=1, must follow
 * tf.train.adam + model.fit's loss exactly, step after step, on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, Control, StateViews, createStateMemory, datasetLayout, stateLayout, tensorView, type WorkerInit } from '@threadfit/shared';
import { ChunkUpdater, Replica, setupBackend } from '@threadfit/worker';
import { buildSeedModel, modelSpecOf } from '@threadfit/coordinator';

const N = 80;
const FEATURES = 20;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await setupBackend({ backend: 'wasm' });
});

function sharedData() {
  const layout = datasetLayout({
    train: { count: N, inputs: [{ dtype: 'uint8', shape: [FEATURES] }], targets: [{ dtype: 'uint8', shape: [1] }] },
  });
  const buffer = new SharedArrayBuffer(layout.bytes);
  const x = tensorView(buffer, layout.splits.train.inputs[0]);
  const y = tensorView(buffer, layout.splits.train.targets[0]);
  for (let i = 0; i < N; i++) {
    y[i] = i % 3;
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = (i * 31 + j * 17 + (j === y[i] ? 200 : 0)) % 256;
  }
  return { layout, buffer };
}

describe('Replica + ChunkUpdater (W=1, in-thread)', () => {
  it('follows tf.train.adam with the same loss and identical weights for 5 steps', async () => {
    const model = buildSeedModel(tf, { seed: 1, inputSize: FEATURES, hidden: 16, classes: 3 });
    const spec = modelSpecOf(model);
    const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 1, stateSlots: 2, maxBatch: 16 });
    const memory = createStateMemory(state);
    const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, state);
    model.getWeights().forEach((w, i) => views.params(0).set(w.dataSync() as Float32Array, spec.weights[i].offset));
    const data = sharedData();
    const init: WorkerInit = {
      backend: 'wasm',
      threadsPerWorker: 1,
      stateMemory: memory,
      stateLayout: state,
      dataset: data.buffer,
      datasetLayout: data.layout,
      decode: { inputScale: 1 / 255, oneHot: 3 },
      model: spec,
      optimizer: ADAM_DEFAULTS,
      logLevel: 'silent',
      seed: 0,
    };
    const replica = await Replica.create(tf, init);
    const updater = new ChunkUpdater(memory, state, ADAM_DEFAULTS);
    const opt = tf.train.adam();
    const x = tensorView(data.buffer, data.layout.splits.train.inputs[0]);
    const y = tensorView(data.buffer, data.layout.splits.train.targets[0]);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);

    for (let step = 0; step < 5; step++) {
      const rows = Array.from({ length: 16 }, (_, i) => step * 16 + i);
      views.batchIndices.set(rows);
      views.rankWeights[0] = 1;
      const from = views.committed;
      const g = replica.grad({ type: 'grad', rank: 0, micro: [{ slot: 0, start: 0, end: 16 }], step, from });
      expect(updater.update({ type: 'update', chunk: 0, chunks: 1, slots: 1, from, step: step + 1 }).nonFinite).toBe(0);
      Atomics.store(views.control, Control.COMMITTED, 1 - from);

      const xb = tf.tensor2d(
        Float32Array.from({ length: 16 * FEATURES }, (_, k) => x[rows[Math.floor(k / FEATURES)] * FEATURES + (k % FEATURES)] * (1 / 255)),
        [16, FEATURES],
      );
      const yb = tf
        .oneHot(
          tf.tensor1d(
            rows.map((r) => y[r]),
            'int32',
          ),
          3,
        )
        .toFloat();
      const want = opt.minimize(
        () => tf.metrics.categoricalCrossentropy(yb, model.apply(xb, { training: true }) as tf.Tensor).mean() as tf.Scalar,
        true,
        vars,
      )!;
      expect(g.lossSum / 16).toBeCloseTo(want.dataSync()[0], 6);
      const p = views.params(views.committed);
      spec.weights.forEach((w, i) => {
        const ref = vars[i].dataSync();
        for (let k = 0; k < w.size; k++) expect(Math.abs(ref[k] - p[w.offset + k])).toBeLessThanOrEqual(1e-6);
      });
    }
    replica.dispose();
  });
});
