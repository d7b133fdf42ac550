/**
 * The model zoo: the models tfjs users actually train, their building code re-typed from the
 * official tfjs-examples repository (read at 0521725, Feb 2025; not copied), so that parallelFit
 * is checked (test/conformance.test.ts) and measured (`threadfit bench --model NAME`) on real
 * architectures rather than only the seed MLP. Each builder takes a `size`: 'full' is the
 * example's own configuration, 'small' shrinks only what the test suite's time needs (units,
 * sequence lengths), never the kinds of layers.
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;
export type ZooSize = 'full' | 'small';

export const ZOO_MODELS = [
  'mnist-cnn',
  'mnist-transfer',
  'sentiment-lstm',
  'sentiment-cnn',
  'jena-gru',
  'jena-simple-rnn',
  'addition-rnn',
  'functional',
  'abalone',
  'iris',
] as const;
export type ZooModelName = (typeof ZOO_MODELS)[number];

/** Sentiment's and jena-weather's constants, per size (tfjs-examples' defaults for 'full'). */
export const SENTIMENT = { full: { vocab: 10_000, maxLen: 100, embedding: 128 }, small: { vocab: 500, maxLen: 20, embedding: 16 } } as const;
/** jena-weather: inputShape [floor(lookBack / step), 14]: 1440 / 6 = 240 steps of 14 features. */
export const JENA = { full: { timesteps: 240, features: 14, units: 32 }, small: { timesteps: 12, features: 14, units: 8 } } as const;
/** addition-rnn: 2-digit sums, 12 characters ('0123456789+ '), query length 5, answer length 3. */
export const ADDITION = { digits: 2, chars: 12, full: { hidden: 128 }, small: { hidden: 16 } } as const;

/** mnist-node/model.js: conv2d x4 (32, 32, 64, 64), two max pools, dropout, dense 512, softmax; 'rmsprop'. */
function mnistCnn(tf: Tf, size: ZooSize): tfTypes.LayersModel {
  const [a, b, hidden] = size === 'full' ? [32, 64, 512] : [4, 8, 32];
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: a, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters: a, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tf.layers.conv2d({ filters: b, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters: b, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dropout({ rate: 0.25 }));
  model.add(tf.layers.dense({ units: hidden, activation: 'relu' }));
  model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: 'rmsprop', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/**
 * mnist-transfer-cnn: the Keras base model (conv, relu, conv, relu, pool, dropout, flatten | dense
 * 128, relu, dropout, dense 5, softmax) with its first 7 layers frozen (trainable = false), then
 * compiled for retraining on digits 5-9 with adam(0.01) and metric 'acc', as index.js does.
 */
function mnistTransfer(tf: Tf, size: ZooSize): tfTypes.LayersModel {
  const [filters, hidden] = size === 'full' ? [32, 128] : [4, 16];
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters, kernelSize: 3, padding: 'valid' }));
  model.add(tf.layers.activation({ activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters, kernelSize: 3 }));
  model.add(tf.layers.activation({ activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.dropout({ rate: 0.25 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: hidden }));
  model.add(tf.layers.activation({ activation: 'relu' }));
  model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(tf.layers.dense({ units: 5 }));
  model.add(tf.layers.activation({ activation: 'softmax' }));
  for (let i = 0; i < 7; i++) model.layers[i].trainable = false;
  model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['acc'] });
  return model;
}

/** sentiment/train.js buildModel: embedding, then 'lstm' (LSTM 32) or 'cnn' (conv1d 250 x 5, global max pool, dense 250). */
function sentiment(tf: Tf, size: ZooSize, kind: 'lstm' | 'cnn'): tfTypes.LayersModel {
  const { vocab, maxLen, embedding } = SENTIMENT[size];
  const model = tf.sequential();
  model.add(tf.layers.embedding({ inputDim: vocab, outputDim: embedding, inputLength: maxLen }));
  if (kind === 'lstm') {
    model.add(tf.layers.lstm({ units: size === 'full' ? 32 : 8 }));
  } else {
    const filters = size === 'full' ? 250 : 16;
    model.add(tf.layers.dropout({ rate: 0.5 }));
    model.add(tf.layers.conv1d({ filters, kernelSize: 5, strides: 1, padding: 'valid', activation: 'relu' }));
    model.add(tf.layers.globalMaxPool1d({}));
    model.add(tf.layers.dense({ units: filters, activation: 'relu' }));
  }
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
  model.compile({ loss: 'binaryCrossentropy', optimizer: 'adam', metrics: ['acc'] });
  return model;
}

