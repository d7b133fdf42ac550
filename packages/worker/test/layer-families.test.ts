/**
 * Every layer family a tfjs user trains, in a replica on wasm against the same replica on cpu:
 * one gradient step passes and gives finite gradients equal to cpu's within
 * |wasm - cpu| <= 1e-5 + 1e-4·max|cpu| per weight (float32; sums in another order). Then a few
 * of them train through parallelFit in a real worker thread.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, StateViews, createStateMemory, datasetLayout, stateLayout, tensorView, type WorkerInit } from '@threadfit/shared';
import { Replica, setupBackend } from '@threadfit/worker';
import { modelSpecOf, parallelFit } from '@threadfit/coordinator';

const ROWS = 6;
const L = tf.layers;

interface Family {
  name: string;
  /** Input shape of one sample; integer inputs (Embedding) are drawn in [0, vocab). */
  input: number[];
  vocab?: number;
  build(input: tf.SymbolicTensor): tf.SymbolicTensor;
}

const head = (t: tf.SymbolicTensor) => L.dense({ units: 3 }).apply(t.shape.length > 2 ? L.flatten().apply(t) : t) as tf.SymbolicTensor;
/** Layers made anew for each model (a layer object belongs to one model). */
const seq = (make: () => tf.layers.Layer[]) => (x: tf.SymbolicTensor) => head(make().reduce((t, l) => l.apply(t) as tf.SymbolicTensor, x));

