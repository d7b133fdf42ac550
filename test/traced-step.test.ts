/**
 * The traced graph step (packages/worker/src/traced-step.ts), on real tfjs-node kernels in this
 * thread, driven as the replica drives it: each step runs on the tape (TapeLoss) while its row
 * count is recorded, then on its graph. A recurrent model moves onto a graph that gives the tape's
 * bits (loss, metrics, gradients) on a new batch; a model with dropout too (its masks drawn again
 * as the tape draws them); mnist-node's CNN under oneDNN too (its Softmax is built as Eigen's
 * formula, since the graph's oneDNN pass would give other bits); a new row count is recorded on
 * its own; THREADFIT_TRACED_STEP=0 keeps the tape.
 */
// As the trainer sets it for conv and recurrent models (backend-choice.ts), before tfjs-node loads:
// the graph must give the eager bits with oneDNN's rewrites in play.
process.env.TF_ENABLE_ONEDNN_OPTS = '1';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSeededZooModel, buildZooModel, parallelFit, zooData, type ZooModelName } from '@threadfit/coordinator';
import { deriveSeed } from '@threadfit/shared';
import { TapeLoss } from '../packages/worker/src/tape.js';
import { withSeededMathRandom } from '../packages/worker/src/seeded-random.js';
import { TracedSteps, type TracedResult } from '../packages/worker/src/traced-step.js';
import { fitDatasetRun } from '../packages/coordinator/src/fit/parallel-fit-dataset.js';
import { ensureTensorflow } from './tensorflow-setup.js';

beforeAll(async () => {
  ensureTensorflow();
  await import('@tensorflow/tfjs-node');
  expect(await tf.setBackend('tensorflow')).toBe(true);
}, 600_000);

interface Harness {
  traced: TracedSteps;
  notices: string[];
  /** One step of `n` rows from `seed`'s data: on the graph when it is ready, else on the tape (recorded). */
  step(n: number, seed: number): { result: TracedResult; onGraph: boolean };
  /** The same step on the tape alone, for reference. */
  tape(n: number, seed: number): TracedResult;
}

