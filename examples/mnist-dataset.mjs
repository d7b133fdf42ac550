// The seed model trained from a tf.data pipeline with parallelFitDataset: batches made on the fly
// (a fresh permutation per epoch and a little pixel noise as augmentation), never the whole
// augmented set in memory. Run: node examples/mnist-dataset.mjs [epochs]
import * as tf from '@tensorflow/tfjs';
tf.env().set('PROD', true); // quiet tfjs's "install tfjs-node" hint in this (main) thread
import { parallelFitDataset, loadImageDataset } from '@threadfit/coordinator';

const epochs = Number(process.argv[2] ?? 3);
const limit = Number(process.env.EXAMPLE_SAMPLES ?? 60000); // the tests use a subset
const batchSize = 128;

const { train, test } = loadImageDataset();
const n = Math.min(limit, train.count);

// One epoch per iterator(): tfjs's fitDataset (and parallelFitDataset) asks for a new one per epoch.
const batches = tf.data.generator(function* () {
  const order = tf.util.createShuffledIndices(n);
  for (let start = 0; start < n; start += batchSize) {
    const rows = order.subarray(start, Math.min(n, start + batchSize));
    const x = new Float32Array(rows.length * 784);
    const y = new Float32Array(rows.length * 10);
    rows.forEach((r, i) => {
      for (let p = 0; p < 784; p++) x[i * 784 + p] = Math.min(1, train.images[r * 784 + p] / 255 + 0.05 * Math.random());
      y[i * 10 + train.labels[r]] = 1;
    });
    yield { xs: tf.tensor2d(x, [rows.length, 784]), ys: tf.tensor2d(y, [rows.length, 10]) };
  }
});

const m = Math.min(limit, test.count);
const xTest = tf.tensor2d(
  Float32Array.from(test.images.subarray(0, m * 784), (v) => v / 255),
  [m, 784],
);
const yTest = tf.oneHot(tf.tensor1d(test.labels.subarray(0, m), 'int32'), 10).toFloat();

const model = tf.sequential({
  layers: [tf.layers.dense({ units: 512, activation: 'relu', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
});
model.compile({ loss: 'categoricalCrossentropy', optimizer: 'adam', metrics: ['accuracy'] });

const history = await parallelFitDataset(model, batches, { epochs, validationData: [xTest, yTest], workers: 'auto' });
const [loss, acc] = model.evaluate(xTest, yTest).map((t) => t.dataSync()[0]);
console.log(JSON.stringify({ epochs: history.epoch.length, valAcc: history.history.val_acc.at(-1), testLoss: loss, testAcc: acc }));