/** jena-weather/models.js: a GRU or SimpleRNN of 32 units on [240, 14], dense 1; mean absolute error, 'rmsprop'. */
function jena(tf: Tf, size: ZooSize, kind: 'gru' | 'simpleRNN'): tfTypes.LayersModel {
  const { timesteps, features, units } = JENA[size];
  const inputShape = [timesteps, features];
  const model = tf.sequential();
  model.add(kind === 'gru' ? tf.layers.gru({ units, inputShape, dropout: 0, recurrentDropout: 0 }) : tf.layers.simpleRNN({ units, inputShape }));
  model.add(tf.layers.dense({ units: 1 }));
  model.compile({ loss: 'meanAbsoluteError', optimizer: 'rmsprop' });
  return model;
}

/** addition-rnn/index.js with rnnType 'LSTM': encoder LSTM, repeatVector, decoder LSTM, timeDistributed dense, softmax. */
function additionRnn(tf: Tf, size: ZooSize): tfTypes.LayersModel {
  const { digits, chars } = ADDITION;
  const hidden = ADDITION[size].hidden;
  const maxLen = digits + 1 + digits;
  const model = tf.sequential();
  model.add(tf.layers.lstm({ units: hidden, recurrentInitializer: 'glorotNormal', inputShape: [maxLen, chars] }));
  model.add(tf.layers.repeatVector({ n: digits + 1 }));
  model.add(tf.layers.lstm({ units: hidden, recurrentInitializer: 'glorotNormal', returnSequences: true }));
  model.add(tf.layers.timeDistributed({ layer: tf.layers.dense({ units: chars }) }));
  model.add(tf.layers.activation({ activation: 'softmax' }));
  model.compile({ loss: 'categoricalCrossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  return model;
}

/**
 * A functional tf.model with two inputs and two outputs. tfjs-examples' only such model is
 * mnist-acgan's combined generator+discriminator, trained by trainOnBatch, never fit; this one has
 * the same traits in a fit-shaped task: an image input and an auxiliary vector, concatenated, two
 * heads ('digit': softmax, categorical cross-entropy; 'odd': sigmoid, binary cross-entropy), a
 * loss per output and per-output metrics. (tfjs-layers 4.22's compile has no lossWeights.)
 */
function functional(tf: Tf, size: ZooSize): tfTypes.LayersModel {
  const [filters, hidden] = size === 'full' ? [16, 128] : [4, 16];
  const image = tf.input({ shape: [28, 28, 1], name: 'image' });
  const aux = tf.input({ shape: [8], name: 'aux' });
  const conv = tf.layers.conv2d({ filters, kernelSize: 3, strides: 2, activation: 'relu' }).apply(image) as tfTypes.SymbolicTensor;
  const flat = tf.layers.flatten().apply(conv) as tfTypes.SymbolicTensor;
  const auxDense = tf.layers.dense({ units: 8, activation: 'relu' }).apply(aux) as tfTypes.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([flat, auxDense]) as tfTypes.SymbolicTensor;
  const trunk = tf.layers.dense({ units: hidden, activation: 'relu' }).apply(joined) as tfTypes.SymbolicTensor;
  const digit = tf.layers.dense({ units: 10, activation: 'softmax', name: 'digit' }).apply(trunk) as tfTypes.SymbolicTensor;
  const odd = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'odd' }).apply(trunk) as tfTypes.SymbolicTensor;
  const model = tf.model({ inputs: [image, aux], outputs: [digit, odd] });
  model.compile({ optimizer: tf.train.adam(0.001), loss: ['categoricalCrossentropy', 'binaryCrossentropy'], metrics: ['accuracy'] });
  return model;
}

/** abalone-node/model.js: dense 50 sigmoid, dense 50 sigmoid, dense 1 on 8 features; sgd(0.01), mean squared error. */
function abalone(tf: Tf): tfTypes.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [8], activation: 'sigmoid', units: 50 }));
  model.add(tf.layers.dense({ activation: 'sigmoid', units: 50 }));
  model.add(tf.layers.dense({ units: 1 }));
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
  return model;
}

/** iris/index.js: dense 10 sigmoid on 4 features, dense 3 softmax; adam(0.01). */
function iris(tf: Tf): tfTypes.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 10, activation: 'sigmoid', inputShape: [4] }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** Builds and compiles the zoo model `name` as its example does (weights from tfjs's unseeded initialisers). */
export function buildZooModel(tf: Tf, name: ZooModelName, size: ZooSize = 'full'): tfTypes.LayersModel {
  switch (name) {
    case 'mnist-cnn':
      return mnistCnn(tf, size);
    case 'mnist-transfer':
      return mnistTransfer(tf, size);
    case 'sentiment-lstm':
      return sentiment(tf, size, 'lstm');
    case 'sentiment-cnn':
      return sentiment(tf, size, 'cnn');
    case 'jena-gru':
      return jena(tf, size, 'gru');
    case 'jena-simple-rnn':
      return jena(tf, size, 'simpleRNN');
    case 'addition-rnn':
      return additionRnn(tf, size);
    case 'functional':
      return functional(tf, size);
    case 'abalone':
      return abalone(tf);
    case 'iris':
      return iris(tf);
  }
}
