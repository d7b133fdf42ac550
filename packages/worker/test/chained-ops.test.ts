/**
 * The chained tensor methods a worker defines without the @tensorflow/tfjs union (chained-ops.ts):
 * the same set as the union's, each one the same op on the same arguments, and the recurrent
 * layers (whose Orthogonal initializer calls t.flatten()) training in a real worker thread.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { chainedMethods } from '../src/chained-ops.js';

interface WorkerReport {
  before: string[];
  after: string[];
  losses: Record<string, number[]>;
  backend: string;
}

function runWorker(backend: string): Promise<WorkerReport> {
  const w = new Worker(new URL('./fixtures/recurrent-worker.mjs', import.meta.url), { workerData: { backend } });
  return new Promise<WorkerReport>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }).finally(() => void w.terminate());
}

describe('chained tensor methods in a worker without the union', () => {
  it.each(['wasm', 'cpu'])('%s: a worker has every method the union defines, and LSTM, GRU and SimpleRNN give finite gradients', async (backend) => {
    const r = await runWorker(backend);
    expect(r.backend).toBe(backend);
    const union = Object.getOwnPropertyNames(tf.Tensor.prototype).sort();
    expect(r.before).not.toContain('flatten'); // the bug: tfjs-core alone has no chained methods
    expect([...r.after].sort()).toEqual(union);
    // What we define is exactly what tfjs-core alone lacks.
    expect(Object.keys(chainedMethods(tf)).sort()).toEqual(union.filter((n) => !r.before.includes(n)));
    for (const kind of ['lstm', 'gru', 'simpleRNN']) {
      expect(r.losses[kind].length).toBeGreaterThan(3);
      for (const v of r.losses[kind]) expect(Number.isFinite(v)).toBe(true);
    }
  });

  it("every plain method is the union's: op(this, ...args) of the op of the same name", () => {
    const ours = chainedMethods(tf);
    const plain = /^function \(([^)]*)\) \{ this\.throwIfDisposed\(\); return ([\w$]+?)(?:\$\d+)?\(this(?:, ([^)]*))?\); \}$/;
    let checked = 0;
    for (const name of Object.keys(ours)) {
      if (!/op\(this, \.\.\.args\)/.test(String(ours[name]))) continue; // a body of its own: compared by behaviour below
      const src = String((tf.Tensor.prototype as unknown as Record<string, () => unknown>)[name]).replace(/\s+/g, ' ');
      const m = plain.exec(src);
      expect(m, `${name}: ${src}`).not.toBeNull();
      expect(m![2], name).toBe(name);
      expect(m![3] ?? '', name).toBe(m![1]); // the method's parameters, passed on in order
      checked++;
    }
    expect(checked).toBe(120);
  });

  it('the methods with a body of their own give what the union gives', () => {
    const ours = chainedMethods(tf);
    const t = tf.tensor([1, 0, 3, 4, 0, 6], [2, 3]);
    const b = tf.tensor([7, 8, 9, 10, 11, 12], [2, 3]);
    const idx = tf.tensor1d([0, 2, 1], 'int32');
    const cases: Array<[string, tf.Tensor, unknown[]]> = [
      ['asScalar', tf.tensor([5], [1, 1]), []],
      ['asType', t, ['int32']],
      ['as1D', t, []],
      ['flatten', t, []],
      ['as2D', t, [3, 2]],
      ['as3D', t, [1, 3, 2]],
      ['as4D', t, [1, 1, 3, 2]],
      ['as5D', t, [1, 1, 1, 3, 2]],
      ['reshapeAs', t, [tf.zeros([3, 2])]],
      ['toBool', t, []],
      ['toFloat', idx, []],
      ['toInt', t, []],
      ['concat', t, [b, 1]],
      ['concat', t, [[b, t]]],
      ['stack', t, [b]],
      ['stack', t, [[b, t], 1]],
      ['where', t, [tf.tensor([true, false, true, false, true, false], [2, 3], 'bool'), b]],
      ['oneHot', idx, [3]],
      ['oneHot', idx, [3, 5, -1]],
    ];
    for (const [name, x, args] of cases) {
      const union = (x as unknown as Record<string, (...a: unknown[]) => tf.Tensor>)[name](...args);
      const got = ours[name].call(x, ...args) as tf.Tensor;
      expect({ shape: got.shape, dtype: got.dtype, values: got.arraySync() }, name).toEqual({
        shape: union.shape,
        dtype: union.dtype,
        values: union.arraySync(),
      });
    }
    expect(() => ours.asScalar.call(t)).toThrow(/only 1 element/);
  });
});
