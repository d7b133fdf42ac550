/**
 * parallelFitDataset against model.fitDataset: the same History and weights at W=1 on the same
 * seeded tf.data pipeline, the dataset's batch as the global batch for any W, batches that stay
 * in their ring slot for a rerun after a fault, resume, a failing iterator, bad batches, and
 * memory that does not grow with a streamed dataset's length.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync, readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { parallelFitDataset } from '@threadfit/coordinator';
import { installWasmMatMulFix } from '@threadfit/worker';
import { maxRel, runNode, tempDir } from './helpers.js';

const N = 320;

beforeAll(async () => {
  tf.env().set('PROD', true);
  installWasmMatMulFix(tf);
  await tf.setBackend('cpu');
});

function data(n = N, features = 10, classes = 3) {
  return tf.tidy(() => {
    const x = tf.randomUniform([n, features], 0, 1, 'float32', 11);
    const y = tf.oneHot(tf.argMax(x.slice([0, 0], [n, classes]), 1), classes).toFloat();
    return { x, y };
  });
}

/** A tf.data pipeline as tfjs users write it: zipped samples, a seeded shuffle, batches. */
function pipeline(x: tf.Tensor, y: tf.Tensor, batch: number, seed = 'data-seed') {
  return tf.data
    .zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) })
    .shuffle(100, seed)
    .batch(batch);
}

function mlp(seed: number): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [10], kernelInitializer: init(seed) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(seed + 1) }),
    ],
  });
  m.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
  return m;
}

const bitsOf = (m: tf.LayersModel) => Buffer.concat(m.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer)));

function expectSameHistory(got: tf.History, want: tf.History): void {
  expect(Object.keys(got.history)).toEqual(Object.keys(want.history));
  expect(got.epoch).toEqual(want.epoch);
  for (const k of Object.keys(want.history)) {
    want.history[k].forEach((w, e) => expect(Math.abs((got.history[k][e] as number) - (w as number))).toBeLessThanOrEqual(1e-4 * Math.abs(w as number) + 1e-6));
  }
}

