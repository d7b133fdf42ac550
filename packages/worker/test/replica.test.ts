/**
 * The replica and the chunk updater driven in this thread (no pool): one rank, W=1, must follow
 * tf.train.adam + model.fit's loss exactly, step after step, on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, it } from 'vitest';
import { setupBackend } from '@threadfit/worker';
import { followAdam } from './follow-adam.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await setupBackend({ backend: 'wasm' });
});

describe('Replica + ChunkUpdater (W=1, in-thread)', () => {
  it('follows tf.train.adam with the same loss and identical weights for 5 steps', async () => {
    await followAdam(tf, { features: 20, hidden: 16, steps: 5 });
  });
});
