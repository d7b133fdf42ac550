/**
 * Data of the right shapes for the zoo's models (models.ts), made in memory and seeded, so that a
 * run is the same on every machine: MNIST itself (the bundled copy) for the image models, and for
 * the others a synthetic task with a learnable signal in the example's own encoding (token ids for
 * sentiment, z-scored multivariate series for jena-weather, real 2-digit sums for addition-rnn,
 * a noisy regression for abalone, Gaussian classes for iris). The real IMDB, Jena-climate, abalone
 * and iris files are downloads these machines cannot make.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { Rng } from '@threadfit/shared';
import { loadImageDataset, type ImageDataset } from '../data/mnist.js';
import { ADDITION, JENA, SENTIMENT, type ZooModelName, type ZooSize } from './models.js';

type Tf = typeof tfTypes;

export interface ZooData {
  /** One tensor per model input (an array only for multi-input models). */
  x: tfTypes.Tensor | tfTypes.Tensor[];
  /** One tensor per model output. */
  y: tfTypes.Tensor | tfTypes.Tensor[];
}

/** How each example trains (its own script's batch size and epochs), and the samples it trains on. */
export interface ZooTraining {
  batchSize: number;
  epochs: number;
  samples: number;
  /** Where the figures come from, for --help and the bench heading. */
  note: string;
  /** `threadfit bench --model`'s default work: the example's own where a run takes under a minute on 2 cores. */
  bench: { samples: number; epochs: number };
}

export const ZOO_TRAINING: Record<ZooModelName, ZooTraining> = {
  'mnist-cnn': {
    batchSize: 128,
    epochs: 20,
    samples: 60_000,
    note: 'mnist-node main.js: --batch_size 128, --epochs 20 on the 60k training images',
    bench: { samples: 2560, epochs: 1 },
  },
  'mnist-transfer': {
    batchSize: 128,
    epochs: 10,
    samples: 1024,
    note: 'mnist-transfer-cnn: batch 128, 10 epochs on 1,024 images of digits 5-9',
    bench: { samples: 1024, epochs: 10 },
  },
  'sentiment-lstm': {
    batchSize: 128,
    epochs: 10,
    samples: 25_000,
    note: 'sentiment train.js: batch 128, 10 epochs on 25k reviews',
    bench: { samples: 2560, epochs: 1 },
  },
  'sentiment-cnn': {
    batchSize: 128,
    epochs: 10,
    samples: 25_000,
    note: 'sentiment train.js: batch 128, 10 epochs on 25k reviews',
    bench: { samples: 2560, epochs: 1 },
  },
  'jena-gru': {
    batchSize: 128,
    epochs: 20,
    samples: 64_000,
    note: 'jena-weather: batch 128, 500 batches per epoch, 20 epochs',
    bench: { samples: 1280, epochs: 1 },
  },
  'jena-simple-rnn': {
    batchSize: 128,
    epochs: 20,
    samples: 64_000,
    note: 'jena-weather: batch 128, 500 batches per epoch, 20 epochs',
    bench: { samples: 2560, epochs: 1 },
  },
  'addition-rnn': {
    batchSize: 128,
    epochs: 100,
    samples: 4500,
    note: 'addition-rnn: batch 128, 100 iterations of one epoch on 4,500 sums',
    bench: { samples: 4500, epochs: 5 },
  },
  functional: {
    batchSize: 128,
    epochs: 10,
    samples: 60_000,
    note: 'threadfit: batch 128 on the 60k MNIST training images',
    bench: { samples: 5120, epochs: 1 },
  },
  abalone: { batchSize: 500, epochs: 100, samples: 3500, note: 'abalone-node: batch 500, 100 epochs on 3,500 rows', bench: { samples: 3500, epochs: 100 } },
  iris: { batchSize: 32, epochs: 40, samples: 126, note: 'iris: batch 32 (tfjs default), 40 epochs on 126 rows', bench: { samples: 126, epochs: 40 } },
};

let mnist: ImageDataset | undefined;
const mnistData = (): ImageDataset => (mnist ??= loadImageDataset());