describe('parallelFitDataset = model.fitDataset (W=1, same pipeline, same initial weights)', () => {
  it.each(['cpu', 'wasm'] as const)('on %s: the same History and weights, with a validation dataset', async (backend) => {
    const { x, y } = data();
    const { x: vx, y: vy } = data(96);
    await tf.setBackend(backend);
    const a = mlp(3);
    const ha = await a.fitDataset(pipeline(x, y, 32), { epochs: 3, verbose: 0, validationData: pipeline(vx, vy, 40) });
    await tf.setBackend('cpu');
    const b = mlp(3);
    const batches: Array<{ batch: number; size: number }> = [];
    const hb = await parallelFitDataset(b, pipeline(x, y, 32), {
      epochs: 3,
      verbose: 0,
      workers: 1,
      backend,
      validationData: pipeline(vx, vy, 40),
      callbacks: { onBatchEnd: async (batch: number, logs?: tf.Logs) => void batches.push({ batch, size: logs!.size as number }) },
    });
    expectSameHistory(hb, ha);
    expect(maxRel(b.getWeights(), a.getWeights())).toBeLessThan(1e-4);
    expect(batches.slice(0, 11)).toEqual(Array.from({ length: 10 }, (_, i) => ({ batch: i, size: 32 })).concat([{ batch: 0, size: 32 }]));
  });

  it('validation on [xVal, yVal] tensors, and batchesPerEpoch running one iterator across epochs (as fitDataset)', async () => {
    const { x, y } = data();
    const { x: vx, y: vy } = data(64);
    const make = () => pipeline(x, y, 32).repeat();
    const a = mlp(5);
    const ha = await a.fitDataset(make(), { epochs: 3, batchesPerEpoch: 7, verbose: 0, validationData: [vx, vy] });
    const b = mlp(5);
    const hb = await parallelFitDataset(b, make(), { epochs: 3, batchesPerEpoch: 7, verbose: 0, workers: 1, backend: 'cpu', validationData: [vx, vy] });
    expectSameHistory(hb, ha);
    expect(maxRel(b.getWeights(), a.getWeights())).toBeLessThan(1e-4);
  });

  it('classWeight: the same History and weights as fitDataset; a batch with a class that has no weight is named', async () => {
    const { x, y } = data();
    const a = mlp(6);
    const ha = await a.fitDataset(pipeline(x, y, 32), { epochs: 2, verbose: 0, classWeight: { 0: 1, 1: 3, 2: 0.5 } });
    const b = mlp(6);
    const hb = await parallelFitDataset(b, pipeline(x, y, 32), { epochs: 2, verbose: 0, workers: 1, backend: 'cpu', classWeight: { 0: 1, 1: 3, 2: 0.5 } });
    expectSameHistory(hb, ha);
    expect(maxRel(b.getWeights(), a.getWeights())).toBeLessThan(1e-4);
    await expect(parallelFitDataset(mlp(6), pipeline(x, y, 32), { verbose: 0, workers: 2, backend: 'cpu', classWeight: { 0: 1, 1: 3 } })).rejects.toThrow(
      /class 2 occurs in batch \d+ of epoch 1 of the dataset: ys \(sample \d+\) but has none/,
    );
  });

  it('a dataset that runs out before batchesPerEpoch x epochs: a warning, and training stops after that epoch', async () => {
    const { x, y } = data();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const h = await parallelFitDataset(mlp(5), pipeline(x, y, 32), { epochs: 5, batchesPerEpoch: 4, verbose: 0, workers: 2, backend: 'cpu' });
      // 10 batches: epochs of 4, 4, then 2 and the iterator is done.
      expect(h.epoch).toEqual([0, 1, 2]);
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/batchesPerEpoch is 4, but the dataset ran out after 2 batches of epoch 3/);
    } finally {
      warn.mockRestore();
    }
  });

  it('a two-input, two-output model: elements as [xs, ys] arrays and as objects keyed by name', async () => {
    const a = tf.input({ shape: [4], name: 'a' });
    const c = tf.input({ shape: [3], name: 'c' });
    const h = tf.layers.dense({ units: 8, activation: 'relu' }).apply(tf.layers.concatenate().apply([a, c])) as tf.SymbolicTensor;
    const out1 = tf.layers.dense({ units: 2, activation: 'softmax', name: 'cls' }).apply(h) as tf.SymbolicTensor;
    const out2 = tf.layers.dense({ units: 1, name: 'reg' }).apply(h) as tf.SymbolicTensor;
    const build = () => {
      const m = tf.model({ inputs: [a, c], outputs: [out1, out2] });
      m.compile({ optimizer: tf.train.sgd(0.1), loss: ['categoricalCrossentropy', 'meanSquaredError'] });
      return m;
    };
    const m1 = build();
    const w0 = m1.getWeights().map((w) => w.clone());
    const xa = tf.randomNormal([64, 4], 0, 1, 'float32', 1);
    const xc = tf.randomNormal([64, 3], 0, 1, 'float32', 2);
    const y1 = tf.oneHot(tf.cast(tf.greater(tf.sum(xa, 1), 0), 'int32'), 2).toFloat();
    const y2 = tf.sum(xc, 1, true);
    const byName = tf.data
      .zip({
        xs: tf.data.zip({ a: tf.data.array(xa.unstack()), c: tf.data.array(xc.unstack()) }),
        ys: tf.data.zip({ cls: tf.data.array(y1.unstack()), reg: tf.data.array(y2.unstack()) }),
      })
      .batch(16);
    const ha = await m1.fitDataset(byName, { epochs: 2, verbose: 0 });
    const m2 = build();
    m2.setWeights(w0);
    // The same pipeline yielding [xs, ys] with arrays in the model's input and output order.
    const asArrays = byName.map((e) => {
      const { xs, ys } = e as { xs: Record<string, tf.Tensor>; ys: Record<string, tf.Tensor> };
      return [
        [xs.a, xs.c],
        [ys.cls, ys.reg],
      ] as unknown as tf.TensorContainer;
    });
    const hb = await parallelFitDataset(m2, asArrays, { epochs: 2, verbose: 0, workers: 1, backend: 'cpu' });
    // tfjs 4.22's own fitDataset History holds the per-output losses too: the same keys and values.
    expectSameHistory(hb, ha);
    expect(maxRel(m2.getWeights(), m1.getWeights())).toBeLessThan(1e-4);
  });
});

describe("the dataset's batch is the global batch", () => {
  it('deterministic mode: the same bits at W=1 and W=2, a short last batch included', async () => {
    const { x, y } = data(330);
    const run = async (workers: number) => {
      const m = mlp(7);
      await parallelFitDataset(m, pipeline(x, y, 32), { epochs: 2, verbose: 0, workers, backend: 'wasm', deterministic: true, microBatches: 4 });
      return bitsOf(m);
    };
    expect(Buffer.compare(await run(2), await run(1))).toBe(0);
  });

  it('injectFault: a worker crashes mid-step; the step reruns on the batch still in its slot, the weights equal a fault-free run bit for bit', async () => {
    const { x, y } = data();
    const clean = mlp(8);
    await parallelFitDataset(clean, pipeline(x, y, 32), { epochs: 2, verbose: 0, workers: 2, backend: 'wasm' });
    const faulty = mlp(8);
    await parallelFitDataset(faulty, pipeline(x, y, 32), { epochs: 2, verbose: 0, workers: 2, backend: 'wasm', injectFault: 'exit@step=13,rank=1' });
    expect(Buffer.compare(bitsOf(faulty), bitsOf(clean))).toBe(0);
  });
});

