// A different model on a different data set: a regularized MLP (L2, BatchNormalization, Dropout)
// on the two-spirals problem, trained with parallelFit with SGD + momentum and early stopping.
// Run: node examples/spirals-regularized.mjs [epochs]
import * as tf from '@tensorflow/tfjs';
tf.env().set('PROD', true); // quiet tfjs's "install tfjs-node" hint in this (main) thread
import { parallelFit } from '@threadfit/coordinator';

const epochs = Number(process.argv[2] ?? 40);

// Two interleaved spirals, 2 classes, with a little noise: not linearly separable.
function spirals(n, seed) {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const x = new Float32Array(n * 2);
  const y = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const t = 0.5 + 3.5 * rand();
    const angle = t * Math.PI + cls * Math.PI;
    x[2 * i] = (t * Math.cos(angle)) / 4 + 0.05 * (rand() - 0.5);
    x[2 * i + 1] = (t * Math.sin(angle)) / 4 + 0.05 * (rand() - 0.5);
    y[2 * i + cls] = 1;
  }
  return { x: tf.tensor2d(x, [n, 2]), y: tf.tensor2d(y, [n, 2]) };
}

const train = spirals(4000, 1);
const l2 = tf.regularizers.l2({ l2: 1e-4 });
const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 64, activation: 'relu', inputShape: [2], kernelRegularizer: l2 }),
    tf.layers.batchNormalization(),
    tf.layers.dense({ units: 64, activation: 'relu', kernelRegularizer: l2 }),
    tf.layers.dropout({ rate: 0.1 }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ],
});
model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.momentum(0.05, 0.9), metrics: ['accuracy'] });

const history = await parallelFit(model, train.x, train.y, {
  epochs,
  batchSize: 64,
  validationSplit: 0.2,
  workers: 2,
  verbose: 0,
  callbacks: [tf.callbacks.earlyStopping({ monitor: 'val_loss', patience: 5 })],
});
const h = history.history;
console.log(JSON.stringify({ epochs: history.epoch.length, firstLoss: h.loss[0], lastLoss: h.loss.at(-1), valAcc: h.val_acc.at(-1) }));
