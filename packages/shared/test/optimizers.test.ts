import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  StateViews,
  ThreadfitError,
  applyUpdate,
  chunkRanges,
  createStateMemory,
  initialState,
  loadKernels,
  optimizerSpecOf,
  referenceReduce,
  referenceUpdate,
  stateLayout,
  stateSlotsOf,
  Rng,
  type OptimizerSpec,
} from '@threadfit/shared';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

// Every optimizer and variant, as tf.train makes it; the spec under test is read from the instance.
const CASES: Array<[string, () => tf.Optimizer]> = [
  ['sgd', () => tf.train.sgd(0.05)],
  ['momentum', () => tf.train.momentum(0.01, 0.9)],
  ['momentum nesterov', () => tf.train.momentum(0.01, 0.9, true)],
  ['rmsprop', () => tf.train.rmsprop(0.001)],
  ['rmsprop momentum', () => tf.train.rmsprop(0.001, 0.8, 0.5)],
  ['rmsprop centered', () => tf.train.rmsprop(0.001, 0.9, 0, undefined, true)],
  ['rmsprop centered momentum', () => tf.train.rmsprop(0.001, 0.8, 0.5, 1e-6, true)],
  ['adagrad', () => tf.train.adagrad(0.05)],
  ['adagrad initial 0.5', () => tf.train.adagrad(0.05, 0.5)],
  ['adadelta', () => tf.train.adadelta(1, 0.95)],
  ['adamax', () => tf.train.adamax(0.002)],
  ['adamax decay', () => tf.train.adamax(0.01, 0.8, 0.99, 1e-6, 0.05)],
  ['adam (through the dispatcher)', () => tf.train.adam(0.001)],
];

function setup(spec: OptimizerSpec, paramCount: number, slots: number) {
  const layout = stateLayout({ paramCount, gradSlots: slots, stateSlots: stateSlotsOf(spec).length, maxBatch: 4 });
  const memory = createStateMemory(layout);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, layout);
  // As Trainer.create does: the state's starting value in both buffers.
  initialState(spec).forEach((fill, s) => {
    views.state(s, 0).fill(fill);
    views.state(s, 1).fill(fill);
  });
  return { layout, views, kernels: loadKernels(memory) };
}

function fillGrads(views: StateViews, slots: number, n: number, rng: Rng, scale = 1) {
  for (let r = 0; r < slots; r++) {
    const g = views.gradSlot(r);
    for (let i = 0; i < n; i++) g[i] = (rng.next() * 2 - 1) * scale;
  }
}

/** Max |a - b| over [0, n), where NaN in both at the same place counts as equal (tfjs's centered
 * RMSProp makes NaN weights by design, see assembly/optimizers.ts) and NaN in one only fails. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    d = Math.max(d, Math.abs(a[i] - b[i]));
    if (Number.isNaN(d)) return Infinity;
  }
  return d;
}

type AdamaxInternals = Record<'accumulatedFirstMoment' | 'accumulatedWeightedInfNorm', Array<{ originalName: string; variable: tf.Variable }>>;
/** Adamax's m and v variables (tfjs 4.22 private fields: its getWeights() throws). */
const adamaxState = (opt: tf.Optimizer) => {
  const o = opt as unknown as AdamaxInternals;
  return [...o.accumulatedFirstMoment, ...o.accumulatedWeightedInfNorm];
};

const bytes = (a: Float32Array, n: number) => Buffer.from(a.buffer, a.byteOffset, n * 4);