/** `n` MNIST training images (those whose label passes `keep`) as [n, 28, 28, 1] in [0, 1] with their labels. */
function mnistRows(n: number, keep: (label: number) => boolean = () => true): { pixels: Float32Array; labels: number[] } {
  const d = mnistData().train;
  const size = d.rows * d.cols;
  const pixels = new Float32Array(n * size);
  const labels: number[] = [];
  for (let r = 0, i = 0; i < n; r = (r + 1) % d.count) {
    if (!keep(d.labels[r])) continue;
    for (let k = 0; k < size; k++) pixels[i * size + k] = d.images[r * size + k] / 255;
    labels.push(d.labels[r]);
    i++;
  }
  return { pixels, labels };
}

function oneHot(tf: Tf, ids: ArrayLike<number>, depth: number, shape?: number[]): tfTypes.Tensor {
  const out = new Float32Array(ids.length * depth);
  for (let i = 0; i < ids.length; i++) out[i * depth + ids[i]] = 1;
  return tf.tensor(out, shape ?? [ids.length, depth], 'float32');
}

/**
 * Sentiment: reviews of token ids (0 = padding, 2 = out of vocabulary, as the example encodes them),
 * pre-padded to maxLen; a review is positive when it holds more of the first 50 "positive" word ids
 * than of the next 50 "negative" ones.
 */
function sentimentData(tf: Tf, n: number, size: ZooSize, rng: Rng): ZooData {
  const { vocab, maxLen } = SENTIMENT[size];
  const polar = Math.min(50, Math.floor((vocab - 3) / 4));
  const ids = new Int32Array(n * maxLen);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const length = Math.max(5, Math.floor(maxLen * (0.5 + rng.next() / 2)));
    let score = 0;
    for (let t = maxLen - length; t < maxLen; t++) {
      const u = rng.next();
      let id: number;
      if (u < 0.15) {
        id = 3 + rng.int(polar);
        score++;
      } else if (u < 0.3) {
        id = 3 + polar + rng.int(polar);
        score--;
      } else id = u < 0.33 ? 2 : 3 + 2 * polar + rng.int(vocab - 3 - 2 * polar);
      ids[i * maxLen + t] = id;
    }
    labels[i] = score > 0 ? 1 : 0;
  }
  return { x: tf.tensor2d(ids, [n, maxLen], 'int32'), y: tf.tensor2d(labels, [n, 1]) };
}

/**
 * Jena-weather: windows of 14 z-scored series (daily and yearly cycles with noise, correlated like
 * temperature, pressure and humidity); the target is feature 1 (the example's "T (degC)") one day
 * after the window's end, as with delay 144.
 */
function jenaData(tf: Tf, n: number, size: ZooSize, rng: Rng): ZooData {
  const { timesteps, features } = JENA[size];
  const x = new Float32Array(n * timesteps * features);
  const y = new Float32Array(n);
  const phase = Array.from({ length: features }, () => rng.next() * 2 * Math.PI);
  const series = (f: number, t: number) => Math.sin((2 * Math.PI * t) / 24 + phase[f]) + 0.5 * Math.sin((2 * Math.PI * t) / 240 + f);
  for (let i = 0; i < n; i++) {
    const start = rng.int(100_000);
    for (let t = 0; t < timesteps; t++) {
      for (let f = 0; f < features; f++) x[(i * timesteps + t) * features + f] = series(f, start + t) + 0.1 * (rng.next() - 0.5);
    }
    y[i] = series(1, start + timesteps + 24);
  }
  return { x: tf.tensor3d(x, [n, timesteps, features]), y: tf.tensor2d(y, [n, 1]) };
}

