/**
 * The dense fast path (dense-chain.ts, output-loss.ts) and the wasm native step
 * (wasm-dense-step.ts, which small chains take on wasm) against tfjs's tape, on the wasm backend
 * with real kernels: for chains of Dense layers with each supported activation, loss and metric,
 * two replicas on the same committed weights and rows, one on the fast path and one on the tape,
 * must give the same loss, metrics and gradients up to float32 rounding. Models the fast path does
 * not cover must take the tape and say why.
 */
import * as tf from '@tensorflow/tfjs';
import type * as tfTypes from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, StateViews, createStateMemory, datasetLayout, stateLayout, tensorView, type WorkerInit } from '@threadfit/shared';
import { Replica, setupBackend } from '@threadfit/worker';
import { modelSpecOf } from '@threadfit/coordinator';
import { withEnv } from '../../../test/helpers.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await setupBackend({ backend: 'wasm' });
});

const ROWS = 24;

interface Case {
  name: string;
  layers: () => tfTypes.layers.Layer[];
  loss: string;
  metrics: string[];
  /** Input sample shape and output units. */
  input: number[];
  classes: number;
  /** Integer labels one-hot encoded by the replica, or float targets as stored. */
  targets: 'labels' | 'floats';
  /** Scale of the initial weights (large: saturated outputs, so the loss's clipping matters). */
  weightScale?: number;
  /** Too many multiply-adds per row for the wasm native step: tfjs's kernels even where it is on. */
  large?: true;
}

/**
 * The replica on the fast path: 'dense' on tfjs's kernels (the native step switched off while
 * it is created; replicas read the switch then), 'native' as it comes (the wasm native step for
 * small chains).
 */
function fastReplica(init: WorkerInit, path: 'dense' | 'native'): Promise<Replica> {
  return withEnv('THREADFIT_NATIVE_STEP', path === 'dense' ? '0' : undefined, () => Replica.create(tf, init));
}

const dense = (units: number, activation: string, extra: object = {}) =>
  tf.layers.dense({ units, activation: activation as 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: units }), ...extra });

const CASES: Case[] = [
  {
    name: 'the seed model shape: relu -> softmax, categorical cross-entropy, accuracy (transposed-weight forward)',
    layers: () => [dense(128, 'relu', { inputShape: [200] }), dense(10, 'softmax')],
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
    input: [200],
    classes: 10,
    targets: 'labels',
    large: true,
  },
  {
    name: 'three layers, tanh and sigmoid hidden, no bias in the middle',
    layers: () => [dense(16, 'tanh', { inputShape: [12] }), dense(8, 'sigmoid', { useBias: false }), dense(4, 'softmax')],
    loss: 'categoricalCrossentropy',
    metrics: ['acc', 'mse'],
    input: [12],
    classes: 4,
    targets: 'labels',
  },
  {
    name: 'Flatten first, linear hidden, sigmoid output with binary cross-entropy and accuracy',
    layers: () => [tf.layers.flatten({ inputShape: [3, 5] }), dense(6, 'linear'), dense(3, 'sigmoid')],
    loss: 'binaryCrossentropy',
    metrics: ['accuracy'],
    input: [3, 5],
    classes: 3,
    targets: 'floats',
  },
  {
    name: 'regression: relu output, mean squared error, mse and binaryAccuracy metrics',
    layers: () => [dense(9, 'relu', { inputShape: [7] }), dense(2, 'relu')],
    loss: 'meanSquaredError',
    metrics: ['mse', 'binaryAccuracy'],
    input: [7],
    classes: 2,
    targets: 'floats',
  },
  {
    name: 'saturated softmax: rows clipped by the loss pass no gradient, as on the tape',
    layers: () => [dense(32, 'relu', { inputShape: [20] }), dense(5, 'softmax')],
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
    input: [20],
    classes: 5,
    targets: 'labels',
    weightScale: 4,
  },
];

function setup(c: Case) {
  const model = tf.sequential({ layers: c.layers() });
  model.compile({ loss: c.loss, optimizer: 'sgd', metrics: c.metrics });
  const spec = modelSpecOf(model);
  const features = c.input.reduce((a, b) => a * b, 1);
  const data = datasetLayout({
    train: {
      count: ROWS,
      inputs: [{ dtype: 'float32', shape: c.input }],
      targets: [c.targets === 'labels' ? { dtype: 'uint8', shape: [1] } : { dtype: 'float32', shape: [c.classes] }],
    },
  });
  const buffer = new SharedArrayBuffer(data.bytes);
  const x = tensorView(buffer, data.splits.train.inputs[0]);
  const y = tensorView(buffer, data.splits.train.targets[0]);
  for (let i = 0; i < ROWS * features; i++) x[i] = Math.sin(i * 0.37) * 2;
  if (c.targets === 'labels') for (let i = 0; i < ROWS; i++) y[i] = (i * 7) % c.classes;
  else for (let i = 0; i < ROWS * c.classes; i++) y[i] = (i * 5) % 3 === 0 ? 1 : 0;
  const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 2, stateSlots: 2, maxBatch: ROWS });
  const memory = createStateMemory(state);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, state);
  if (c.weightScale !== undefined) model.setWeights(model.getWeights().map((w) => tf.mul(w, c.weightScale!)));
  model.getWeights().forEach((w, i) => views.params(0).set(w.dataSync() as Float32Array, spec.weights[i].offset));
  for (let i = 0; i < ROWS; i++) views.batchIndices[i] = ROWS - 1 - i;
  const init = (denseFastPath: boolean): WorkerInit => ({
    backend: 'wasm',
    threadsPerWorker: 1,
    denseFastPath,
    stateMemory: memory,
    stateLayout: state,
    dataset: buffer,
    datasetLayout: data,
    decode: { inputScale: 1, oneHot: c.targets === 'labels' ? c.classes : 0 },
    model: spec,
    optimizer: ADAM_DEFAULTS,
    logLevel: 'silent',
    seed: 0,
  });
  return { model, spec, views, init, x };
}

