/**
 * threadfit's Relu gradient on the tensorflow backend (packages/worker/src/tensorflow-grads.ts):
 * TensorFlow's one ReluGrad kernel in place of tfjs-node's Step composition, with the same bits
 * for every non-NaN input, alone and through a conv net's gradients; tfjs's formula on any other
 * backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installTensorflowReluGrad, isTensorflowReluGradInstalled } from '@threadfit/coordinator';
import { ensureTensorflow } from './tensorflow-setup.js';

beforeAll(async () => {
  ensureTensorflow();
  await import('@tensorflow/tfjs-node');
  expect(await tf.setBackend('tensorflow')).toBe(true);
}, 600_000);

const bits = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

function convNet(): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({ inputShape: [10, 10, 2], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

describe("threadfit's Relu gradient on tensorflow", () => {
  // Order matters: the first test computes tfjs's own gradients, then installs threadfit's.
  let before: Buffer[] = [];
  let relu: { x: tf.Tensor; dy: tf.Tensor; want: tf.Tensor } | undefined;
  const model = convNet();
  const x = tf.randomNormal([6, 10, 10, 2], 0, 1, 'float32', 4);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
  const gradsOf = () => {
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar);
    return model.trainableWeights.map((w) => bits(grads[w.originalName] ?? grads[w.name]));
  };

  it("tfjs's own gradients first (the reference), then the install", () => {
    expect(isTensorflowReluGradInstalled(tf)).toBe(false);
    before = gradsOf();
    // Zeros, -0, negatives, positives, tiny and huge values.
    const xs = tf.tensor1d([0, -0, -1, 1, 1e-30, -1e-30, 3e38, -3e38, 0.5, -0.5]);
    const dy = tf.tensor1d([1, -1, 2, -2, 3, -3, 4, -4, -5, 5]);
    relu = { x: xs, dy, want: tf.grad((v: tf.Tensor) => tf.mul(tf.relu(v), dy))(xs) };
    installTensorflowReluGrad(tf);
    installTensorflowReluGrad(tf); // idempotent
    expect(isTensorflowReluGradInstalled(tf)).toBe(true);
  });

  it('gives the same bits as tfjs for every non-NaN input, -0 included', () => {
    const { x: xs, dy, want } = relu!;
    const got = tf.grad((v: tf.Tensor) => tf.mul(tf.relu(v), dy))(xs);
    expect(bits(got)).toEqual(bits(want));
    // A NaN input: tfjs's formula gives NaN, ReluGrad dy * 0 (documented in tensorflow-grads.ts).
    const nan = tf.grad((v: tf.Tensor) => tf.relu(v))(tf.tensor1d([Number.NaN, 2]));
    expect(Array.from(nan.dataSync())).toEqual([0, 1]);
  });

  it("gives a conv net's gradients bit for bit as before the install", () => {
    const after = gradsOf();
    expect(after.length).toBe(before.length);
    after.forEach((g, i) => expect(g.equals(before[i]), `gradient ${i}`).toBe(true));
  });

  it("keeps tfjs's formula on another backend", async () => {
    await tf.setBackend('cpu');
    try {
      const g = tf.grad((v: tf.Tensor) => tf.relu(v))(tf.tensor1d([Number.NaN, 2, -1]));
      expect(Number.isNaN(g.dataSync()[0])).toBe(true);
      expect(Array.from(g.dataSync().slice(1))).toEqual([1, 0]);
    } finally {
      await tf.setBackend('tensorflow');
    }
  });
});
