import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, StateViews, createStateMemory, loadKernels, referenceAdam, referenceReduce, stateLayout, chunkRanges, Rng } from '@threadfit/shared';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

function setup(paramCount: number, slots: number) {
  const layout = stateLayout({ paramCount, gradSlots: slots, stateSlots: 2, maxBatch: 4 });
  const memory = createStateMemory(layout);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, layout);
  return { layout, views, kernels: loadKernels(memory) };
}

function fillGrads(views: StateViews, slots: number, n: number, rng: Rng, scale = 1) {
  for (let r = 0; r < slots; r++) {
    const g = views.gradSlot(r);
    for (let i = 0; i < n; i++) g[i] = (rng.next() * 2 - 1) * scale;
  }
}

describe('SIMD reduce + Adam kernel', () => {
  it('matches tf.train.adam over 100 steps within 1e-6 (3 weighted slots, odd parameter count)', () => {
    const P = 1003; // not a multiple of 16: exercises the padding
    const { layout, views, kernels } = setup(P, 3);
    const rng = new Rng(7);
    const init = Float32Array.from({ length: P }, () => rng.next() - 0.5);
    views.params(0).set(init);
    const weights = [0.5, 0.25, 0.25];
    views.slotWeights.set(weights);
    const w = tf.variable(tf.tensor1d(init));
    const opt = tf.train.adam(ADAM_DEFAULTS.learningRate, ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2, ADAM_DEFAULTS.epsilon);
    const g = new Float32Array(layout.paddedParamCount);
    let from: 0 | 1 = 0;
    for (let step = 1; step <= 100; step++) {
      fillGrads(views, 3, P, rng, step % 10 === 0 ? 100 : 1);
      // The exact float32 reduced gradient, fed to tfjs as the gradient of w.
      referenceReduce([views.gradSlot(0), views.gradSlot(1), views.gradSlot(2)], weights, 0, P, g);
      opt.applyGradients({ [w.name]: tf.tensor1d(g.subarray(0, P)) } as Parameters<typeof opt.applyGradients>[0]);
      // Two chunks, as two ranks would do them.
      for (const c of chunkRanges(layout.paddedParamCount, 2)) {
        expect(kernels.reduceAdam({ layout, slots: 3, from, start: c.start, end: c.end }, ADAM_DEFAULTS, step)).toBe(0);
      }
      from = (1 - from) as 0 | 1;
    }
    const want = w.dataSync();
    const got = views.params(from);
    let maxDiff = 0;
    for (let i = 0; i < P; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-6);
    // The weights moved: a kernel that did nothing would fail here.
    expect(Math.abs(got[0] - init[0])).toBeGreaterThan(1e-3);
    // The padding past P stays zero.
    expect(Array.from(got.subarray(P))).toEqual(new Array(layout.paddedParamCount - P).fill(0));
  });

  it('equals the plain-JS reference bit for bit (reduce and Adam)', () => {
    const P = 4096;
    const { layout, views, kernels } = setup(P, 2);
    const rng = new Rng(3);
    fillGrads(views, 2, P, rng);
    views.params(0).set(Float32Array.from({ length: P }, () => rng.next()));
    views.slotWeights.set([0.75, 0.25]);
    const g = new Float32Array(P);
    referenceReduce([views.gradSlot(0), views.gradSlot(1)], [0.75, 0.25], 0, P, g);
    const p = views.params(0).slice(),
      m = new Float32Array(P),
      v = new Float32Array(P);
    referenceAdam(g, p, m, v, ADAM_DEFAULTS, 1, 0, P);
    kernels.reduceAdam({ layout, slots: 2, from: 0, start: 0, end: P }, ADAM_DEFAULTS, 1);
    expect(Buffer.compare(Buffer.from(views.params(1).buffer, views.params(1).byteOffset, P * 4), Buffer.from(p.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(views.state(0, 1).buffer, views.state(0, 1).byteOffset, P * 4), Buffer.from(m.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(views.state(1, 1).buffer, views.state(1, 1).byteOffset, P * 4), Buffer.from(v.buffer))).toBe(0);

    const out = new Float32Array(P);
    const region = layout.state[0][0]; // any float region of the memory serves as output
    kernels.reduceInto({ layout, slots: 2, from: 0, start: 0, end: P }, region.byteOffset);
    out.set(views.state(0, 0).subarray(0, P));
    expect(Array.from(out)).toEqual(Array.from(g));
  });

  it('weights the slots: rank weights 1 and 0 take slot 0 only', () => {
    const P = 64;
    const { layout, views, kernels } = setup(P, 2);
    views.gradSlot(0).fill(2);
    views.gradSlot(1).fill(1000);
    views.slotWeights.set([1, 0]);
    kernels.reduceInto({ layout, slots: 2, from: 0, start: 0, end: P }, layout.state[0][0].byteOffset);
    expect(Array.from(views.state(0, 0).subarray(0, P))).toEqual(new Array(P).fill(2));
  });

  it('counts non-finite gradients and never touches the committed buffers', () => {
    const P = 256;
    const { layout, views, kernels } = setup(P, 2);
    views.params(0).fill(1);
    views.gradSlot(0).fill(0.5);
    views.gradSlot(1).fill(0.5);
    views.gradSlot(0)[3] = NaN;
    views.gradSlot(1)[100] = Infinity;
    views.slotWeights.set([0.5, 0.5]);
    const bad = kernels.reduceAdam({ layout, slots: 2, from: 0, start: 0, end: P }, ADAM_DEFAULTS, 1);
    expect(bad).toBe(2);
    expect(views.params(0).every((x) => x === 1)).toBe(true);
    expect(views.state(0, 0).every((x) => x === 0)).toBe(true);
  });

  it('counts a finite gradient that overflows the optimizer state (g*g past float32) as non-finite', () => {
    const P = 64;
    const { layout, views, kernels } = setup(P, 1);
    views.gradSlot(0).fill(0.5);
    views.gradSlot(0)[7] = 2e19; // finite, but 4e38 > float32 max: v would be +Inf
    views.slotWeights[0] = 1;
    expect(Number.isFinite(views.gradSlot(0)[7])).toBe(true);
    expect(kernels.reduceAdam({ layout, slots: 1, from: 0, start: 0, end: P }, ADAM_DEFAULTS, 1)).toBe(1);
  });
});
