/** The model zoo: tfjs-examples' models (models.ts) and data of their shapes (data.ts). */
import type * as tfTypes from '@tensorflow/tfjs';
import { withSeededMathRandom } from '@threadfit/worker';
import { buildZooModel, type ZooModelName, type ZooSize } from './models.js';

export { buildZooModel, ZOO_MODELS, SENTIMENT, JENA, ADDITION, type ZooModelName, type ZooSize } from './models.js';
export { zooData, ZOO_TRAINING, type ZooData, type ZooTraining } from './data.js';

/**
 * The zoo model with initial weights fixed by `seed`: tfjs draws an unseeded initialiser's seed
 * from Math.random, so the build runs with Math.random seeded.
 */
export function buildSeededZooModel(tf: typeof tfTypes, name: ZooModelName, seed: number, size: ZooSize = 'full'): tfTypes.LayersModel {
  return withSeededMathRandom(seed, () => buildZooModel(tf, name, size));
}