describe.each(['dense', 'native'] as const)('%s path vs the tape (wasm, real kernels)', (path) => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { model, spec, views, init } = setup(c);
      const fast = await fastReplica(init(true), path);
      const tape = await Replica.create(tf, init(false));
      const expected = path === 'native' && c.large !== true ? 'native' : 'dense';
      expect(fast.gradPath).toBe(expected);
      expect(fast.nativeKind).toBe(expected === 'native' ? 'wasm-simd' : undefined);
      expect(tape.gradPath).toBe('tape (asked for)');
      const task = (slot: number) => ({ rank: 0, micro: [{ slot, start: 0, end: ROWS }], step: 0, from: 0 as const });
      const a = fast.grad(task(0));
      const b = tape.grad(task(1));
      expect(a.count).toBe(ROWS);
      expect(Math.abs(a.lossSum - b.lossSum)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b.lossSum)));
      expect(a.metricSums.length).toBe(c.metrics.length);
      a.metricSums.forEach((m, i) => expect(m).toBeCloseTo(b.metricSums[i], 4));
      const ga = views.gradSlot(0);
      const gb = views.gradSlot(1);
      let scale = 0;
      let worst = 0;
      for (let k = 0; k < spec.paramCount; k++) {
        scale = Math.max(scale, Math.abs(gb[k]));
        worst = Math.max(worst, Math.abs(ga[k] - gb[k]));
      }
      expect(scale).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(2e-6 * scale + 1e-9);
      if (c.weightScale !== undefined) {
        // Meaningful only if the true class of some rows is clipped (p < eps or p > 1 - eps): the
        // tape passes no gradient for them, where softmax + cross-entropy's p - y would not be 0.
        const probs = (model.predict(tf.tensor(tensorRows(init(true)), [ROWS, ...c.input])) as tfTypes.Tensor).dataSync();
        const labels = Array.from({ length: ROWS }, (_, i) => ((ROWS - 1 - i) * 7) % c.classes);
        expect(labels.some((l, i) => probs[i * c.classes + l] < 1e-7)).toBe(true);
      }
      fast.dispose();
      tape.dispose();
    });
  }

  it('a NaN output stays NaN in the loss and the gradients, as on the tape (the step is then skipped)', async () => {
    // A relu output row of zeros: categorical cross-entropy divides 0 by 0.
    const c: Case = {
      name: 'nan',
      layers: () => [tf.layers.dense({ units: 3, activation: 'relu', inputShape: [4], biasInitializer: tf.initializers.constant({ value: -100 }) })],
      loss: 'categoricalCrossentropy',
      metrics: [],
      input: [4],
      classes: 3,
      targets: 'labels',
    };
    const { spec, views, init } = setup(c);
    const fast = await fastReplica(init(true), path);
    const tape = await Replica.create(tf, init(false));
    expect(fast.gradPath).toBe(path);
    const task = (slot: number) => ({ rank: 0, micro: [{ slot, start: 0, end: ROWS }], step: 0, from: 0 as const });
    const a = fast.grad(task(0));
    const b = tape.grad(task(1));
    // The loss itself is backend-dependent on the tape (wasm's clip maps NaN to a bound, cpu and
    // tensorflow keep it); what decides the step is that the gradients are non-finite.
    void a;
    void b;
    const nonFinite = (g: Float32Array) => g.subarray(0, spec.paramCount).filter((x) => !Number.isFinite(x)).length;
    expect(nonFinite(views.gradSlot(1))).toBeGreaterThan(0);
    expect(nonFinite(views.gradSlot(0))).toBe(nonFinite(views.gradSlot(1)));
    fast.dispose();
    tape.dispose();
  });

  it('a NaN input stays NaN through a relu hidden layer, in the gradients as on the tape', async () => {
    const c: Case = {
      name: 'nan input',
      layers: () => [dense(6, 'relu', { inputShape: [5] }), dense(3, 'softmax')],
      loss: 'categoricalCrossentropy',
      metrics: [],
      input: [5],
      classes: 3,
      targets: 'labels',
    };
    const { spec, views, init, x } = setup(c);
    // One element of one row: that row's hidden pre-activations are all NaN.
    x[7] = Number.NaN;
    const fast = await fastReplica(init(true), path);
    const tape = await Replica.create(tf, init(false));
    expect(fast.gradPath).toBe(path);
    const task = (slot: number) => ({ rank: 0, micro: [{ slot, start: 0, end: ROWS }], step: 0, from: 0 as const });
    fast.grad(task(0));
    tape.grad(task(1));
    const nonFinite = (g: Float32Array) => g.subarray(0, spec.paramCount).filter((x) => !Number.isFinite(x)).length;
    expect(nonFinite(views.gradSlot(1))).toBeGreaterThan(0);
    expect(nonFinite(views.gradSlot(0))).toBe(nonFinite(views.gradSlot(1)));
    fast.dispose();
    tape.dispose();
  });
});