describe('SIMD optimizer kernels against tf.train.*', () => {
  // Tolerance 1e-6 for every case (DESIGN.md). Measured (tfjs 4.22, cpu backend): max |diff| 0 for
  // every case, weights and every state slot: the kernels reproduce tfjs bit for bit. Centered
  // RMSProp has a few NaN weights, at the same places in both (tfjs's formula, see maxAbsDiff).
  it.each(CASES)('%s: 100 steps, 3 weighted slots, 2 chunks, within 1e-6 of tfjs (weights and state)', async (_name, make) => {
    const P = 1003; // not a multiple of 16: exercises the padding
    const opt = make();
    const spec = optimizerSpecOf(opt);
    const { layout, views, kernels } = setup(spec, P, 3);
    const rng = new Rng(11);
    const init = Float32Array.from({ length: P }, () => rng.next() - 0.5);
    views.params(0).set(init);
    const weights = [0.5, 0.25, 0.25];
    views.slotWeights.set(weights);
    const w = tf.variable(tf.tensor1d(init));
    const g = new Float32Array(layout.paddedParamCount);
    let from: 0 | 1 = 0;
    for (let step = 1; step <= 100; step++) {
      fillGrads(views, 3, P, rng, step % 10 === 0 ? 100 : 1);
      // The exact float32 reduced gradient, fed to tfjs as the gradient of w.
      referenceReduce([views.gradSlot(0), views.gradSlot(1), views.gradSlot(2)], weights, 0, P, g);
      tf.tidy(() => opt.applyGradients({ [w.name]: tf.tensor1d(g.subarray(0, P)) }));
      for (const c of chunkRanges(layout.paddedParamCount, 2)) {
        const bad = applyUpdate(kernels, spec, { layout, slots: 3, from, start: c.start, end: c.end }, step);
        // The kernels count every element whose gradient or written value is non-finite. Finite
        // gradients give 0, except centered RMSProp, whose tfjs formula makes NaN (see optimizers.ts).
        const to = (1 - from) as 0 | 1;
        let written = 0;
        for (let i = c.start; i < c.end; i++) {
          let ok = Number.isFinite(views.params(to)[i]);
          for (let sl = 0; sl < layout.state.length; sl++) ok &&= Number.isFinite(views.state(sl, to)[i]);
          if (!ok) written++;
        }
        expect(bad).toBe(written);
        if (!(spec.kind === 'rmsprop' && spec.centered)) expect(bad).toBe(0);
      }
      from = (1 - from) as 0 | 1;
    }
    const want = w.dataSync();
    const got = views.params(from);
    const diffs = [maxAbsDiff(want, got, P)];
    // The state too, slot by slot in getWeights() order (Adamax has no getWeights() in tfjs 4.22:
    // its variables are read directly).
    const tfState = spec.kind === 'adamax' ? adamaxState(opt).map((v) => v.variable) : (await opt.getWeights()).slice(1).map((s) => s.tensor);
    expect(tfState.length).toBe(stateSlotsOf(spec).length);
    tfState.forEach((t, k) => diffs.push(maxAbsDiff(t.dataSync(), views.state(k, from), P)));
    for (const d of diffs) expect(d).toBeLessThanOrEqual(1e-6);
    // The weights moved: a kernel that did nothing would fail here.
    expect(maxAbsDiff(got, init, P)).toBeGreaterThan(1e-3);
    opt.dispose();
    w.dispose();
  });
});

describe('SIMD optimizer kernels against their plain-JS references', () => {
  it.each(CASES)('%s: bit for bit over 3 steps (weights and every state slot)', (_name, make) => {
    const P = 4096;
    const opt = make();
    const spec = optimizerSpecOf(opt);
    opt.dispose();
    const nSlots = stateSlotsOf(spec).length;
    const { layout, views, kernels } = setup(spec, P, 2);
    const rng = new Rng(5);
    views.params(0).set(Float32Array.from({ length: P }, () => rng.next()));
    views.slotWeights.set([0.75, 0.25]);
    const p = views.params(0).slice();
    const state = Array.from({ length: nSlots }, (_, s) => views.state(s, 0).slice());
    const g = new Float32Array(P);
    let from: 0 | 1 = 0;
    for (let step = 1; step <= 3; step++) {
      fillGrads(views, 2, P, rng);
      referenceReduce([views.gradSlot(0), views.gradSlot(1)], [0.75, 0.25], 0, P, g);
      referenceUpdate(spec, g, p, state, step, 0, P);
      applyUpdate(kernels, spec, { layout, slots: 2, from, start: 0, end: P }, step);
      from = (1 - from) as 0 | 1;
    }
    expect(Buffer.compare(bytes(views.params(from), P), bytes(p, P))).toBe(0);
    for (let s = 0; s < nSlots; s++) expect(Buffer.compare(bytes(views.state(s, from), P), bytes(state[s], P))).toBe(0);
  });

  it.each(CASES)('%s: counts non-finite gradients and never touches the committed buffers', (_name, make) => {
    const P = 256;
    const opt = make();
    const spec = optimizerSpecOf(opt);
    opt.dispose();
    const { layout, views, kernels } = setup(spec, P, 2);
    views.params(0).fill(1);
    views.gradSlot(0).fill(0.5);
    views.gradSlot(1).fill(0.5);
    views.gradSlot(0)[3] = NaN;
    views.gradSlot(1)[100] = -Infinity;
    views.slotWeights.set([0.5, 0.5]);
    const before = stateSlotsOf(spec).map((_, s) => views.state(s, 0).slice());
    expect(applyUpdate(kernels, spec, { layout, slots: 2, from: 0, start: 0, end: P }, 1)).toBe(2);
    expect(views.params(0).every((x) => x === 1)).toBe(true);
    before.forEach((b, s) => expect(Buffer.compare(bytes(views.state(s, 0), P), bytes(b, P))).toBe(0));
  });
});

