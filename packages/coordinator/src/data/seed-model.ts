/**
 * The reference workload: the Keras MLP of the original brief, Dense(512, relu) on 784 inputs,
 * Dense(10, softmax), categorical cross-entropy, Adam, metric accuracy. Initial weights are
 * Glorot-uniform from `seed` (bias zeros), so a seed fixes the run.
 */
import type * as tfTypes from '@tensorflow/tfjs';

export interface SeedModelOptions {
  inputSize?: number;
  hidden?: number;
  classes?: number;
  learningRate?: number;
  seed: number;
}

export function buildSeedModel(tf: typeof tfTypes, o: SeedModelOptions): tfTypes.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        units: o.hidden ?? 512,
        activation: 'relu',
        inputShape: [o.inputSize ?? 784],
        kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed }),
      }),
      tf.layers.dense({ units: o.classes ?? 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed + 1 }) }),
    ],
  });
  model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(o.learningRate ?? 0.001), metrics: ['accuracy'] });
  return model;
}