function harness(name: ZooModelName): Harness {
  const model = buildZooModel(tf, name, 'small');
  const compiled = { 'jena-gru': 'meanAbsoluteError', 'mnist-cnn': 'categoricalCrossentropy', 'sentiment-cnn': 'binaryCrossentropy' } as Record<string, string>;
  model.compile({ optimizer: 'sgd', loss: compiled[name] ?? 'meanSquaredError', metrics: name === 'jena-gru' ? [] : ['accuracy'] });
  const tape = new TapeLoss(tf, model, 7);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const notices: string[] = [];
  const traced = TracedSteps.create(tf, (why) => notices.push(why))!;
  const batch = (n: number, seed: number) => {
    const d = zooData(tf, name, n, 'small', seed);
    return { xs: Array.isArray(d.x) ? d.x : [d.x], ys: Array.isArray(d.y) ? d.y : [d.y] };
  };
  const weights = () => vars.map((v) => v.dataSync() as Float32Array);
  const feeds = (xs: tf.Tensor[], ys: tf.Tensor[]) => [...xs.map((x) => x.dataSync()), ...ys.map((y) => y.dataSync()), ...weights()];
  // The step's dropout draws, as the replica makes them (TapeLoss's seed 7, slot 0, step = seed).
  const draws = (seed: number) => (shapes: number[][]) =>
    withSeededMathRandom(deriveSeed(7, 0, seed), () =>
      shapes.map((sh) => {
        const t = tf.randomUniform(sh, 0, 1, 'float32');
        const v = t.dataSync() as Float32Array;
        t.dispose();
        return v;
      }),
    );
  const read = (n: number, r: ReturnType<TapeLoss['grad']>): TracedResult => ({
    lossSum: r.lossSum,
    metricSums: r.metricSums,
    grads: r.grads.map((g) => g!.dataSync() as Float32Array),
  });
  return {
    traced,
    notices,
    step(n, seed) {
      const { xs, ys } = batch(n, seed);
      try {
        if (traced.ready(n)) return { result: traced.run(n, feeds(xs, ys), draws(seed)), onGraph: true };
        const r = traced.record(n, xs, ys, vars, (capture) => tape.grad(xs, ys, vars, 0, seed, capture));
        const result = read(n, r);
        traced.afterTape(() => feeds(xs, ys), result, draws(seed));
        tf.dispose(r.grads.filter((g): g is tf.Tensor => g !== undefined));
        return { result, onGraph: false };
      } finally {
        tf.dispose([...xs, ...ys]);
      }
    },
    tape(n, seed) {
      const { xs, ys } = batch(n, seed);
      const r = tape.grad(xs, ys, vars, 0, seed);
      const result = read(n, r);
      tf.dispose([...xs, ...ys, ...r.grads.filter((g): g is tf.Tensor => g !== undefined)]);
      return result;
    },
  };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('the traced graph step (tensorflow)', () => {
  it('a GRU moves onto its graph after two recorded steps, and the graph gives the tape bits on new batches', () => {
    const h = harness('jena-gru');
    expect(h.step(8, 1).onGraph).toBe(false);
    expect(h.traced.ready(8)).toBe(false);
    expect(h.step(8, 2).onGraph).toBe(false);
    expect(h.traced.ready(8)).toBe(true);
    expect(h.notices).toEqual([expect.stringMatching(/steps of 8 rows run as one traced TensorFlow graph \(\d+ kernels\)/)]);
    for (const seed of [3, 4]) {
      const graph = h.step(8, seed);
      const tape = h.tape(8, seed);
      expect(graph.onGraph).toBe(true);
      expect(graph.result.lossSum).toBe(tape.lossSum);
      expect(graph.result.grads.length).toBe(tape.grads.length);
      graph.result.grads.forEach((g, i) => expect(bits(g).equals(bits(tape.grads[i])), `gradient ${i}`).toBe(true));
      // Not a constant: another batch gives other gradients.
      expect(graph.result.lossSum).not.toBe(h.tape(8, seed + 10).lossSum);
    }
  });

  it('a new row count is recorded on its own, the first keeps its graph', () => {
    const h = harness('jena-gru');
    for (const seed of [1, 2]) h.step(8, seed);
    expect(h.step(5, 3).onGraph).toBe(false);
    expect(h.traced.ready(5)).toBe(false);
    expect(h.step(8, 4).onGraph).toBe(true);
    h.step(5, 5);
    expect(h.traced.ready(5)).toBe(true);
    const graph = h.step(5, 6);
    expect(graph.onGraph).toBe(true);
    expect(graph.result.lossSum).toBe(h.tape(5, 6).lossSum);
  });

  it('an LSTM with an embedding (int32 inputs) and an accuracy metric: the metric sums come from the graph too', () => {
    const h = harness('sentiment-lstm');
    for (const seed of [1, 2]) h.step(6, seed);
    expect(h.traced.ready(6)).toBe(true);
    const graph = h.step(6, 3);
    const tape = h.tape(6, 3);
    expect(graph.onGraph).toBe(true);
    expect(graph.result.metricSums).toEqual(tape.metricSums);
    expect(graph.result.lossSum).toBe(tape.lossSum);
  });

  it("a model with dropout: its masks are drawn again as the tape draws them, and the graph gives the tape's bits", () => {
    const h = harness('sentiment-cnn');
    for (const seed of [1, 2]) expect(h.step(4, seed).onGraph).toBe(false);
    expect(h.traced.ready(4)).toBe(true);
    expect(h.notices).toEqual([
      expect.stringMatching(/^steps of 4 rows run as one traced TensorFlow graph \(\d+ kernels; 1 random draw \(dropout\) made in JS each step\)$/),
    ]);
    for (const seed of [3, 4]) {
      const graph = h.step(4, seed);
      const tape = h.tape(4, seed);
      expect(graph.onGraph).toBe(true);
      expect(graph.result.lossSum).toBe(tape.lossSum);
      graph.result.grads.forEach((g, i) => expect(bits(g).equals(bits(tape.grads[i])), `gradient ${i}`).toBe(true));
    }
    // Draws of another step give other masks, hence another loss on the same rows.
    expect(h.tape(4, 5).lossSum).not.toBe(h.tape(4, 6).lossSum);
  });

  it("mnist-node's CNN under oneDNN (conv, max-pool, dropout, softmax): onto its graph, with the tape's bits", () => {
    const h = harness('mnist-cnn');
    for (const seed of [1, 2]) expect(h.step(6, seed).onGraph).toBe(false);
    expect(h.notices).toEqual([expect.stringMatching(/^steps of 6 rows run as one traced TensorFlow graph \(\d+ kernels; 2 random draws \(dropout\)/)]);
    for (const seed of [3, 4]) {
      const graph = h.step(6, seed);
      const tape = h.tape(6, seed);
      expect(graph.onGraph).toBe(true);
      expect(graph.result.lossSum).toBe(tape.lossSum);
      expect(graph.result.metricSums).toEqual(tape.metricSums);
      graph.result.grads.forEach((g, i) => expect(bits(g).equals(bits(tape.grads[i])), `gradient ${i}`).toBe(true));
    }
  });

  it('through parallelFit: a GRU in deterministic mode gives the same bits at W=1 and W=2, and the same as with the tape only', async () => {
    const d = zooData(tf, 'jena-gru', 128, 'small', 9);
    const run = async (workers: number) => {
      const m = buildSeededZooModel(tf, 'jena-gru', 3, 'small');
      m.compile({ optimizer: 'adam', loss: 'meanAbsoluteError' });
      // 2 epochs x 8 steps of 16 rows (4 micro-batches of 4): most steps run on the graph.
      await parallelFit(m, d.x as tf.Tensor, d.y as tf.Tensor, {
        epochs: 2,
        batchSize: 16,
        workers,
        backend: 'tensorflow',
        verbose: 0,
        deterministic: true,
        microBatches: 4,
      });
      const out = Buffer.concat(m.getWeights().map((w) => bits(w.dataSync() as Float32Array)));
      m.dispose();
      return out;
    };
    const one = await run(1);
    const two = await run(2);
    process.env.THREADFIT_TRACED_STEP = '0';
    let tapeOnly: Buffer;
    try {
      tapeOnly = await run(2);
    } finally {
      delete process.env.THREADFIT_TRACED_STEP;
    }
    expect(two.equals(one)).toBe(true);
    expect(tapeOnly.equals(one)).toBe(true);
  }, 120_000);

  it("the workers' decisions reach the caller (SessionResult.notices, which the CLI logs): a GRU and a model with dropout onto their graphs", async () => {
    const decisions = async (name: ZooModelName, loss: string) => {
      const d = zooData(tf, name, 96, 'small', 4);
      const m = buildSeededZooModel(tf, name, 3, 'small');
      m.compile({ optimizer: 'sgd', loss });
      const ds = tf.data.zip({ xs: tf.data.array(tf.unstack(d.x as tf.Tensor)), ys: tf.data.array(tf.unstack(d.y as tf.Tensor)) }).batch(16);
      const r = await fitDatasetRun(m, ds as unknown as Parameters<typeof fitDatasetRun>[1], { epochs: 1, workers: 1, backend: 'tensorflow', verbose: 0 });
      m.dispose();
      return r.notices;
    };
    expect(await decisions('jena-gru', 'meanAbsoluteError')).toEqual([
      expect.stringMatching(/^steps of 16 rows run as one traced TensorFlow graph \(\d+ kernels\)$/),
    ]);
    expect(await decisions('sentiment-cnn', 'binaryCrossentropy')).toEqual([
      expect.stringMatching(/^steps of 16 rows run as one traced TensorFlow graph \(\d+ kernels; 1 random draw \(dropout\) made in JS each step\)$/),
    ]);
  }, 120_000);

  it('frozen layers take the graph (fed as the trainable weights are, and stay exactly frozen); a step that moves moving statistics keeps the tape', async () => {
    const d = zooData(tf, 'mnist-transfer', 96, 'small', 4);
    const frozen = buildSeededZooModel(tf, 'mnist-transfer', 3, 'small');
    frozen.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const fixed = frozen.weights.length - frozen.trainableWeights.length;
    expect(fixed).toBeGreaterThan(0);
    const before = frozen
      .getWeights()
      .slice(-fixed)
      .map((t) => bits(t.dataSync() as Float32Array));
    const run = async (m: tf.LayersModel, x: tf.Tensor, y: tf.Tensor) => {
      const ds = tf.data.zip({ xs: tf.data.array(tf.unstack(x)), ys: tf.data.array(tf.unstack(y)) }).batch(16);
      const r = await fitDatasetRun(m, ds as unknown as Parameters<typeof fitDatasetRun>[1], { epochs: 1, workers: 1, backend: 'tensorflow', verbose: 0 });
      return r.notices;
    };
    expect(await run(frozen, d.x as tf.Tensor, d.y as tf.Tensor)).toEqual([
      expect.stringMatching(/^steps of 16 rows run as one traced TensorFlow graph \(\d+ kernels/),
    ]);
    frozen
      .getWeights()
      .slice(-fixed)
      .forEach((t, i) => expect(bits(t.dataSync() as Float32Array).equals(before[i]), `frozen weight ${i}`).toBe(true));
    frozen.dispose();

    const bn = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [6], units: 8 }), tf.layers.batchNormalization(), tf.layers.dense({ units: 2, activation: 'softmax' })],
    });
    bn.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([64, 6], 0, 1, 'float32', 5);
    const y = tf.oneHot(
      tf.tensor1d(
        [...Array(64).keys()].map((i) => i % 2),
        'int32',
      ),
      2,
    );
    expect(await run(bn, x, y)).toEqual([
      'steps of 16 rows stay on the tape: the step updates non-trainable weights (moving statistics) in JavaScript, outside its kernels',
    ]);
    tf.dispose([x, y]);
    bn.dispose();
  }, 120_000);

  it("a refusal for the whole model (moved non-trainable weights) ends every graph and puts tfjs-node's own binding back", () => {
    const h = harness('jena-gru');
    const binding = () => (tf.backend() as unknown as { binding: object }).binding;
    // While the recorder is installed, the backend's binding is it (it carries its own symbol).
    expect(Object.getOwnPropertySymbols(binding())).toHaveLength(1);
    // The replica passes the refusal it saw to afterTape, after the tape step of a new row count.
    const { xs, ys } = (() => {
      const d = zooData(tf, 'jena-gru', 3, 'small', 1);
      return { xs: [d.x as tf.Tensor], ys: [d.y as tf.Tensor] };
    })();
    const model = buildZooModel(tf, 'jena-gru', 'small');
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const tape = new TapeLoss(tf, model, 7);
    model.compile({ optimizer: 'sgd', loss: 'meanAbsoluteError' });
    const r = h.traced.record(3, xs, ys, vars, (capture) => tape.grad(xs, ys, vars, 0, 1, capture));
    h.traced.afterTape(
      () => [],
      { lossSum: r.lossSum, metricSums: r.metricSums, grads: [] },
      () => [],
      'moving statistics moved',
    );
    expect(h.notices).toEqual(['steps of 3 rows stay on the tape: moving statistics moved']);
    expect(Object.getOwnPropertySymbols(binding())).toHaveLength(0);
    // Later steps of any row count run on the tape.
    expect(h.step(4, 1).onGraph).toBe(false);
    expect(h.step(4, 2).onGraph).toBe(false);
    expect(h.traced.ready(4)).toBe(false);
    tf.dispose([...xs, ...ys, ...r.grads.filter((g): g is tf.Tensor => g !== undefined)]);
    model.dispose();
  });

  it('THREADFIT_TRACED_STEP=0 keeps the tape', () => {
    process.env.THREADFIT_TRACED_STEP = '0';
    try {
      expect(TracedSteps.create(tf, () => {})).toBeUndefined();
    } finally {
      delete process.env.THREADFIT_TRACED_STEP;
    }
  });
});
