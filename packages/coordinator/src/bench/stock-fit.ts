/**
 * The baseline a user would otherwise run: the seed model's own `model.fit` on tensors, in one
 * thread, on the same backend, with tfjs's defaults (shuffle on, no callbacks). Runs inside a
 * child process (child.ts), so the optional BatchMatMul fix exists only for that one run.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, permutation, type BackendName } from '@threadfit/shared';
import { installWasmGradientKernels, installWasmMatMulFix, setupBackend } from '@threadfit/worker';
import { loadImageDataset, type ImageDataset } from '../data/mnist.js';
import { buildSeedModel } from '../data/seed-model.js';
import { median, peakRssMb } from './measure.js';
import type { Measurement, StockRun } from './protocol.js';

type Tf = typeof tfTypes;

/**
 * Stock set-up: only what a user would write, plus (when asked) threadfit's exported wasm fixes:
 * the BatchMatMul fix and, for models beyond an MLP, the gradient kernels wasm lacks.
 */
export async function stockBackend(tf: Tf, backend: BackendName, matMulFix: boolean, gradientKernels = false): Promise<void> {
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (matMulFix) installWasmMatMulFix(tf);
    if (gradientKernels) installWasmGradientKernels(tf);
    if (!(await tf.setBackend('wasm'))) throw new ThreadfitError(ErrorCodes.BACKEND, "tfjs backend 'wasm' failed to initialise");
    await tf.ready();
    return;
  }
  if (matMulFix) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `the BatchMatMul fix is for the wasm backend only, not '${backend}'`);
  await setupBackend({ backend, stock: true });
}

/**
 * How many distinct batches the fit tensors hold and how many epochs over them make `steps`:
 * the largest divisor of `steps` whose batches fit in the training set, so that exactly `steps`
 * full batches are timed whatever the step count.
 */
export function fitShape(steps: number, batchSize: number, trainCount: number): { batches: number; epochs: number } {
  const fits = Math.floor(trainCount / batchSize);
  for (let q = Math.min(steps, fits); q >= 1; q--) {
    if (steps % q === 0) return { batches: q, epochs: steps / q };
  }
  throw new ThreadfitError(
    ErrorCodes.INVALID_OPTION,
    `a global batch of ${batchSize} does not fit in the ${trainCount} training samples (use --epochs, which keeps partial batches, or a smaller batch)`,
  );
}

/** Rows of the train split as tfjs inputs: pixels scaled to [0,1], one-hot labels. */
function tensorsOf(tf: Tf, data: ImageDataset, rows: ArrayLike<number>): { x: tfTypes.Tensor2D; y: tfTypes.Tensor2D } {
  const feature = data.train.rows * data.train.cols;
  const x = new Float32Array(rows.length * feature);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const src = data.train.images.subarray(r * feature, (r + 1) * feature);
    for (let j = 0; j < feature; j++) x[i * feature + j] = src[j] / 255;
    labels[i] = data.train.labels[r];
  }
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), data.numClasses).toFloat() as tfTypes.Tensor2D);
  return { x: tf.tensor2d(x, [rows.length, feature]), y };
}

export async function runStockFit(cfg: StockRun, progress: (text: string) => void): Promise<Measurement> {
  const tf = await import('@tensorflow/tfjs');
  await stockBackend(tf, cfg.backend, cfg.matMulFix);
  const data = loadImageDataset(cfg.dataDir);
  const trainCount = data.train.count;
  const model = buildSeedModel(tf, { seed: cfg.seed, inputSize: data.train.rows * data.train.cols, classes: data.numClasses });

  // Epoch mode fits the whole train split E times per repeat; step mode fits `steps` full batches.
  const shape =
    cfg.epochs === undefined ? fitShape(cfg.steps, cfg.batchSize, trainCount) : { batches: Math.ceil(trainCount / cfg.batchSize), epochs: cfg.epochs };
  const rowCount = cfg.epochs === undefined ? shape.batches * cfg.batchSize : trainCount;
  const order = permutation(trainCount, cfg.seed);
  const { x, y } = tensorsOf(tf, data, order.subarray(0, rowCount));
  const fitArgs = { batchSize: cfg.batchSize, verbose: 0 as const };
  try {
    if (cfg.warmup > 0) {
      // (In epoch mode a batch may exceed the split: then each warm-up epoch is one short step.)
      const warm = cfg.batchSize <= rowCount ? fitShape(cfg.warmup, cfg.batchSize, rowCount) : { batches: 1, epochs: cfg.warmup };
      const n = Math.min(rowCount, warm.batches * cfg.batchSize);
      const [wx, wy] = [x.slice(0, n), y.slice(0, n)];
      progress(`warm-up: ${cfg.warmup} step${cfg.warmup === 1 ? '' : 's'}`);
      await model.fit(wx, wy, { ...fitArgs, epochs: warm.epochs });
      tf.dispose([wx, wy]);
    }
    const rates: number[] = [];
    for (let r = 0; r < cfg.repeats; r++) {
      const t0 = performance.now();
      await model.fit(x, y, { ...fitArgs, epochs: shape.epochs });
      const seconds = (performance.now() - t0) / 1000;
      rates.push((rowCount * shape.epochs) / seconds);
      progress(`repeat ${r + 1}/${cfg.repeats}: ${Math.round(rates[r]).toLocaleString('en-US')} samples/s`);
    }
    return { samplesPerSec: median(rates), stepMs: null, peakRssMb: peakRssMb(), repeatSamplesPerSec: rates };
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}
