#!/usr/bin/env node
// Peak memory of a streamed run: parallelFitDataset on a tf.data.generator of MNIST-shaped batches
// (784 features, 10 classes) that never exist in memory at once. Prints one JSON line per
// `--every` batches ({ batch, samples, rssMB }) and a last line with the peak. The test suite runs
// it small (test/parallel-fit-dataset.test.ts); docs/PERFORMANCE.md has the 2M-sample figure.
//   node scripts/stream-rss.mjs [--samples 2000000] [--batch 512] [--workers 2] [--backend wasm] [--every 100]
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { parallelFitDataset } from '../packages/coordinator/dist/index.js';

const { values: a } = parseArgs({
  options: {
    samples: { type: 'string', default: '2000000' },
    batch: { type: 'string', default: '512' },
    workers: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
    every: { type: 'string', default: '100' },
  },
});
const samples = Number(a.samples);
const batch = Number(a.batch);
const every = Number(a.every);
await tf.setBackend('cpu');
const batches = Math.ceil(samples / batch);
// Each batch is made when the iterator asks for it: a class-dependent band of pixels plus noise.
let seed = 7;
const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const dataset = tf.data.generator(function* () {
  for (let b = 0; b < batches; b++) {
    const n = Math.min(batch, samples - b * batch);
    const x = new Float32Array(n * 784);
    const y = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rand() * 10);
      y[i * 10 + c] = 1;
      for (let p = c * 78; p < c * 78 + 78; p++) x[i * 784 + p] = 0.5 + 0.5 * rand();
    }
    yield { xs: tf.tensor2d(x, [n, 784]), ys: tf.tensor2d(y, [n, 10]) };
  }
});
const model = tf.sequential({
  layers: [tf.layers.dense({ units: 32, activation: 'relu', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
});
model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
let peak = 0;
let seen = 0;
const t0 = performance.now();
const history = await parallelFitDataset(model, dataset, {
  epochs: 1,
  workers: Number(a.workers),
  backend: a.backend,
  verbose: 0,
  callbacks: {
    onBatchEnd: async (b, logs) => {
      seen += logs.size;
      const rss = process.memoryUsage().rss / 2 ** 20;
      peak = Math.max(peak, rss);
      if ((b + 1) % every === 0) console.log(JSON.stringify({ batch: b + 1, samples: seen, rssMB: Math.round(rss) }));
    },
  },
});
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    done: true,
    samples: seen,
    peakRssMB: Math.round(peak),
    dataMB: Math.round((seen * 794 * 4) / 2 ** 20),
    seconds,
    samplesPerSec: Math.round(seen / seconds),
    loss: history.history.loss[0],
    acc: history.history.acc[0],
  }),
);
