import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmMatMulFix, isWasmMatMulFixInstalled } from '@threadfit/worker';

let stock: (a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean) => Float32Array;

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  // Results of the stock kernel first, through the kernel registry, before the fix replaces it.
  const original = tf.getKernel('BatchMatMul', 'wasm')!;
  stock = (a, b, ta, tb) => {
    const backend = tf.backend();
    const out = original.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: ta, transposeB: tb } }) as tf.TensorInfo;
    const t = tf.engine().makeTensorFromTensorInfo(out);
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  };
  installWasmMatMulFix(tf);
});

describe('wasm BatchMatMul fix', () => {
  it('is registered, once', () => {
    expect(isWasmMatMulFixInstalled(tf)).toBe(true);
    installWasmMatMulFix(tf); // idempotent
    expect(isWasmMatMulFixInstalled(tf)).toBe(true);
  });

  it.each([
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[2, 7, 5], [2, 3, 7], true, true],
    [[4, 6, 5], [1, 6, 3], true, false],
  ])('a %j x b %j (transposeA %s, transposeB %s) equals the stock kernel', (sa, sb, ta, tb) => {
    const a = tf.randomUniform(sa as number[], -1, 1, 'float32', 1);
    const b = tf.randomUniform(sb as number[], -1, 1, 'float32', 2);
    const want = stock(a, b, ta as boolean, tb as boolean);
    const got = tf.matMul(a, b, ta as boolean, tb as boolean);
    const values = got.dataSync();
    expect(values.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(values[i]).toBeCloseTo(want[i], 5);
    tf.dispose([a, b, got]);
  });

  it('leaks no tensors and no backend memory', () => {
    const a = tf.randomNormal([64, 32]);
    const b = tf.randomNormal([48, 32]);
    tf.matMul(a, b, false, true).dispose();
    const before = tf.memory();
    for (let i = 0; i < 5; i++) tf.matMul(a, b, false, true).dispose();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    tf.dispose([a, b]);
  });

  it('keeps gradients of a Dense layer equal to the stock path', () => {
    const x = tf.randomNormal([16, 20], 0, 1, 'float32', 3);
    const w = tf.variable(tf.randomNormal([20, 8], 0, 1, 'float32', 4));
    const { grads } = tf.variableGrads(() => tf.sum(tf.relu(tf.matMul(x, w))), [w]);
    const got = grads[w.name].dataSync();
    // Hand-derived: d/dW sum(relu(xW)) = x^T · 1[xW > 0]; computed with the untransposed kernel.
    const mask = tf.cast(tf.greater(tf.matMul(x, w), 0), 'float32');
    const want = tf.matMul(tf.transpose(x), mask).dataSync();
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 4);
  });
});
