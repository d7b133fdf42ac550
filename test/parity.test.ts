/**
 * Global-batch semantics: W = 1, 2 and 3 workers compute the same step up to float summation
 * order, so after 20 Adam steps on the same batches their weights agree within 1e-4 relative
 * (max |a-b| over a tensor / max |a| of that tensor). W=3 splits 128 as 43/43/42: this also checks
 * that uneven slices are weighted by their sample counts.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation } from '@threadfit/shared';
import { Trainer, buildSeedModel, coordinatorTf, loadImageDataset, modelSpecOf, shareImageDataset, type SharedDataset } from '@threadfit/coordinator';

let shared: SharedDataset;
let trainers: Trainer[] = [];

beforeAll(async () => {
  await coordinatorTf();
  shared = shareImageDataset(loadImageDataset());
});
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

async function train(workers: number, steps: number, gradients: 'auto' | 'tape' = 'auto'): Promise<{ init: Float32Array[]; final: Float32Array[] }> {
  const model = buildSeedModel(tf, { seed: 5, hidden: 32 });
  const spec = modelSpecOf(model);
  const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const trainer = await Trainer.create({
    workers,
    backend: 'wasm',
    model: spec,
    initialWeights: init,
    dataset: shared,
    maxBatch: 128,
    optimizer: ADAM_DEFAULTS,
    gradients,
  });
  trainers.push(trainer);
  expect(trainer.gradPath).toBe(gradients === 'auto' ? 'dense' : 'tape (asked for)');
  const order = epochPermutation(shared.trainCount, 5, 0);
  for (let s = 0; s < steps; s++) {
    const r = await trainer.trainStep(order.subarray(s * 128, (s + 1) * 128));
    expect(r.skipped).toBe(false);
    expect(r.count).toBe(128);
  }
  expect(trainer.step).toBe(steps);
  return { init, final: trainer.committedWeights() };
}

function relDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return diff / scale;
}

describe('W=1 vs W=2 vs W=3', () => {
  it('reach the same weights within 1e-4 relative after 20 steps', async () => {
    const one = await train(1, 20);
    const two = await train(2, 20);
    const three = await train(3, 20);
    one.final.forEach((w, i) => {
      // The run moved the weights (a no-op trainer would agree trivially).
      expect(relDiff(one.init[i], w)).toBeGreaterThan(1e-3);
      expect(relDiff(w, two.final[i])).toBeLessThanOrEqual(1e-4);
      expect(relDiff(w, three.final[i])).toBeLessThanOrEqual(1e-4);
    });
  });
});

describe('the dense fast path vs the tape, in the trainer', () => {
  it('2 workers reach the same weights within 1e-4 relative after 20 steps', async () => {
    const fast = await train(2, 20, 'auto');
    const tape = await train(2, 20, 'tape');
    fast.final.forEach((w, i) => {
      expect(relDiff(fast.init[i], w)).toBeGreaterThan(1e-3);
      expect(relDiff(w, tape.final[i])).toBeLessThanOrEqual(1e-4);
    });
  });
});