describe('models the fast path does not cover (wasm)', () => {
  it('other models take the tape and say why', async () => {
    const refused: Array<[string, () => tfTypes.LayersModel, string]> = [
      [
        'Dropout',
        () => tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dropout({ rate: 0.5 }), dense(2, 'softmax')] }),
        'is a Dropout',
      ],
      [
        'a regularizer',
        () => tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'softmax', kernelRegularizer: tf.regularizers.l2() })] }),
        'kernelRegularizer',
      ],
      [
        'a softmax hidden layer',
        () => tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'softmax' }), dense(2, 'softmax')] }),
        "activation is 'softmax'",
      ],
      [
        'an elu layer',
        () => tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'elu' }), dense(2, 'softmax')] }),
        "activation is 'elu'",
      ],
      ['a frozen layer', () => tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], trainable: false }), dense(2, 'softmax')] }), 'frozen'],
      [
        'a channelsFirst Flatten (it transposes)',
        () => tf.sequential({ layers: [tf.layers.flatten({ inputShape: [3, 1], dataFormat: 'channelsFirst' }), dense(2, 'softmax')] }),
        'flattens channelsFirst',
      ],
      [
        'an int32 input (tfjs truncates it)',
        () => tf.model({ inputs: int32Input(), outputs: dense(2, 'softmax').apply(int32Input()) as tfTypes.SymbolicTensor }),
        'the input is int32',
      ],
      [
        'targets narrower than the output',
        () => tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [3], activation: 'softmax' })] }),
        'the targets have 2 values per row, the output 3',
      ],
    ];
    for (const [what, build, reason] of refused) {
      const model = build();
      model.compile({ loss: 'categoricalCrossentropy', optimizer: 'sgd', metrics: ['accuracy'] });
      const r = await Replica.create(tf, initFor(model, { loss: 'categoricalCrossentropy', metrics: ['accuracy'] }));
      expect(r.gradPath, what).toMatch(/^tape \(/);
      expect(r.gradPath, what).toContain(reason);
      r.dispose();
    }
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'softmax' })] });
    m.compile({ loss: 'categoricalCrossentropy', optimizer: 'sgd', metrics: ['precision'] });
    expect((await Replica.create(tf, initFor(m, {}))).gradPath).toBe("tape (metric 'precision')");
    m.compile({ loss: 'categoricalHinge', optimizer: 'sgd' });
    expect((await Replica.create(tf, initFor(m, {}))).gradPath).toBe("tape (loss 'categoricalHinge')");
  });
});

let int32In: tfTypes.SymbolicTensor | undefined;
function int32Input(): tfTypes.SymbolicTensor {
  int32In ??= tf.input({ shape: [3], dtype: 'int32' });
  return int32In;
}

/** The rows the replicas gather (batchIndices reversed), as one flat array. */
function tensorRows(init: WorkerInit): Float32Array {
  const split = init.datasetLayout.splits.train;
  const src = tensorView(init.dataset, split.inputs[0]);
  const s = split.inputs[0].sampleSize;
  const out = new Float32Array(ROWS * s);
  for (let i = 0; i < ROWS; i++) out.set(src.subarray((ROWS - 1 - i) * s, (ROWS - i) * s), i * s);
  return out;
}

/** A WorkerInit for `model` on an empty 1-row data set (enough to build a replica). */
function initFor(model: tfTypes.LayersModel, _: { loss?: string; metrics?: string[] }): WorkerInit {
  const spec = modelSpecOf(model);
  const data = datasetLayout({ train: { count: 1, inputs: [{ dtype: 'float32', shape: [3] }], targets: [{ dtype: 'uint8', shape: [1] }] } });
  const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 1, stateSlots: 2, maxBatch: 1 });
  return {
    backend: 'wasm',
    threadsPerWorker: 1,
    stateMemory: createStateMemory(state),
    stateLayout: state,
    dataset: new SharedArrayBuffer(data.bytes),
    datasetLayout: data,
    decode: { inputScale: 1, oneHot: 2 },
    model: spec,
    optimizer: ADAM_DEFAULTS,
    logLevel: 'silent',
    seed: 0,
  };
}