/** addition-rnn: "a+b" padded with spaces to 5 characters, its sum padded to 3, both one-hot over '0123456789+ '. */
function additionData(tf: Tf, n: number, rng: Rng): ZooData {
  const { digits, chars } = ADDITION;
  const alphabet = '0123456789+ ';
  const maxLen = digits + 1 + digits;
  const queries: number[] = [];
  const answers: number[] = [];
  const encode = (s: string, len: number, out: number[]) => {
    const padded = s.padEnd(len, ' ');
    for (const c of padded) out.push(alphabet.indexOf(c));
  };
  for (let i = 0; i < n; i++) {
    const a = rng.int(10 ** digits);
    const b = rng.int(10 ** digits);
    encode(`${a}+${b}`, maxLen, queries);
    encode(String(a + b), digits + 1, answers);
  }
  return { x: oneHot(tf, queries, chars, [n, maxLen, chars]), y: oneHot(tf, answers, chars, [n, digits + 1, chars]) };
}

/** The functional model's data: an MNIST image, 8 auxiliary features, and two targets (the digit one-hot, and whether it is odd). */
function functionalData(tf: Tf, n: number, rng: Rng): ZooData {
  const { pixels, labels } = mnistRows(n);
  const aux = new Float32Array(n * 8);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 8; k++) aux[i * 8 + k] = rng.next() - 0.5 + (k === 0 ? (labels[i] % 2) * 0.5 : 0);
  }
  return {
    x: [tf.tensor4d(pixels, [n, 28, 28, 1]), tf.tensor2d(aux, [n, 8])],
    y: [
      oneHot(tf, labels, 10),
      tf.tensor2d(
        labels.map((l) => l % 2),
        [n, 1],
      ),
    ],
  };
}

/** Abalone-shaped rows: sex coded 0/1/2 as the example does, 7 measurements, rings a noisy function of them. */
function abaloneData(tf: Tf, n: number, rng: Rng): ZooData {
  const x = new Float32Array(n * 8);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const sex = rng.int(3);
    const length = 0.2 + 0.6 * rng.next();
    x.set([sex, length, length * 0.8, length * 0.3, length ** 3 * 2, length ** 3, length ** 3 * 0.4, length ** 3 * 0.6], i * 8);
    y[i] = 3 + 15 * length + (sex === 2 ? -1 : 0) + 2 * (rng.next() - 0.5);
  }
  return { x: tf.tensor2d(x, [n, 8]), y: tf.tensor2d(y, [n, 1]) };
}

/** Iris-shaped rows: 4 measurements from three Gaussian classes near the real species' means. */
function irisData(tf: Tf, n: number, rng: Rng): ZooData {
  const means = [
    [5.0, 3.4, 1.5, 0.2],
    [5.9, 2.8, 4.3, 1.3],
    [6.6, 3.0, 5.6, 2.0],
  ];
  const x = new Float32Array(n * 4);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    for (let k = 0; k < 4; k++) x[i * 4 + k] = means[c][k] + 0.35 * (rng.next() + rng.next() - 1);
    labels.push(c);
  }
  return { x: tf.tensor2d(x, [n, 4]), y: oneHot(tf, labels, 3) };
}

/** `n` samples for zoo model `name` at `size`, the same for the same seed. */
export function zooData(tf: Tf, name: ZooModelName, n: number, size: ZooSize = 'full', seed = 1): ZooData {
  const rng = new Rng(seed);
  switch (name) {
    case 'mnist-cnn': {
      const { pixels, labels } = mnistRows(n);
      return { x: tf.tensor4d(pixels, [n, 28, 28, 1]), y: oneHot(tf, labels, 10) };
    }
    case 'mnist-transfer': {
      // The example retrains on digits 5-9, labelled digit - 5.
      const { pixels, labels } = mnistRows(n, (l) => l >= 5);
      return {
        x: tf.tensor4d(pixels, [n, 28, 28, 1]),
        y: oneHot(
          tf,
          labels.map((l) => l - 5),
          5,
        ),
      };
    }
    case 'sentiment-lstm':
    case 'sentiment-cnn':
      return sentimentData(tf, n, size, rng);
    case 'jena-gru':
    case 'jena-simple-rnn':
      return jenaData(tf, n, size, rng);
    case 'addition-rnn':
      return additionData(tf, n, rng);
    case 'functional':
      return functionalData(tf, n, rng);
    case 'abalone':
      return abaloneData(tf, n, rng);
    case 'iris':
      return irisData(tf, n, rng);
  }
}
