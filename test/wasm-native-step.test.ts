/**
 * The wasm native step (packages/worker/src/wasm-dense-step.ts, kernels in
 * packages/shared/assembly/dense-step.ts): a small Dense chain's forward and backward on
 * threadfit's WebAssembly SIMD kernels, on the wasm backend. Its output and gradients against
 * tfjs's own (tf.grads on the cpu backend) for every activation, with row and unit counts that hit
 * the SIMD loops' tails, three stages, and rows that grow and shrink between calls; training
 * through it against the dense fast path on tfjs's wasm kernels; the same bits at W=1 and W=2 in
 * deterministic mode; which chains take it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation } from '@threadfit/shared';
import { wasmDenseStep, wasmStepFits } from '@threadfit/worker';
import { Trainer, buildSeedModel, coordinatorTf, loadImageDataset, modelSpecOf, shareImageDataset, type SharedDataset } from '@threadfit/coordinator';
import { relDiff, withEnv } from './helpers.js';

let shared: SharedDataset;
let trainers: Trainer[] = [];

beforeAll(async () => {
  await coordinatorTf();
  await tf.setBackend('cpu');
  shared = shareImageDataset(loadImageDataset());
}, 120_000);
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

const act = (a: string, z: tf.Tensor) =>
  a === 'relu' ? tf.relu(z) : a === 'sigmoid' ? tf.sigmoid(z) : a === 'tanh' ? tf.tanh(z) : a === 'softmax' ? tf.softmax(z) : z;

/** One step's forward and backward through the wasm step against tf.grads (cpu) on random weights. */
function check(step: unknown, activations: string[], bias: boolean, n: number, widths: number[], seed: number): void {
  tf.tidy(() => {
    const x = tf.randomNormal([n, widths[0]], 0, 1, 'float32', seed);
    const ws: tf.Tensor[] = [];
    activations.forEach((_, l) => {
      ws.push(tf.randomNormal([widths[l], widths[l + 1]], 0, 0.5, 'float32', seed + 10 + l));
      if (bias) ws.push(tf.randomNormal([widths[l + 1]], 0, 0.2, 'float32', seed + 20 + l));
    });
    const dz = tf.randomNormal([n, widths[widths.length - 1]], 0, 0.1, 'float32', seed + 30);
    // z of the last stage (before its activation), and each stage's output.
    const logits = (v: tf.Tensor[]) => {
      let a = x;
      let z = x;
      activations.forEach((f, l) => {
        const k = v[bias ? 2 * l : l];
        z = tf.matMul(a, k);
        if (bias) z = tf.add(z, v[2 * l + 1]);
        a = act(f, z);
      });
      return z;
    };
    const last = activations[activations.length - 1];
    const p = wasmDenseStep.forward(
      step,
      x.dataSync() as Float32Array,
      n,
      ws.map((w) => w.dataSync() as Float32Array),
    );
    expect(p.length).toBe(n * widths[widths.length - 1]);
    expect(relDiff(p, act(last, logits(ws)).dataSync()), 'output').toBeLessThan(2e-6);
    // dz is dL/dz of the output's pre-activation: the gradient of sum(z * dz).
    const grads = ws.map((w) => new Float32Array(w.size).fill(Number.NaN));
    wasmDenseStep.backward(step, dz.dataSync() as Float32Array, grads);
    const want = tf.grads((...v: tf.Tensor[]) => tf.sum(tf.mul(logits(v), dz)))(ws);
    want.forEach((g, i) => expect(relDiff(grads[i], g.dataSync()), `gradient ${i}`).toBeLessThan(1e-5));
  });
}