export const FAMILIES: Family[] = [
  { name: 'Dense', input: [5], build: seq(() => [L.dense({ units: 4, activation: 'relu' })]) },
  { name: 'Conv1D', input: [9, 3], build: seq(() => [L.conv1d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' })]) },
  { name: 'Conv2D', input: [7, 7, 2], build: seq(() => [L.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu' })]) },
  { name: 'DepthwiseConv2D', input: [7, 7, 3], build: seq(() => [L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' })]) },
  { name: 'SeparableConv2D', input: [7, 7, 3], build: seq(() => [L.separableConv2d({ filters: 4, kernelSize: 3 })]) },
  { name: 'Conv2DTranspose', input: [4, 4, 2], build: seq(() => [L.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' })]) },
  { name: 'MaxPooling1D', input: [8, 3], build: seq(() => [L.conv1d({ filters: 2, kernelSize: 2 }), L.maxPooling1d({ poolSize: 2 })]) },
  { name: 'MaxPooling2D', input: [6, 6, 2], build: seq(() => [L.conv2d({ filters: 2, kernelSize: 2 }), L.maxPooling2d({ poolSize: 2 })]) },
  {
    name: 'AveragePooling2D',
    input: [6, 6, 2],
    build: seq(() => [L.conv2d({ filters: 2, kernelSize: 2 }), L.averagePooling2d({ poolSize: 2, padding: 'same' })]),
  },
  { name: 'GlobalMaxPooling1D', input: [8, 3], build: seq(() => [L.conv1d({ filters: 4, kernelSize: 3 }), L.globalMaxPooling1d()]) },
  { name: 'GlobalAveragePooling2D', input: [6, 6, 2], build: seq(() => [L.conv2d({ filters: 4, kernelSize: 3 }), L.globalAveragePooling2d({})]) },
  { name: 'Embedding', input: [5], vocab: 11, build: seq(() => [L.embedding({ inputDim: 11, outputDim: 4 })]) },
  { name: 'LSTM', input: [5, 3], build: seq(() => [L.lstm({ units: 4 })]) },
  { name: 'GRU', input: [5, 3], build: seq(() => [L.gru({ units: 4, returnSequences: true })]) },
  { name: 'SimpleRNN', input: [5, 3], build: seq(() => [L.simpleRNN({ units: 4 })]) },
  { name: 'Bidirectional(LSTM)', input: [5, 3], build: seq(() => [L.bidirectional({ layer: L.lstm({ units: 3 }) as tf.RNN })]) },
  { name: 'RepeatVector', input: [4], build: seq(() => [L.dense({ units: 3 }), L.repeatVector({ n: 3 }), L.simpleRNN({ units: 2 })]) },
  { name: 'TimeDistributed(Dense)', input: [5, 3], build: seq(() => [L.timeDistributed({ layer: L.dense({ units: 2 }) })]) },
  { name: 'BatchNormalization', input: [6, 6, 2], build: seq(() => [L.conv2d({ filters: 3, kernelSize: 3 }), L.batchNormalization({})]) },
  { name: 'Dropout', input: [5], build: seq(() => [L.dense({ units: 8 }), L.dropout({ rate: 0.5 })]) },
  { name: 'Flatten', input: [3, 4], build: seq(() => [L.flatten()]) },
  { name: 'Reshape', input: [12], build: seq(() => [L.reshape({ targetShape: [3, 4] }), L.conv1d({ filters: 2, kernelSize: 2 })]) },
  {
    name: 'Concatenate (functional)',
    input: [6],
    build: (x) =>
      head(
        L.concatenate().apply([L.dense({ units: 3 }).apply(x), L.dense({ units: 2, activation: 'tanh' }).apply(x)] as tf.SymbolicTensor[]) as tf.SymbolicTensor,
      ),
  },
];

/** A compiled model of the family (weights from a fixed seed) and ROWS rows of data in shared memory. */
function setUp(f: Family) {
  const input = tf.input({ shape: f.input });
  const model = tf.model({ inputs: input, outputs: f.build(input) });
  model.compile({ loss: 'meanSquaredError', optimizer: 'adam' });
  const layout = datasetLayout({ train: { count: ROWS, inputs: [{ dtype: 'float32', shape: f.input }], targets: [{ dtype: 'float32', shape: [3] }] } });
  const buffer = new SharedArrayBuffer(layout.bytes);
  const x = tensorView(buffer, layout.splits.train.inputs[0]);
  const y = tensorView(buffer, layout.splits.train.targets[0]);
  x.forEach((_, i) => (x[i] = f.vocab ? (i * 7) % f.vocab : Math.sin(i * 1.7)));
  y.forEach((_, i) => (y[i] = Math.cos(i)));
  return { model, layout, buffer };
}

async function gradientsOn(backend: 'wasm' | 'cpu', f: Family, s: ReturnType<typeof setUp>): Promise<Float32Array[]> {
  await setupBackend({ backend });
  const spec = modelSpecOf(s.model);
  const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 1, stateSlots: 2, maxBatch: ROWS, bufferCount: spec.bufferCount });
  const memory = createStateMemory(state);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, state);
  s.model
    .getWeights()
    .forEach((w, i) => (spec.weights[i].trainable ? views.params(0) : views.buffers(0)).set(w.dataSync() as Float32Array, spec.weights[i].offset));
  views.batchIndices.set(Array.from({ length: ROWS }, (_, i) => i));
  views.slotWeights[0] = 1;
  const init: WorkerInit = {
    backend,
    threadsPerWorker: 1,
    stateMemory: memory,
    stateLayout: state,
    dataset: s.buffer,
    datasetLayout: s.layout,
    decode: { inputScale: 1, oneHot: 0 },
    model: spec,
    optimizer: ADAM_DEFAULTS,
    logLevel: 'silent',
    seed: 0,
  };
  const replica = await Replica.create(tf, init);
  try {
    const before = tf.memory().numTensors;
    replica.grad({ rank: 0, micro: [{ slot: 0, start: 0, end: ROWS }], step: 0, from: 0 });
    expect(tf.memory().numTensors, `${f.name} on ${backend}: tensors left by a step`).toBe(before);
    const slot = views.gradSlot(0);
    return spec.weights.filter((w) => w.trainable).map((w) => slot.slice(w.offset, w.offset + w.size));
  } finally {
    replica.dispose();
  }
}

const maxDiff: Record<string, number> = {};

beforeAll(() => {
  tf.env().set('PROD', true);
});
afterAll(() => {
  console.log('max |wasm - cpu| per family:', JSON.stringify(maxDiff));
});

describe('every layer family: one gradient step on wasm equals cpu', () => {
  it.each(FAMILIES.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const s = setUp(f);
    const cpu = await gradientsOn('cpu', f, s);
    const wasm = await gradientsOn('wasm', f, s);
    let max = 0;
    cpu.forEach((want, k) => {
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale, `${f.name} weight ${k}: an all-zero gradient tests nothing`).toBeGreaterThan(0);
      for (let i = 0; i < want.length; i++) {
        expect(Number.isFinite(wasm[k][i])).toBe(true);
        const d = Math.abs(wasm[k][i] - want[i]);
        max = Math.max(max, d);
        if (d > 1e-5 + 1e-4 * scale) expect.fail(`${f.name} weight ${k} element ${i}: wasm ${wasm[k][i]}, cpu ${want[i]}`);
      }
    });
    maxDiff[f.name] = max;
    s.model.dispose();
  });
});

describe('in a real worker thread (parallelFit, backend wasm)', () => {
  it.each(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Embedding', 'LSTM', 'GRU', 'Bidirectional(LSTM)'])('%s trains: finite losses', async (name) => {
    const f = FAMILIES.find((g) => g.name === name)!;
    const s = setUp(f);
    const n = 16;
    const x = tf.tensor(
      Array.from({ length: n * f.input.reduce((a, b) => a * b, 1) }, (_, i) => (f.vocab ? (i * 7) % f.vocab : Math.sin(i))),
      [n, ...f.input],
    );
    const y = tf.tensor(
      Array.from({ length: n * 3 }, (_, i) => Math.cos(i)),
      [n, 3],
    );
    const h = await parallelFit(s.model, x, y, { workers: 1, backend: 'wasm', epochs: 2, batchSize: 8, verbose: 0 });
    expect(h.history.loss).toHaveLength(2);
    for (const l of h.history.loss) expect(Number.isFinite(l as number)).toBe(true);
    tf.dispose([x, y]);
    s.model.dispose();
  });
});

/**
 * A layer whose gradient needs a kernel only 'wasm' has (registered here, never run): on cpu the
 * first step fails, and the replica turns tfjs's "not registered" into an error a user can act on.
 */
class KernelGap extends tf.layers.Layer {
  static className = 'ThreadfitTestKernelGap';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const f = tf.customGrad((t) => ({
      value: tf.mul(t as tf.Tensor, 2),
      gradFunc: (dy: tf.Tensor) => tf.engine().runKernel('ThreadfitTestGapGrad', { dy }, {}) as tf.Tensor,
    }));
    return f(x) as tf.Tensor;
  }
}

describe('a model that needs a kernel the backend lacks', () => {
  beforeAll(() => {
    tf.serialization.registerClass(KernelGap);
    tf.registerKernel({
      kernelName: 'ThreadfitTestGapGrad',
      backendName: 'wasm',
      kernelFunc: () => {
        throw new Error('not run in this test');
      },
    });
  });

  it('fails its first step with UNSUPPORTED, naming the layer, the kernel and the backends that have it', async () => {
    const f: Family = { name: 'gap', input: [5], build: seq(() => [L.dense({ units: 4 }), new KernelGap({ name: 'the_gap' })]) };
    const s = setUp(f);
    const err = (await gradientsOn('cpu', f, s).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ERR_THREADFIT_UNSUPPORTED');
    expect(err.message).toMatch(
      /^layer 'the_gap' \(ThreadfitTestKernelGap\) needs the tfjs kernel 'ThreadfitTestGapGrad', which backend 'cpu' does not have .*; use backend 'wasm' or 'tensorflow'$/,
    );
    s.model.dispose();
  });
});
