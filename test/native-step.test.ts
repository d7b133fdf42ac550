/**
 * The native step (packages/worker/native, native-step.ts): the dense fast path's forward and
 * backward as one call each, on threadfit's AVX-512 kernels (cpu_kernels.cc) where the CPU has
 * them, else as TensorFlow graph runs (graph_step.cc), on the tensorflow backend. Both addons'
 * gradients against tfjs's own (the cpu backend's tf.grads) for every activation they take and
 * for shapes that hit the GEMM's full and partial tiles; training through each against the dense
 * fast path on tfjs-node's eager kernels; the same bits for any W in deterministic mode; a crashed
 * worker's step rerun with the same bits.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation } from '@threadfit/shared';
import { Trainer, buildSeedModel, coordinatorTf, loadImageDataset, modelSpecOf, shareImageDataset, type SharedDataset } from '@threadfit/coordinator';
import { CPU_KERNELS_ADDON, NATIVE_STEP_ADDON, ensureTensorflow } from './tensorflow-setup.js';
import { relDiff, withEnv } from './helpers.js';

interface Binding {
  avx512?: boolean;
  createDenseStep(stages: Array<{ units: number; bias: boolean; activation: string }>, inputWidth: number): unknown;
  forward(step: unknown, x: Float32Array, n: number, weights: Float32Array[]): Float32Array;
  backward(step: unknown, dz: Float32Array, grads: Float32Array[]): void;
}

let shared: SharedDataset;
let trainers: Trainer[] = [];

beforeAll(async () => {
  ensureTensorflow();
  await coordinatorTf();
  shared = shareImageDataset(loadImageDataset());
}, 600_000);
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

const load = (path: string) => createRequire(import.meta.url)(path) as Binding;
/** The addons to test: the TF graph always; the AVX-512 kernels where this CPU can run them. */
const addons = (): Array<[string, Binding]> => {
  const own = load(CPU_KERNELS_ADDON);
  return own.avx512 === true
    ? [
        ['tf-graph', load(NATIVE_STEP_ADDON)],
        ['avx512', own],
      ]
    : [['tf-graph', load(NATIVE_STEP_ADDON)]];
};

describe('the native step addons against tfjs', () => {
  it.each([
    ['relu', 'softmax', true, [24, 12, 9, 4]],
    ['sigmoid', 'softmax', true, [24, 12, 9, 4]],
    ['tanh', 'linear', true, [24, 12, 9, 4]],
    ['linear', 'sigmoid', false, [24, 12, 9, 4]],
    // rows not a multiple of the 8-row tile, full 32-column blocks and a partial one, an odd K
    ['relu', 'softmax', true, [37, 70, 96, 10]],
    ['relu', 'linear', true, [64, 33, 160, 40]],
  ])('hidden %s, output %s, bias %s, [n, in, hidden, out] %j: the same output and gradients as tf.grads on cpu', (hidden, output, bias, dims) => {
    for (const [kind, binding] of addons()) check(kind, binding, hidden as string, output as string, bias as boolean, dims as number[]);
  });

  it('the AVX-512 kernels pass a NaN through relu and its gradient, as tfjs does (so the step is skipped)', () => {
    const own = load(CPU_KERNELS_ADDON);
    if (own.avx512 !== true) return; // the TF graph runs TensorFlow's own Relu
    const [n, din, h, k] = [3, 4, 17, 2];
    const step = own.createDenseStep(
      [
        { units: h, bias: true, activation: 'relu' },
        { units: k, bias: true, activation: 'linear' },
      ],
      din,
    );
    const x = Float32Array.from({ length: n * din }, (_, i) => (i === din ? Number.NaN : Math.sin(i)));
    const ws = [din * h, h, h * k, k].map((size, w) => Float32Array.from({ length: size }, (_, i) => Math.cos(i + w)));
    const p = own.forward(step, x, n, ws);
    // Row 1 holds the NaN: its outputs are NaN, the other rows' are not.
    expect(Array.from(p.subarray(k, 2 * k)).every(Number.isNaN)).toBe(true);
    expect(Array.from(p.subarray(0, k)).some(Number.isNaN)).toBe(false);
    const grads = ws.map((w) => new Float32Array(w.length));
    own.backward(step, new Float32Array(n * k).fill(0.5), grads);
    expect(Array.from(grads[0]).some(Number.isNaN)).toBe(true);
    expect(Array.from(grads[1]).some(Number.isNaN)).toBe(true);
  });

  it('the AVX-512 kernels say whether this CPU can run them', () => {
    const own = load(CPU_KERNELS_ADDON);
    const flags = readFileSync('/proc/cpuinfo', 'utf8');
    expect(own.avx512).toBe(/\bavx512f\b/.test(flags));
  });
});

