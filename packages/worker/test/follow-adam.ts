/**
 * A replica and a chunk updater driven in this thread (no pool), one rank, next to tf.train.adam
 * on the same model and rows: the loop two tests share (replica.test, matmul-transposed.test).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { ADAM_DEFAULTS, Control, StateViews, createStateMemory, datasetLayout, stateLayout, tensorView, type WorkerInit } from '@threadfit/shared';
import { ChunkUpdater, Replica } from '@threadfit/worker';
import { buildSeedModel, modelSpecOf } from '@threadfit/coordinator';

const ROWS = 16;
const CLASSES = 3;

/** `count` rows of `features` uint8 pixels in shared memory, 3 classes, each class lighting one pixel. */
export function threeClassData(count: number, features: number) {
  const layout = datasetLayout({
    train: { count, inputs: [{ dtype: 'uint8', shape: [features] }], targets: [{ dtype: 'uint8', shape: [1] }] },
  });
  const buffer = new SharedArrayBuffer(layout.bytes);
  const x = tensorView(buffer, layout.splits.train.inputs[0]);
  const y = tensorView(buffer, layout.splits.train.targets[0]);
  for (let i = 0; i < count; i++) {
    y[i] = i % CLASSES;
    for (let j = 0; j < features; j++) x[i * features + j] = (i * 31 + j * 17 + (j === y[i] ? 200 : 0)) % 256;
  }
  return { layout, buffer, x, y };
}

/**
 * A replica of the seed model (features -> hidden -> 3, 1 gradient slot) built in this thread on
 * `rows` rows of threeClassData, its initial weights in the committed buffer.
 */
export async function seedReplica(tf: typeof tfTypes, o: { rows: number; features: number; hidden: number; maxBatch: number }) {
  const data = threeClassData(o.rows, o.features);
  const model = buildSeedModel(tf, { seed: 1, inputSize: o.features, hidden: o.hidden, classes: CLASSES });
  const spec = modelSpecOf(model);
  const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 1, stateSlots: 2, maxBatch: o.maxBatch });
  const memory = createStateMemory(state);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, state);
  model.getWeights().forEach((w, i) => views.params(0).set(w.dataSync() as Float32Array, spec.weights[i].offset));
  const init: WorkerInit = {
    backend: 'wasm',
    threadsPerWorker: 1,
    stateMemory: memory,
    stateLayout: state,
    dataset: data.buffer,
    datasetLayout: data.layout,
    decode: { inputScale: 1 / 255, oneHot: CLASSES },
    model: spec,
    optimizer: ADAM_DEFAULTS,
    logLevel: 'silent',
    seed: 0,
  };
  const replica = await Replica.create(tf, init);
  return { data, model, spec, state, memory, views, replica };
}

export interface FollowAdam {
  /** Runs before and after each step's grad task (e.g. to count calls of a spy). */
  beforeGrad?(step: number): void;
  afterGrad?(step: number): void;
}

/**
 * `steps` steps of 16 rows on the seed model (features -> hidden -> 3), each by the replica +
 * updater AND by tf.train.adam: the loss matches to 6 digits and every weight within 1e-6.
 */
export async function followAdam(tf: typeof tfTypes, o: { features: number; hidden: number; steps: number } & FollowAdam): Promise<void> {
  const { data, model, spec, memory, state, views, replica } = await seedReplica(tf, {
    rows: o.steps * ROWS,
    features: o.features,
    hidden: o.hidden,
    maxBatch: ROWS,
  });
  const updater = new ChunkUpdater(memory, state, ADAM_DEFAULTS);
  const opt = tf.train.adam();
  const vars = model.trainableWeights.map((w) => w.read() as tfTypes.Variable);
  for (let step = 0; step < o.steps; step++) {
    const rows = Array.from({ length: ROWS }, (_, i) => step * ROWS + i);
    views.batchIndices.set(rows);
    views.slotWeights[0] = 1;
    const from = views.committed;
    o.beforeGrad?.(step);
    const g = replica.grad({ rank: 0, micro: [{ slot: 0, start: 0, end: ROWS }], step, from });
    o.afterGrad?.(step);
    expect(updater.update({ chunk: 0, chunks: 1, slots: 1, from, step: step + 1 }).nonFinite).toBe(0);
    Atomics.store(views.control, Control.COMMITTED, 1 - from);

    const xb = tf.tensor2d(
      Float32Array.from({ length: ROWS * o.features }, (_, k) => data.x[rows[Math.floor(k / o.features)] * o.features + (k % o.features)] * (1 / 255)),
      [ROWS, o.features],
    );
    const yb = tf
      .oneHot(
        tf.tensor1d(
          rows.map((r) => data.y[r]),
          'int32',
        ),
        CLASSES,
      )
      .toFloat();
    const want = opt.minimize(
      () => tf.metrics.categoricalCrossentropy(yb, model.apply(xb, { training: true }) as tfTypes.Tensor).mean() as tfTypes.Scalar,
      true,
      vars,
    )!;
    expect(g.lossSum / ROWS).toBeCloseTo(want.dataSync()[0], 6);
    const p = views.params(views.committed);
    spec.weights.forEach((w, i) => {
      const ref = vars[i].dataSync();
      for (let k = 0; k < w.size; k++) expect(Math.abs(ref[k] - p[w.offset + k])).toBeLessThanOrEqual(1e-6);
    });
    tf.dispose([xb, yb, want]);
  }
  replica.dispose();
}
