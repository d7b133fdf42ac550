/** Which models get TensorFlow's oneDNN kernels (engine/backend-choice.ts): the layer kinds decide. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { wantsOneDnn } from '../src/engine/backend-choice.js';
import { buildSeedModel } from '../src/data/seed-model.js';
import { buildZooModel, ZOO_MODELS } from '../src/zoo/models.js';

const topology = (m: tf.LayersModel) => m.toJSON(null, false) as object;

describe('wantsOneDnn', () => {
  it('is off for plain-matmul models (the seed, MLPs with dropout, activations, reshapes)', () => {
    expect(wantsOneDnn(topology(buildSeedModel(tf, { seed: 1, hidden: 8 })))).toBe(false);
    for (const name of ['abalone', 'iris'] as const) expect(wantsOneDnn(topology(buildZooModel(tf, name, 'small'))), name).toBe(false);
    const mlp = tf.sequential({
      layers: [
        tf.layers.reshape({ targetShape: [4], inputShape: [2, 2] }),
        tf.layers.dense({ units: 3 }),
        tf.layers.dropout({ rate: 0.1 }),
        tf.layers.activation({ activation: 'relu' }),
      ],
    });
    expect(wantsOneDnn(topology(mlp))).toBe(false);
  });

  it('is on for conv, recurrent and embedding models, also nested in a functional model', () => {
    for (const name of ZOO_MODELS.filter((n) => n !== 'abalone' && n !== 'iris'))
      expect(wantsOneDnn(topology(buildZooModel(tf, name, 'small'))), name).toBe(true);
    const inner = tf.sequential({ layers: [tf.layers.conv1d({ filters: 2, kernelSize: 2, inputShape: [4, 1] })] });
    const input = tf.input({ shape: [4, 1] });
    const outer = tf.model({ inputs: input, outputs: tf.layers.flatten().apply(inner.apply(input)) as tf.SymbolicTensor });
    expect(wantsOneDnn(topology(outer))).toBe(true);
  });
});