function check(kind: string, binding: Binding, hidden: string, output: string, bias: boolean, [n, din, h, k]: number[]): void {
  {
    const x = tf.randomNormal([n, din], 0, 1, 'float32', 1);
    const w1 = tf.randomNormal([din, h], 0, 0.4, 'float32', 2);
    const b1 = tf.randomNormal([h], 0, 0.1, 'float32', 3);
    const w2 = tf.randomNormal([h, k], 0, 0.4, 'float32', 4);
    const b2 = tf.randomNormal([k], 0, 0.1, 'float32', 5);
    const dzT = tf.randomNormal([n, k], 0, 0.1, 'float32', 6);
    const act = (a: string, z: tf.Tensor) =>
      a === 'relu' ? tf.relu(z) : a === 'sigmoid' ? tf.sigmoid(z) : a === 'tanh' ? tf.tanh(z) : a === 'softmax' ? tf.softmax(z) : z;
    const forward = (ws: tf.Tensor[]) => {
      const z1 = tf.matMul(x, ws[0]);
      const a1 = act(hidden, bias ? tf.add(z1, ws[1]) : z1);
      const z2 = tf.matMul(a1, ws[bias ? 2 : 1]);
      return bias ? tf.add(z2, ws[3]) : z2;
    };
    const ws = bias ? [w1, b1, w2, b2] : [w1, w2];
    const step = binding.createDenseStep(
      [
        { units: h, bias, activation: hidden },
        { units: k, bias, activation: output },
      ],
      din,
    );
    const p = binding.forward(
      step,
      x.dataSync() as Float32Array,
      n,
      ws.map((w) => w.dataSync() as Float32Array),
    );
    expect(relDiff(p, act(output, forward(ws)).dataSync()), `${kind}: output`).toBeLessThan(2e-6);
    // dz is dL/dz of the output's pre-activation: the gradient of sum(z * dz).
    const grads = ws.map((w) => new Float32Array(w.size));
    binding.backward(step, dzT.dataSync() as Float32Array, grads);
    const want = tf.grads((...v: tf.Tensor[]) => tf.sum(tf.mul(forward(v), dzT)))(ws);
    want.forEach((g, i) => expect(relDiff(grads[i], g.dataSync()), `${kind}: gradient ${i}`).toBeLessThan(1e-5));
  }
}

/** native: 'auto' (the AVX-512 kernels where the CPU has them, else the TF graph), 'graph' (the TF graph) or 'off' (the dense fast path). */
async function train(o: { workers: number; steps: number; native: 'auto' | 'graph' | 'off'; microBatches?: number; fault?: string }): Promise<Float32Array[]> {
  const model = buildSeedModel(tf, { seed: 5, hidden: 32 });
  const spec = modelSpecOf(model);
  const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  // Workers copy the environment when they start.
  const trainer = await withEnv('THREADFIT_NATIVE_STEP', o.native === 'auto' ? undefined : o.native === 'off' ? '0' : 'graph', () =>
    Trainer.create({
      workers: o.workers,
      backend: 'tensorflow',
      model: spec,
      initialWeights: init,
      dataset: shared,
      maxBatch: 128,
      optimizer: ADAM_DEFAULTS,
      microBatches: o.microBatches,
      injectFault: o.fault === undefined ? undefined : { kind: 'exit', step: 3, rank: 1 },
    }),
  );
  trainers.push(trainer);
  expect(trainer.gradPath).toBe(o.native === 'off' ? 'dense' : 'native');
  const kind = o.native === 'off' ? undefined : o.native === 'graph' || load(CPU_KERNELS_ADDON).avx512 !== true ? 'tf-graph' : 'avx512';
  expect(trainer.nativeKind).toBe(kind);
  const order = epochPermutation(shared.trainCount, 5, 0);
  for (let s = 0; s < o.steps; s++) await trainer.trainStep(order.subarray(s * 128, (s + 1) * 128));
  return trainer.committedWeights();
}

describe('training through the native step (tensorflow)', () => {
  it('20 Adam steps equal the dense fast path on eager kernels within float32 rounding, on either kernels', async () => {
    const dense = await train({ workers: 2, steps: 20, native: 'off' });
    const auto = await train({ workers: 2, steps: 20, native: 'auto' });
    const graph = await train({ workers: 2, steps: 20, native: 'graph' });
    auto.forEach((w, i) => expect(relDiff(w, dense[i]), `weight ${i}`).toBeLessThan(1e-4));
    graph.forEach((w, i) => expect(relDiff(w, dense[i]), `weight ${i} (tf-graph)`).toBeLessThan(1e-4));
  });

  it('deterministic mode: the same bits at W=1 and W=2; a crashed worker reruns its step to the same bits', async () => {
    const one = await train({ workers: 1, steps: 6, native: 'auto', microBatches: 4 });
    const two = await train({ workers: 2, steps: 6, native: 'auto', microBatches: 4 });
    const crashed = await train({ workers: 2, steps: 6, native: 'auto', microBatches: 4, fault: 'exit' });
    const bits = (ws: Float32Array[]) => Buffer.concat(ws.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength)));
    expect(Buffer.compare(bits(two), bits(one))).toBe(0);
    expect(Buffer.compare(bits(crashed), bits(one))).toBe(0);
  });
});