describe('checkpoints and resume', () => {
  it.each([{ batchesPerEpoch: undefined }, { batchesPerEpoch: 6 }])(
    'stopped mid-epoch and resumed (batchesPerEpoch $batchesPerEpoch): the bits of a run never stopped, for a seeded pipeline',
    async ({ batchesPerEpoch }) => {
      const { x, y } = data();
      const make = () => (batchesPerEpoch === undefined ? pipeline(x, y, 32) : pipeline(x, y, 32).repeat());
      const opts = { epochs: 3, verbose: 0 as const, workers: 2, backend: 'wasm' as const, batchesPerEpoch };
      const clean = mlp(9);
      const hc = await parallelFitDataset(clean, make(), opts);
      const { dir, cleanup } = tempDir();
      try {
        const first = mlp(9);
        await parallelFitDataset(first, make(), {
          ...opts,
          checkpointDir: dir,
          callbacks: { onBatchEnd: async (batch: number) => void (batch === 3 && first.history.epoch.length === 1 && (first.stopTraining = true)) },
        });
        expect(readdirSync(dir).filter((f) => f.startsWith('ckpt-')).length).toBeGreaterThan(0);
        const resumed = mlp(9);
        const hr = await parallelFitDataset(resumed, make(), { ...opts, checkpointDir: dir, resume: true });
        expect(hr.epoch).toEqual([1, 2]);
        expect(hr.history.loss[1]).toBe(hc.history.loss[2]);
        expect(Buffer.compare(bitsOf(resumed), bitsOf(clean))).toBe(0);
      } finally {
        cleanup();
      }
    },
  );

  it('an iterator that throws fails the run naming the dataset and the batch, after checkpointing the committed state; resume goes on from it', async () => {
    const { x, y } = data();
    const xs = x.unstack();
    const ys = y.unstack();
    const make = (failAt: number) =>
      tf.data.generator(function* () {
        for (let b = 0; b < 10; b++) {
          if (b === failAt) throw new Error('disk read failed');
          yield { xs: tf.stack(xs.slice(b * 32, b * 32 + 32)), ys: tf.stack(ys.slice(b * 32, b * 32 + 32)) };
        }
      });
    const { dir, cleanup } = tempDir();
    try {
      const failing = mlp(10);
      const run = parallelFitDataset(failing, make(7), { epochs: 2, verbose: 0, workers: 2, backend: 'wasm', checkpointDir: dir });
      await expect(run).rejects.toMatchObject({ code: 'ERR_THREADFIT_BAD_DATA' });
      await expect(run).rejects.toThrow(
        /the dataset's iterator threw at batch 7 of epoch 1 of the dataset: .*disk read failed.*committed state, step 7, is in checkpoint/,
      );
      expect(existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('ckpt-'))).toBe(true);
      const resumed = mlp(10);
      const h = await parallelFitDataset(resumed, make(-1), { epochs: 2, verbose: 0, workers: 2, backend: 'wasm', checkpointDir: dir, resume: true });
      expect(h.epoch).toEqual([0, 1]);
      expect(resumed.optimizer.iterations).toBe(7 + 3 + 10);
    } finally {
      cleanup();
    }
  });
});

