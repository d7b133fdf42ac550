/**
 * parallelFit against model.fit: same History and weights (W=1), the same result for any W,
 * regularized models, callbacks, and every bad input named before a thread starts.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { parallelFit, releaseWarmWorkers, warmTakeovers, type ParallelFitOptions } from '@threadfit/coordinator';
import { parallelFitRun } from '../packages/coordinator/src/fit/parallel-fit.js';
import { installWasmMatMulFix } from '@threadfit/worker';
import { maxRel } from './helpers.js';

const N = 320; // 20 steps of 16

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

function mlp(seed: number, optimizer: tf.Optimizer | string = tf.train.adam(0.01), extra = false): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const layers: tf.layers.Layer[] = [
    tf.layers.dense({
      units: 16,
      activation: 'relu',
      inputShape: [10],
      kernelInitializer: init(seed),
      kernelRegularizer: extra ? tf.regularizers.l2({ l2: 1e-3 }) : undefined,
    }),
  ];
  if (extra) layers.push(tf.layers.batchNormalization(), tf.layers.dropout({ rate: 0.2 }));
  layers.push(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(seed + 1) }));
  const m = tf.sequential({ layers });
  m.compile({ loss: 'categoricalCrossentropy', optimizer, metrics: ['accuracy'] });
  return m;
}

describe('parallelFit = model.fit (W=1, shuffle off, same initial weights)', () => {
  it.each(['cpu', 'wasm'] as const)('on %s: same History and weights after one epoch', async (backend) => {
    await tf.setBackend(backend);
    const { x, y } = data();
    const a = mlp(3);
    const b = mlp(3);
    const ha = await a.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, validationSplit: 0.25, verbose: 0 });
    await tf.setBackend('cpu');
    const hb = await parallelFit(b, x, y, { epochs: 1, batchSize: 16, shuffle: false, validationSplit: 0.25, verbose: 0, workers: 1, backend });
    expect(Object.keys(hb.history)).toEqual(Object.keys(ha.history));
    expect(hb.epoch).toEqual(ha.epoch);
    for (const k of Object.keys(ha.history)) {
      const want = ha.history[k][0] as number;
      expect(Math.abs((hb.history[k][0] as number) - want)).toBeLessThanOrEqual(1e-4 * Math.abs(want) + 1e-7);
    }
    expect(maxRel(a.getWeights(), b.getWeights())).toBeLessThanOrEqual(1e-4);
  });
});

describe('W=1 vs W=2 vs W=3, same seed, 20 steps', () => {
  it.each([
    ['adam', () => tf.train.adam(0.01)],
    ['sgd with momentum', () => tf.train.momentum(0.05, 0.9)],
    ['rmsprop', () => tf.train.rmsprop(0.01)],
  ])('%s: final weights within 1e-4 relative', async (_name, opt) => {
    const { x, y } = data();
    const fit = async (workers: number) => {
      const m = mlp(7, opt());
      await parallelFit(m, x, y, { epochs: 1, batchSize: 16, workers, verbose: 0, seed: 9, backend: 'wasm' });
      return m.getWeights();
    };
    const initial = mlp(7, opt()).getWeights();
    const w1 = await fit(1);
    expect(maxRel(initial, w1)).toBeGreaterThan(1e-3); // it trained
    expect(maxRel(w1, await fit(2))).toBeLessThanOrEqual(1e-4);
    expect(maxRel(w1, await fit(3))).toBeLessThanOrEqual(1e-4);
  });
});

describe('regularized model: Dropout, L2 and BatchNormalization on 2 workers', () => {
  it('lowers the loss, keeps model.fit History keys, and moves the BatchNorm statistics', async () => {
    const { x, y } = data();
    const m = mlp(5, tf.train.adam(0.01), true);
    const ref = mlp(5, tf.train.adam(0.01), true);
    const refHistory = await ref.fit(x, y, { epochs: 1, batchSize: 32, validationSplit: 0.2, verbose: 0 });
    const before = m.getWeights().map((w) => w.clone());
    const h = await parallelFit(m, x, y, { epochs: 4, batchSize: 32, workers: 2, validationSplit: 0.2, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(Object.keys(refHistory.history).sort());
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]);
    // BatchNormalization's moving mean (non-trainable) was averaged and committed: it moved.
    const idx = m.weights.findIndex((w) => w.name.includes('moving_mean'));
    expect(idx).toBeGreaterThan(-1);
    expect(maxRel(before.slice(idx, idx + 1), m.getWeights().slice(idx, idx + 1))).toBeGreaterThan(1e-3);
    for (const w of m.getWeights()) expect(Array.from(w.dataSync()).every(Number.isFinite)).toBe(true);
  });
});

describe('callbacks and control', () => {
  it('calls callbacks in model.fit order with the same logs keys', async () => {
    const { x, y } = data(64);
    const record = (events: string[]) => ({
      onTrainBegin: async () => void events.push('trainBegin'),
      onEpochBegin: async (e: number) => void events.push(`epochBegin ${e}`),
      onBatchBegin: async (b: number, l?: tf.Logs) =>
        void events.push(
          `batchBegin ${b} ${Object.keys(l ?? {})
            .sort()
            .join(',')}`,
        ),
      onBatchEnd: async (b: number, l?: tf.Logs) =>
        void events.push(
          `batchEnd ${b} ${Object.keys(l ?? {})
            .sort()
            .join(',')}`,
        ),
      onEpochEnd: async (e: number, l?: tf.Logs) =>
        void events.push(
          `epochEnd ${e} ${Object.keys(l ?? {})
            .sort()
            .join(',')}`,
        ),
      onTrainEnd: async () => void events.push('trainEnd'),
    });
    const want: string[] = [];
    const got: string[] = [];
    await mlp(1).fit(x, y, { epochs: 2, batchSize: 32, validationSplit: 0.5, verbose: 0, callbacks: record(want) });
    await parallelFit(mlp(1), x, y, { epochs: 2, batchSize: 32, validationSplit: 0.5, verbose: 0, workers: 2, callbacks: record(got) });
    expect(got).toEqual(want);
  });

  it('stops after the batch in which a callback sets model.stopTraining', async () => {
    const { x, y } = data();
    const m = mlp(2);
    let batches = 0;
    const h = await parallelFit(m, x, y, {
      epochs: 3,
      batchSize: 16,
      workers: 2,
      verbose: 0,
      callbacks: {
        onBatchEnd: async (b: number) => {
          batches++;
          if (b === 4) m.stopTraining = true;
        },
      },
    });
    expect(batches).toBe(5);
    expect(h.epoch).toEqual([0]);
  });

  it('stepsPerExecution: the same bits with or without executions; batch callbacks for every batch, stopTraining after the execution', async () => {
    const { x, y } = data();
    const opts = { epochs: 2, batchSize: 16, workers: 2, verbose: 0 as const, seed: 5 };
    // 'auto' without callbacks runs executions of up to 32 steps; 1 is a round trip per step.
    const auto = mlp(4);
    await parallelFit(auto, x, y, opts);
    const oneByOne = mlp(4);
    await parallelFit(oneByOne, x, y, { ...opts, stepsPerExecution: 1 });
    expect(maxRel(auto.getWeights(), oneByOne.getWeights())).toBe(0);
    // Executions of 4 with callbacks: each batch is reported, in order, once its execution returns.
    const m = mlp(4);
    const seen: number[] = [];
    const h = await parallelFit(m, x, y, {
      ...opts,
      stepsPerExecution: 4,
      callbacks: {
        onBatchEnd: async (b: number, logs?: tf.Logs) => {
          seen.push(b);
          expect(Number.isFinite(logs?.loss)).toBe(true);
          if (b === 5) m.stopTraining = true;
        },
      },
    });
    // Batch 5 is in the execution of batches 4-7: training stops after batch 7.
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(h.epoch).toEqual([0]);
  });

  it("stepsPerExecution 'auto': executions unless a callback acts between batches (batch hooks or onYield, in any of the three forms)", async () => {
    const { x, y } = data(64);
    class EveryBatch extends tf.Callback {
      override async onBatchEnd(): Promise<void> {}
    }
    class EpochOnly extends tf.Callback {
      override async onEpochEnd(): Promise<void> {}
    }
    const cadence = async (callbacks: ParallelFitOptions['callbacks']) =>
      (await parallelFitRun(mlp(1), x, y, { epochs: 1, batchSize: 16, workers: 1, verbose: 0, callbacks })).stepsPerExecution;
    expect(await cadence(undefined)).toBe(32);
    expect(await cadence({ onEpochEnd: async () => {}, onTrainBegin: async () => {} })).toBe(32);
    expect(await cadence([tf.callbacks.earlyStopping({ patience: 3 }), new EpochOnly()])).toBe(32);
    expect(await cadence(new tf.CustomCallback({ onEpochBegin: async () => {} }))).toBe(32);
    expect(await cadence({ onBatchEnd: async () => {} })).toBe(1);
    expect(await cadence({ onBatchBegin: async () => {} })).toBe(1);
    expect(await cadence({ onYield: async () => {} })).toBe(1);
    expect(await cadence(new tf.CustomCallback({ onBatchEnd: async () => {} }))).toBe(1);
    expect(await cadence([{ onEpochEnd: async () => {} }, new EveryBatch()])).toBe(1);
    class EveryBatchCustom extends tf.CustomCallback {
      constructor() {
        super({});
      }
      override async onBatchEnd(): Promise<void> {}
    }
    expect(await cadence(new EveryBatchCustom())).toBe(1);
  });

  it('a stop asked for in onEpochBegin trains one batch, as model.fit does, also with executions', async () => {
    const { x, y } = data(64);
    const stock = mlp(1);
    let stockBatches = 0;
    await stock.fit(x, y, {
      epochs: 3,
      batchSize: 16,
      verbose: 0,
      callbacks: { onEpochBegin: async () => void (stock.stopTraining = true), onBatchEnd: async () => void stockBatches++ },
    });
    const m = mlp(1);
    const r = await parallelFitRun(m, x, y, {
      epochs: 3,
      batchSize: 16,
      workers: 2,
      verbose: 0,
      callbacks: { onEpochBegin: async () => void (m.stopTraining = true) },
    });
    expect(r.stepsPerExecution).toBe(32);
    expect(r.fit.epochs.map((e) => e.steps)).toEqual([stockBatches]);
    expect(stockBatches).toBe(1);
  });

  it('tf.callbacks.earlyStopping works unchanged', async () => {
    const { x, y } = data();
    const h = await parallelFit(mlp(2, tf.train.sgd(0)), x, y, {
      epochs: 10,
      batchSize: 32,
      workers: 2,
      verbose: 0,
      validationSplit: 0.2,
      callbacks: tf.callbacks.earlyStopping({ monitor: 'val_loss', patience: 1 }),
    });
    // lr 0: val_loss never improves, so patience 1 stops after the second epoch.
    expect(h.epoch).toEqual([0, 1]);
  });

  it('parallelFit and model.fit on the same model refuse each other, both ways (a Sequential keeps the flag on its inner model)', async () => {
    const { x, y } = data(64);
    const m = mlp(3);
    const p = parallelFit(m, x, y, { epochs: 1, batchSize: 32, workers: 1, verbose: 0 });
    await expect(m.fit(x, y, { epochs: 1, verbose: 0 })).rejects.toThrow(/Cannot start training because another fit\(\) call is ongoing/);
    await p;
    const f = m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
    const refused = await parallelFit(m, x, y, { workers: 1, verbose: 0 }).then(
      () => null,
      (e: { code?: string; message: string }) => e,
    );
    expect(refused?.code).toBe('ERR_THREADFIT_REENTRY');
    expect(refused?.message).toMatch(/another fit\(\) call is ongoing/);
    await f;
    // Both flags are cleared afterwards: either can train again.
    await parallelFit(m, x, y, { epochs: 1, batchSize: 32, workers: 1, verbose: 0 });
    await m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
  });

  it('refuses re-entry on the same model', async () => {
    const { x, y } = data(64);
    const m = mlp(2);
    const first = parallelFit(m, x, y, { epochs: 1, batchSize: 32, workers: 1, verbose: 0 });
    await expect(parallelFit(m, x, y, { workers: 1, verbose: 0 })).rejects.toThrow(/another fit\(\) call is ongoing/);
    await first;
  });
});

describe('models beyond the MLP', () => {
  it('a functional model with two inputs and two outputs trains; History has per-output keys', async () => {
    const a = tf.input({ shape: [4] });
    const b = tf.input({ shape: [3] });
    const h = tf.layers.dense({ units: 8, activation: 'relu' }).apply(tf.layers.concatenate().apply([a, b])) as tf.SymbolicTensor;
    const o1 = tf.layers.dense({ units: 1, name: 'reg' }).apply(h) as tf.SymbolicTensor;
    const o2 = tf.layers.dense({ units: 2, activation: 'softmax', name: 'cls' }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: [o1, o2] });
    model.compile({ optimizer: 'adam', loss: ['meanSquaredError', 'categoricalCrossentropy'] });
    const ref = tf.model({ inputs: [a, b], outputs: [o1, o2] });
    void ref;
    const xa = tf.randomNormal([64, 4], 0, 1, 'float32', 1);
    const xb = tf.randomNormal([64, 3], 0, 1, 'float32', 2);
    const y1 = tf.randomNormal([64, 1], 0, 1, 'float32', 3);
    const y2 = tf.oneHot(tf.randomUniform([64], 0, 2, 'int32', 4), 2).toFloat();
    const hist = await parallelFit(model, [xa, xb], [y1, y2], { epochs: 3, batchSize: 16, workers: 2, verbose: 0 });
    expect(Object.keys(hist.history).sort()).toEqual(['cls_loss', 'loss', 'reg_loss']);
    const loss = hist.history.loss as number[];
    expect(loss[2]).toBeLessThan(loss[0]);
  });

  it('a frozen layer (trainable: false) keeps its weights while the rest trains', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [10], trainable: false }), tf.layers.dense({ units: 3, activation: 'softmax' })],
    });
    model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01) });
    // By layer: model.weights puts the trainable weights first.
    const values = () => model.layers.map((l) => l.getWeights().map((w) => w.dataSync().slice()));
    const before = values();
    const { x, y } = data(64);
    const hist = await parallelFit(model, x, y, { epochs: 3, batchSize: 16, workers: 2, verbose: 0 });
    const after = values();
    expect(after[0]).toEqual(before[0]);
    expect(after[1][0]).not.toEqual(before[1][0]);
    const loss = hist.history.loss as number[];
    expect(loss[2]).toBeLessThan(loss[0]);
  });

  it('a custom layer trains when its workerSetup module registers it, and fails clearly without', async () => {
    const { ScaleLayer } = await import('./fixtures/custom-layer.mjs');
    const build = () => {
      const m = tf.sequential({
        layers: [tf.layers.dense({ units: 4, inputShape: [10] }), new ScaleLayer({ factor: 0.5 }), tf.layers.dense({ units: 3, activation: 'softmax' })],
      });
      m.compile({ loss: 'categoricalCrossentropy', optimizer: 'sgd' });
      return m;
    };
    const { x, y } = data(64);
    await expect(parallelFit(build(), x, y, { workers: 1, verbose: 0 })).rejects.toThrow(/ThreadfitTestScale.*options\.workerSetup/s);
    const setup = new URL('./fixtures/custom-layer.mjs', import.meta.url).href;
    const h = await parallelFit(build(), x, y, { workers: 2, verbose: 0, epochs: 2, workerSetup: setup });
    expect(h.history.loss).toHaveLength(2);
  });

  it('a conv model trains on wasm (its gradient kernels are registered in every worker) and on cpu', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    m.compile({ loss: 'categoricalCrossentropy', optimizer: 'sgd' });
    const x = tf.zeros([8, 6, 6, 1]);
    const y = tf.oneHot(tf.zeros([8], 'int32'), 2).toFloat();
    const onWasm = await parallelFit(m, x, y, { workers: 2, verbose: 0, backend: 'wasm', batchSize: 4 });
    expect(Number.isFinite(onWasm.history.loss[0] as number)).toBe(true);
    const h = await parallelFit(m, x, y, { workers: 2, verbose: 0, backend: 'cpu', batchSize: 4 });
    expect(h.history.loss).toHaveLength(1);
  });
});

describe('bad input fails fast, naming the problem', () => {
  it.each(['wasm', 'cpu'] as const)('on %s, a layer no backend can differentiate is named, with the op', async (backend) => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ units: 4, inputShape: [10], name: 'hidden' }),
        tf.layers.thresholdedReLU({ name: 'gate' }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    m.compile({ loss: 'categoricalCrossentropy', optimizer: 'sgd' });
    const { x, y } = data(32);
    const err = (await parallelFit(m, x, y, { workers: 1, backend, verbose: 0 }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/layer 'gate' \(ThresholdedReLU\) uses the op 'Greater', which tfjs cannot differentiate on any backend/);
    expect(err.code).toBe('ERR_THREADFIT_UNSUPPORTED');
  });

  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => ({ x, y } = data(32)));
  it.each([
    ['an uncompiled model', () => parallelFit(tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [10] })] }), x, y), /must be compiled first/],
    ['x/y count mismatch', () => parallelFit(mlp(1), x, y.slice(0, 31)), /x and y must have the same number of samples: y has 31, x has 32/],
    ['batchSize 0', () => parallelFit(mlp(1), x, y, { batchSize: 0 }), /options\.batchSize must be an integer in 1\.\.\d+, got 0/],
    ['workers 0', () => parallelFit(mlp(1), x, y, { workers: 0 }), /options\.workers must be an integer in 1\.\.\d+, got 0/],
    ['gradients "fast"', () => parallelFit(mlp(1), x, y, { gradients: 'fast' as never }), /options\.gradients must be one of auto, tape, got "fast"/],
    [
      'stepsPerExecution 0',
      () => parallelFit(mlp(1), x, y, { stepsPerExecution: 0 }),
      /options\.stepsPerExecution must be 'auto' or an integer in 1\.\.1024, got 0/,
    ],
    [
      'stepsPerExecution "fast"',
      () => parallelFit(mlp(1), x, y, { stepsPerExecution: 'fast' as never }),
      /options\.stepsPerExecution must be 'auto' or an integer in 1\.\.1024, got "fast"/,
    ],
    ['validationSplit 1', () => parallelFit(mlp(1), x, y, { validationSplit: 1 }), /options\.validationSplit must be a number in \[0, 1\), got 1/],
    ['an unknown option', () => parallelFit(mlp(1), x, y, { epoch: 3 } as never), /unknown option 'epoch'/],
    ['NaN in x with checkNumerics', () => parallelFit(mlp(1), tf.fill([32, 10], NaN), y, { checkNumerics: true }), /x holds NaN at sample 0/],
    [
      'NaN in y with checkNumerics',
      () => {
        const values = Float32Array.from(y.dataSync());
        values[13] = NaN; // sample 4 of 3 columns
        return parallelFit(mlp(1), x, { values, shape: [32, 3] }, { checkNumerics: true });
      },
      /y holds NaN at sample 4 \(element 13\)/,
    ],
    [
      'Infinity in validationData y with checkNumerics',
      () => parallelFit(mlp(1), x, y, { checkNumerics: true, validationData: [x, tf.fill([32, 3], Infinity)] }),
      /validationData\[1\] holds Infinity at sample 0 \(element 0\)/,
    ],
    [
      'int32 class ids [N] for a categorical model',
      () => parallelFit(mlp(1), x, tf.argMax(y, 1)),
      /y has shape \[32\] but the model's output \S+ has shape \[null, 3\]: expected \[32, 3\]; for class ids, one-hot encode them \(tf\.oneHot\(y, 3\)\) or compile with loss 'sparseCategoricalCrossentropy'/,
    ],
    [
      'x of the wrong width',
      () => parallelFit(mlp(1), x.slice([0, 0], [32, 7]), y),
      /x has shape \[32, 7\] but the model's input \S+ has shape \[null, 10\]: expected \[32, 10\]/,
    ],
    [
      'validation x of the wrong width',
      () => parallelFit(mlp(1), x, y, { validationData: [tf.zeros([8, 9]), tf.zeros([8, 3])] }),
      /validationData\[0\] has shape \[8, 9\] but the model's input \S+ has shape \[null, 10\]/,
    ],
    [
      'centered RMSProp (tfjs makes NaN weights with it)',
      () => parallelFit(mlp(1, tf.train.rmsprop(0.01, 0.9, 0, 1e-7, true)), x, y),
      /centered: true is not supported/,
    ],
    [
      'an unsupported optimizer',
      () => {
        const m = mlp(1);
        m.optimizer = { getClassName: () => 'MyOptimizer', getConfig: () => ({}) } as unknown as tf.Optimizer;
        return parallelFit(m, x, y);
      },
      /MyOptimizer.*not supported/,
    ],
  ] as Array<[string, () => Promise<unknown>, RegExp]>)('%s', async (_what, run, message) => {
    await expect(run()).rejects.toThrow(message);
  });

  it('shape and numeric refusals carry codes, and come before any worker starts (the model is left as it was)', async () => {
    const m = mlp(1);
    const before = m.getWeights().map((w) => w.dataSync().slice());
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
    expect(await codeOf(parallelFit(m, x, tf.argMax(y, 1)))).toBe('ERR_THREADFIT_INVALID_OPTION');
    expect(await codeOf(parallelFit(m, x, tf.fill([32, 3], NaN), { checkNumerics: true }))).toBe('ERR_THREADFIT_BAD_DATA');
    m.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[i])));
  });

  it('a performance switch (THREADFIT_* environment variable) with a value it does not take is named, before any worker starts', async () => {
    process.env.THREADFIT_TRACED_STEP = 'off';
    try {
      const err = await parallelFit(mlp(1), x, y, { workers: 1, verbose: 0 }).then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
      expect(err?.code).toBe('ERR_THREADFIT_INVALID_OPTION');
      expect(err?.message).toBe('environment variable THREADFIT_TRACED_STEP="off" is not one of its values: 1 (default), 0');
    } finally {
      delete process.env.THREADFIT_TRACED_STEP;
    }
  });

  it('sparseCategoricalCrossentropy takes class ids [N] as model.fit does', async () => {
    const m = mlp(1);
    m.compile({ loss: 'sparseCategoricalCrossentropy', optimizer: tf.train.adam(0.01) });
    const h = await parallelFit(m, x, tf.argMax(y, 1).toFloat(), { workers: 1, verbose: 0, backend: 'cpu', batchSize: 16 });
    expect(h.history.loss).toHaveLength(1);
  });
});

describe('reliability options', () => {
  const bitsOf = (m: tf.LayersModel) => Buffer.concat(m.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer)));

  it('stopped after an epoch and resumed from its checkpoint, it ends with the bits of a run never stopped', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'threadfit-pf-'));
    try {
      const { x, y } = data(192);
      const opts = { epochs: 3, batchSize: 32, workers: 2, verbose: 0 as const, seed: 3 };
      const clean = mlp(4);
      await parallelFit(clean, x, y, opts);
      const first = mlp(4);
      const h1 = await parallelFit(first, x, y, { ...opts, checkpointDir: dir, callbacks: { onEpochEnd: async () => void (first.stopTraining = true) } });
      expect(h1.epoch).toEqual([0]);
      const resumed = mlp(4);
      const h2 = await parallelFit(resumed, x, y, { ...opts, checkpointDir: dir, resume: true });
      expect(h2.epoch).toEqual([1, 2]);
      expect(Buffer.compare(bitsOf(resumed), bitsOf(clean))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('injectFault: a crashed worker is replaced, the step rerun, the result unchanged (with BatchNorm and Dropout)', async () => {
    const { x, y } = data(128);
    // BatchNormalization (averaged moving statistics) and Dropout (seeded masks) must also
    // come out of the rerun bit for bit.
    const clean = mlp(6, tf.train.adam(0.01), true);
    await parallelFit(clean, x, y, { epochs: 1, batchSize: 32, workers: 2, verbose: 0 });
    const faulty = mlp(6, tf.train.adam(0.01), true);
    await parallelFit(faulty, x, y, { epochs: 1, batchSize: 32, workers: 2, verbose: 0, injectFault: 'exit@step=2,rank=1' });
    expect(Buffer.compare(bitsOf(faulty), bitsOf(clean))).toBe(0);
    await expect(parallelFit(mlp(6), x, y, { resume: true })).rejects.toThrow(/options\.resume needs options\.checkpointDir/);
  });
});

describe("model.fit's classWeight and yieldEvery", () => {
  it('classWeight: the same History and weights as model.fit (W=1), for one-hot and for class-id targets', async () => {
    await tf.setBackend('cpu');
    const { x, y } = data(96);
    const classWeight = { 0: 1, 1: 4, 2: 0.5 };
    const args = { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 as const, classWeight };
    const a = mlp(8);
    const b = mlp(8);
    const ha = await a.fit(x, y, args);
    const hb = await parallelFit(b, x, y, { ...args, workers: 1, backend: 'cpu' });
    for (const k of Object.keys(ha.history)) {
      ha.history[k].forEach((v, e) => expect(Math.abs((hb.history[k][e] as number) - (v as number))).toBeLessThanOrEqual(1e-4 * Math.abs(v as number) + 1e-7));
    }
    expect(maxRel(a.getWeights(), b.getWeights())).toBeLessThanOrEqual(1e-4);
    // Weighted differs from unweighted: the option reached the workers' loss.
    const c = mlp(8);
    const hc = await parallelFit(c, x, y, { ...args, classWeight: undefined, workers: 1, backend: 'cpu' });
    expect(Math.abs((hc.history.loss[0] as number) - (hb.history.loss[0] as number))).toBeGreaterThan(1e-3);
    // Class ids with a sparse loss, at W=2, on wasm (the tape in real workers).
    const ids = tf.argMax(y, 1).toFloat();
    const sparse = (seed: number) => {
      const m = mlp(seed);
      m.compile({ loss: 'sparseCategoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
      return m;
    };
    const d = sparse(9);
    const e = sparse(9);
    const hd = await d.fit(x, ids, args);
    const he = await parallelFit(e, x, ids, { ...args, workers: 2, backend: 'wasm' });
    expect(Math.abs((he.history.loss[1] as number) - (hd.history.loss[1] as number))).toBeLessThanOrEqual(1e-4 * (hd.history.loss[1] as number));
    tf.dispose(ids);
  });

  it('classWeight: a class of the training data without a weight, or a wrong shape, is refused before any thread starts', async () => {
    const { x, y } = data(64);
    await expect(parallelFit(mlp(1), x, y, { classWeight: { 0: 1, 1: 2 } })).rejects.toThrow(
      /options\.classWeight must give every class in the training data a weight \(as model\.fit\): class 2 occurs in y \(sample \d+\) but has none/,
    );
    await expect(parallelFit(mlp(1), x, y, { classWeight: [{ 0: 1 }, { 0: 1 }] })).rejects.toThrow(/array of 2 but the model has 1 output/);
    await expect(parallelFit(mlp(1), x, y, { classWeight: { 0: 1, 1: 1, 2: Number.NaN } })).rejects.toThrow(/gives class 2 the weight NaN/);
    await expect(parallelFit(mlp(1), x, y, { classWeight: 'heavy' as never })).rejects.toThrow(/classWeight/);
  });

  it("yieldEvery: callbacks' onYield runs where model.fit runs it; a bad value is named", async () => {
    await tf.setBackend('cpu');
    const { x, y } = data(64);
    const record = async (run: (cb: tf.CustomCallbackArgs) => Promise<unknown>) => {
      const yields: Array<[number, number]> = [];
      // A clock that moves 10 ms per reading, so that the debounce does not depend on real time.
      let now = 0;
      await run({ onYield: async (epoch, batch) => void yields.push([epoch, batch]), nowFunc: () => (now += 10) });
      return yields;
    };
    // A number: onYield at most every that many ms, after a batch.
    const args = { epochs: 2, batchSize: 16, verbose: 0 as const, yieldEvery: 5 };
    const stock = await record((cb) => mlp(2).fit(x, y, { ...args, callbacks: cb }));
    const ours = await record((cb) => parallelFit(mlp(2), x, y, { ...args, workers: 1, callbacks: cb }));
    expect(stock).toHaveLength(8);
    expect(ours).toEqual(stock);
    // 'never' with an onYield callback is tfjs's own error.
    await expect(record((cb) => parallelFit(mlp(2), x, y, { ...args, yieldEvery: 'never', callbacks: cb }))).rejects.toThrow(/yieldEvery is `never`/);
    await expect(parallelFit(mlp(2), x, y, { yieldEvery: 'often' as never })).rejects.toThrow(/options\.yieldEvery/);
    await expect(parallelFit(mlp(2), x, y, { sampleWeight: tf.ones([64]) } as never)).rejects.toThrow(/options\.sampleWeight .*does not implement it/);
  });
});

describe('the optimizer state between calls, as model.fit keeps it', () => {
  it.each(['adam', 'rmsprop', 'sgd'] as const)(
    '%s: two calls of one epoch equal model.fit called twice (W=1), and model.optimizer holds the state',
    async (kind) => {
      await tf.setBackend('cpu');
      const { x, y } = data(64);
      const make = () => mlp(12, kind === 'adam' ? tf.train.adam(0.01) : kind === 'rmsprop' ? tf.train.rmsprop(0.01, 0.9, 0.5) : tf.train.sgd(0.1));
      const args = { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 as const };
      const stock = make();
      const ours = make();
      const want: number[] = [];
      const got: number[] = [];
      for (let call = 0; call < 2; call++) {
        want.push((await stock.fit(x, y, args)).history.loss[0] as number);
        got.push((await parallelFit(ours, x, y, { ...args, workers: 1, backend: 'cpu' })).history.loss[0] as number);
      }
      got.forEach((l, i) => expect(Math.abs(l - want[i])).toBeLessThanOrEqual(1e-4 * want[i]));
      // Handing the state back leaks nothing: a third call leaves as many tensors as the second.
      const tensors = tf.memory().numTensors;
      await parallelFit(ours, x, y, { ...args, workers: 1, backend: 'cpu' });
      expect(tf.memory().numTensors).toBe(tensors);
      await stock.fit(x, y, args);
      expect(maxRel(stock.getWeights(), ours.getWeights())).toBeLessThanOrEqual(1e-4);
      expect(ours.optimizer.iterations).toBe(stock.optimizer.iterations);
      const [a, b] = [await stock.optimizer.getWeights(), await ours.optimizer.getWeights()];
      if (kind === 'sgd') return expect(b).toHaveLength(1);
      // The same names but for the layers' own (dense_Dense1 there, dense_Dense3 here).
      const unlayered = (names: Array<{ name: string }>) => names.map((w) => w.name.replace(/^[^/]+\//, ''));
      expect(unlayered(b)).toEqual(unlayered(a));
      expect(b[1].name).toBe(`${ours.trainableWeights[0].originalName}/${kind === 'adam' ? 'm' : 'rms'}`);
      expect(
        maxRel(
          a.map((w) => w.tensor),
          b.map((w) => w.tensor),
        ),
      ).toBeLessThanOrEqual(1e-4);
    },
  );
});

describe('warm workers between calls (a loop of parallelFit calls, as of model.fit)', () => {
  const bits = (m: tf.LayersModel) => Buffer.concat(m.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer)));

  it('the next call on the same model takes the workers over, with the bits of fresh workers each call', async () => {
    await releaseWarmWorkers();
    const { x, y } = data(96);
    const args = { epochs: 1, batchSize: 16, verbose: 0 as const, workers: 2, backend: 'wasm' as const };
    const warm = mlp(21);
    const fresh = mlp(21);
    const losses: number[][] = [[], []];
    const before = warmTakeovers();
    for (let call = 0; call < 3; call++) losses[0].push((await parallelFit(warm, x, y, args)).history.loss[0] as number);
    expect(warmTakeovers() - before).toBe(2);
    expect(await releaseWarmWorkers()).toBe(1);
    for (let call = 0; call < 3; call++) {
      losses[1].push((await parallelFit(fresh, x, y, args)).history.loss[0] as number);
      await releaseWarmWorkers();
    }
    expect(warmTakeovers() - before).toBe(2);
    expect(losses[0]).toEqual(losses[1]);
    expect(Buffer.compare(bits(warm), bits(fresh))).toBe(0);
  });

  it('weights changed between calls, other data or other options: fresh workers, the right result', async () => {
    const { x, y } = data(64);
    const args = { epochs: 1, batchSize: 16, verbose: 0 as const, workers: 2, backend: 'wasm' as const };
    const a = mlp(22);
    const b = mlp(22);
    await parallelFit(a, x, y, args);
    await parallelFit(b, x, y, args);
    await releaseWarmWorkers();
    // The user moves a's weights between calls; b gets the same move with no warm workers.
    const moved = (m: tf.LayersModel) => m.setWeights(m.getWeights().map((w) => w.mul(0.5)));
    moved(a);
    moved(b);
    const before = warmTakeovers();
    await parallelFit(a, x, y, args);
    await parallelFit(b, x, y, args);
    expect(warmTakeovers()).toBe(before);
    expect(Buffer.compare(bits(a), bits(b))).toBe(0);
    // Other data (a new tensor), other options: not taken over either.
    const x2 = x.mul(1);
    await parallelFit(a, x2, y, { ...args, batchSize: 32 });
    await releaseWarmWorkers();
    await parallelFit(b, x2, y, { ...args, batchSize: 32 });
    expect(warmTakeovers()).toBe(before);
    expect(Buffer.compare(bits(a), bits(b))).toBe(0);
    await releaseWarmWorkers();
  });

  it('idle workers do not keep the process alive', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { parallelFit, WARM_IDLE_MS } from '@threadfit/coordinator';
      await tf.setBackend('cpu');
      const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'softmax' })] });
      m.compile({ loss: 'categoricalCrossentropy', optimizer: 'adam' });
      await parallelFit(m, tf.ones([8, 3]), tf.oneHot(tf.zeros([8], 'int32'), 2), { verbose: 0, workers: 2, backend: 'wasm' });
      console.log(JSON.stringify({ done: Date.now(), idle: WARM_IDLE_MS }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const exited = Date.now();
    expect(r.status, r.stderr).toBe(0);
    const { done, idle } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { done: number; idle: number };
    // The child ended long before its idle trainer's timer (WARM_IDLE_MS) would have closed it.
    expect(exited - done).toBeLessThan(idle / 2);
  });
});