describe('the wasm native step against tf.grads (cpu)', () => {
  it.each([
    [['relu', 'softmax'], true, [24, 12, 9, 4]],
    [['sigmoid', 'softmax'], true, [16, 4, 10, 3]],
    [['tanh', 'linear'], true, [7, 5, 6, 1]],
    [['linear', 'sigmoid'], false, [9, 8, 8, 2]],
    [['relu', 'tanh', 'softmax'], true, [13, 11, 7, 5, 3]],
    [['relu', 'relu'], true, [1, 1, 33, 17]],
  ])('activations %j, bias %s, [n, widths...] %j: the same output and gradients', (activations, bias, [n, ...widths]) => {
    const stages = activations.map((a, l) => ({ units: widths[l + 1], bias, activation: a }));
    const step = wasmDenseStep.createDenseStep(stages, widths[0]);
    check(step, activations, bias, n, widths, 1);
  });

  it('one step object serves any row count: more rows grow its memory, fewer reuse it', () => {
    const activations = ['relu', 'softmax'];
    const widths = [20, 16, 5];
    const step = wasmDenseStep.createDenseStep(
      activations.map((a, l) => ({ units: widths[l + 1], bias: true, activation: a })),
      widths[0],
    );
    for (const [i, n] of [3, 40, 7, 2000, 1].entries()) check(step, activations, true, n, widths, 100 + i);
  });

  it('an activation it does not have is refused when the step is created', () => {
    for (const activation of ['elu', 'constructor']) {
      expect(() => wasmDenseStep.createDenseStep([{ units: 3, bias: true, activation }], 4)).toThrow(`no activation '${activation}'`);
    }
  });

  it('only small chains take it: iris and abalone do, the seed model does not', () => {
    expect(wasmStepFits([10, 3], 4)).toBe(true);
    expect(wasmStepFits([50, 50, 1], 8)).toBe(true);
    expect(wasmStepFits([512, 10], 784)).toBe(false);
  });
});

async function train(o: { workers: number; steps: number; native: boolean; microBatches?: number }): Promise<{ weights: Float32Array[]; trainer: Trainer }> {
  // hidden 4: 784 x 4 + 4 x 10 multiply-adds per row, small enough for the wasm step.
  const model = buildSeedModel(tf, { seed: 5, hidden: 4 });
  const spec = modelSpecOf(model);
  const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  // Workers copy the environment when they start.
  const trainer = await withEnv('THREADFIT_NATIVE_STEP', o.native ? undefined : '0', () =>
    Trainer.create({
      workers: o.workers,
      backend: 'wasm',
      model: spec,
      initialWeights: init,
      dataset: shared,
      maxBatch: 128,
      optimizer: ADAM_DEFAULTS,
      microBatches: o.microBatches,
    }),
  );
  trainers.push(trainer);
  const order = epochPermutation(shared.trainCount, 5, 0);
  for (let s = 0; s < o.steps; s++) await trainer.trainStep(order.subarray(s * 128, (s + 1) * 128));
  return { weights: trainer.committedWeights(), trainer };
}

describe('training through the wasm native step', () => {
  it('20 Adam steps at W=2 equal the dense fast path on tfjs wasm kernels within float32 rounding', async () => {
    const dense = await train({ workers: 2, steps: 20, native: false });
    const native = await train({ workers: 2, steps: 20, native: true });
    expect(dense.trainer.gradPath).toBe('dense');
    expect(dense.trainer.nativeKind).toBeUndefined();
    expect(native.trainer.gradPath).toBe('native');
    expect(native.trainer.nativeKind).toBe('wasm-simd');
    native.weights.forEach((w, i) => expect(relDiff(w, dense.weights[i]), `weight ${i}`).toBeLessThan(1e-4));
    // It trained: the weights moved.
    expect(relDiff(native.weights[0], (await train({ workers: 1, steps: 0, native: true })).weights[0])).toBeGreaterThan(1e-3);
  });

  it('deterministic mode: the same bits at W=1 and W=2', async () => {
    const one = await train({ workers: 1, steps: 6, native: true, microBatches: 4 });
    const two = await train({ workers: 2, steps: 6, native: true, microBatches: 4 });
    const bits = (ws: Float32Array[]) => Buffer.concat(ws.map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength)));
    expect(Buffer.compare(bits(two.weights), bits(one.weights))).toBe(0);
  });
});