describe('bad input: named before a thread starts, or by batch index', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => ({ x, y } = data(96)));
  const gen = (make: (b: number) => unknown, count = 3) =>
    tf.data.generator(function* () {
      for (let b = 0; b < count; b++) yield make(b) as tf.TensorContainer;
    });
  const batch = (b: number, n = 32, features = 10) => ({ xs: x.slice([b * 32, 0], [n, features]), ys: y.slice([b * 32, 0], [n, 3]) });

  it.each([
    [
      'an element that is not {xs, ys}',
      () => gen((b) => x.slice([b * 32, 0], [32, 10])),
      /batch 0 of the dataset is a tensor of shape \[32, 10\]; a dataset for parallelFitDataset yields \{xs, ys\}/,
    ],
    [
      'a first batch that does not fit the model',
      () => gen(() => ({ xs: tf.zeros([32, 7]), ys: tf.zeros([32, 3]) })),
      /the dataset xs has shape \[32, 7\] but the model's input .* has shape \[null, 10\]/,
    ],
    [
      'sample shapes that change between batches',
      () => gen((b) => (b < 2 ? batch(b) : { xs: tf.zeros([32, 11]), ys: tf.zeros([32, 3]) })),
      /batch 2 of epoch 1 of the dataset: xs has samples of shape \[11\], but the first batch's were \[10\]/,
    ],
    [
      'a batch larger than the slots',
      () => gen((b) => (b < 2 ? batch(b, 16) : batch(0, 64))),
      /batch 2 of epoch 1 of the dataset has 64 samples, more than the 16 the batch slots hold.*options\.maxBatchSize/,
    ],
    [
      'xs and ys of different batch sizes',
      () => gen(() => ({ xs: tf.zeros([32, 10]), ys: tf.zeros([30, 3]) })),
      /batch 0 of the dataset: the tensor for output .* has shape \[30, 3\], but the batch has 32 samples/,
    ],
  ])('%s', async (_, make, message) => {
    await expect(parallelFitDataset(mlp(1), make(), { verbose: 0, workers: 2, backend: 'cpu' })).rejects.toThrow(message);
  });

  it('a dataset of single samples (never batched) is told to batch', async () => {
    const single = tf.data.zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) });
    await expect(parallelFitDataset(mlp(1), single, { verbose: 0, workers: 2, backend: 'cpu' })).rejects.toThrow(/batch the dataset \(dataset\.batch\(n\)\)/);
  });

  it('a dataset whose second iterator() yields nothing fails naming the epoch, not a NaN loss', async () => {
    // One generator object handed out by every iterator() call: exhausted after the first epoch.
    const it = (function* () {
      for (let b = 0; b < 3; b++) yield batch(b);
    })();
    const once = { iterator: async () => ({ next: async () => it.next() }) };
    await expect(parallelFitDataset(mlp(1), once as never, { epochs: 2, verbose: 0, workers: 2, backend: 'cpu' })).rejects.toThrow(
      /epoch 2: the data yielded no batch/,
    );
  });

  it('a second fit on the model while the first reads its first batch is refused', async () => {
    const m = mlp(1);
    const slow = tf.data.generator(function* () {
      for (let b = 0; b < 3; b++) yield batch(b);
    });
    const first = parallelFitDataset(m, slow, { verbose: 0, workers: 1, backend: 'cpu' });
    await expect(parallelFitDataset(m, slow, { verbose: 0, workers: 1, backend: 'cpu' })).rejects.toThrow(/another fit\(\) call is ongoing/);
    await first;
  });

  it('NaN in a batch with checkNumerics, after the batches before it trained', async () => {
    const nan = tf.tensor2d(
      Array.from({ length: 320 }, (_, i) => (i === 45 ? NaN : 0.5)),
      [32, 10],
    );
    const seen: number[] = [];
    const run = parallelFitDataset(
      mlp(1),
      gen((b) => (b === 2 ? { xs: nan, ys: y.slice([0, 0], [32, 3]) } : batch(b))),
      {
        verbose: 0,
        workers: 2,
        backend: 'cpu',
        checkNumerics: true,
        callbacks: { onBatchEnd: async (b: number) => void seen.push(b) },
      },
    );
    await expect(run).rejects.toThrow(/batch 2 of epoch 1 of the dataset: xs holds NaN at sample 4 of the batch \(checkNumerics\)/);
    expect(seen).toEqual([0, 1]);
  });

  it('options a dataset replaces are refused, each with why', async () => {
    const ds = gen((b) => batch(b));
    await expect(parallelFitDataset(mlp(1), ds, { batchSize: 32 } as never)).rejects.toThrow(
      /options\.batchSize does not apply to parallelFitDataset: the dataset's batch is the global batch/,
    );
    await expect(parallelFitDataset(mlp(1), ds, { validationSplit: 0.2 } as never)).rejects.toThrow(/validationSplit does not apply.*give validationData/);
    await expect(parallelFitDataset(mlp(1), ds, { validationBatches: 2 })).rejects.toThrow(/validationBatches needs options\.validationData to be a dataset/);
    await expect(parallelFitDataset(mlp(1), ds, { lrDecay: 'cosine' })).rejects.toThrow(/needs options\.batchesPerEpoch/);
    await expect(parallelFitDataset(mlp(1), [x, y] as never)).rejects.toThrow(/second argument must be a tf\.data\.Dataset/);
  });
});

describe('streaming', () => {
  it('a generator dataset far larger than the memory it trains in: RSS does not grow with the samples streamed', async () => {
    const script = new URL('../scripts/stream-rss.mjs', import.meta.url).pathname;
    // 240k MNIST-shaped samples (760 MB as float32), never in memory at once.
    const r = await runNode(script, ['--samples', '245760', '--batch', '512', '--every', '60', '--workers', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { batch?: number; rssMB?: number; done?: boolean; samples: number; dataMB?: number; acc?: number });
    const points = lines.filter((l) => l.batch !== undefined);
    const last = lines.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.samples).toBe(245760);
    expect(last.acc).toBeGreaterThan(0.9);
    // After the first 60 batches (warm-up: the workers, the ring), the 420 batches streamed after
    // them (~630 MB) must not show up in the resident set.
    const growth = Math.max(...points.map((p) => p.rssMB!)) - points[0].rssMB!;
    expect(points.length).toBe(8);
    expect(growth).toBeLessThan(64);
  });
});