describe('optimizerSpecOf', () => {
  it('reads what model.compile makes of each optimizer name (tfjs-layers defaults)', () => {
    const specs = ['sgd', 'adam', 'adamax', 'rmsprop', 'adagrad', 'adadelta'].map((name) => {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
      model.compile({ loss: 'meanSquaredError', optimizer: name });
      const spec = optimizerSpecOf(model.optimizer);
      model.dispose();
      return spec;
    });
    expect(specs).toEqual([
      { kind: 'sgd', learningRate: 0.01 },
      { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
      { kind: 'adamax', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, decay: 0 },
      { kind: 'rmsprop', learningRate: 0.001, decay: 0.9, momentum: 0, epsilon: 1e-7, centered: false },
      { kind: 'adagrad', learningRate: 0.01, initialAccumulatorValue: 0.1 },
      { kind: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 },
    ]);
    expect(optimizerSpecOf(tf.train.momentum(0.1, 0.9, true))).toEqual({ kind: 'momentum', learningRate: 0.1, momentum: 0.9, useNesterov: true });
    // Structured-clone data: it crosses to a worker unchanged.
    for (const s of specs) expect(structuredClone(s)).toEqual(s);
  });

  it('refuses an optimizer it cannot run with ERR_THREADFIT_UNSUPPORTED, naming it and the supported ones', () => {
    class Lion extends tf.Optimizer {
      static get className() {
        return 'Lion';
      }
      applyGradients(): void {}
      getConfig() {
        return { learningRate: 0.1 };
      }
    }
    const run = () => optimizerSpecOf(new Lion());
    expect(run).toThrow(ThreadfitError);
    expect(run).toThrow(/optimizer Lion is not supported across threads; supported: adam, adamax, sgd, momentum, rmsprop, adagrad, adadelta/);
    try {
      run();
    } catch (err) {
      expect((err as ThreadfitError).code).toBe(ErrorCodes.UNSUPPORTED);
    }
    expect(() => optimizerSpecOf({} as never)).toThrow(/not supported across threads/);
    expect(() => optimizerSpecOf('adam' as never)).toThrow(/is a name, not a tfjs optimizer instance/);
    // A spec of an unknown kind arriving in a worker is refused too, never run as Adam.
    const { layout, kernels } = setup({ kind: 'sgd', learningRate: 1 }, 16, 1);
    expect(() => applyUpdate(kernels, { kind: 'nadam' } as never, { layout, slots: 1, from: 0, start: 0, end: 16 }, 1)).toThrow(
      expect.objectContaining({ code: ErrorCodes.UNSUPPORTED }),
    );
  });

  it('refuses a hyper-parameter that is not a finite number', () => {
    expect(() => optimizerSpecOf(tf.train.sgd(undefined as unknown as number))).toThrow(
      expect.objectContaining({
        code: ErrorCodes.INVALID_OPTION,
        message: expect.stringMatching(/optimizer SGD: learningRate must be a finite number, got undefined/),
      }),
    );
  });
});

describe('state slots', () => {
  it("names and orders them as tfjs's getWeights() does, so a checkpoint round-trips into tfjs", async () => {
    for (const [name, make] of CASES) {
      const opt = make();
      const spec = optimizerSpecOf(opt);
      const a = tf.variable(tf.zeros([2]));
      const b = tf.variable(tf.zeros([3]));
      opt.applyGradients({ [a.name]: tf.ones([2]), [b.name]: tf.ones([3]) });
      // tfjs's order: 'iter', then for each slot, that slot of every variable.
      const want = ['iter', ...stateSlotsOf(spec).flatMap((s) => [`${a.name}/${s}`, `${b.name}/${s}`])];
      let got: string[];
      if (spec.kind === 'adamax') {
        // getWeights() throws for Adamax in tfjs 4.22; its variables carry the names all the same.
        got = ['iter', ...adamaxState(opt).map((v) => v.originalName)];
      } else {
        got = (await opt.getWeights()).map((w) => w.name);
      }
      expect(got, name).toEqual(want);
      opt.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('counts and starting values', () => {
    expect(stateSlotsOf({ kind: 'adam', learningRate: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 })).toEqual(['m', 'v']);
    expect(stateSlotsOf({ kind: 'sgd', learningRate: 1 })).toEqual([]);
    expect(stateSlotsOf({ kind: 'rmsprop', learningRate: 1, decay: 0.9, momentum: 0, epsilon: 1e-7, centered: true })).toEqual(['rms', 'momentum', 'mg']);
    expect(initialState({ kind: 'adagrad', learningRate: 1, initialAccumulatorValue: 0.25 })).toEqual([0.25]);
    expect(initialState({ kind: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 })).toEqual([0, 0]);
    expect(initialState({ kind: 'sgd', learningRate: 1 })).toEqual([]);
  });
});
