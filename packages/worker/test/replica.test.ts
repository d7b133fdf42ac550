/**
 * The replica and the chunk updater driven in this thread (no pool): one rank, W=1, must follow
 * tf.train.adam + model.fit's loss exactly, step after step, on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '@threadfit/worker';
import { followAdam, seedReplica } from './follow-adam.js';
import { withEnv } from '../../../test/helpers.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await setupBackend({ backend: 'wasm' });
});

describe('Replica + ChunkUpdater (W=1, in-thread)', () => {
  it('follows tf.train.adam with the same loss and identical weights for 5 steps', async () => {
    await followAdam(tf, { features: 20, hidden: 16, steps: 5 });
  });
});

describe.each(['dense', 'native'] as const)('Replica.prefetch on the %s path (rows gathered while a rank waits at a barrier)', (path) => {
  it('a prefetched micro-batch gives the same gradients; a prefetch of other rows is dropped, not used; nothing leaks', async () => {
    // This chain is small enough for the wasm native step, which replicas take unless it is
    // switched off when they are created; there the rows are gathered into arrays, not tensors.
    const { views, replica } = await withEnv('THREADFIT_NATIVE_STEP', path === 'dense' ? '0' : undefined, () =>
      seedReplica(tf, { rows: 32, features: 20, hidden: 16, maxBatch: 32 }),
    );
    expect(replica.gradPath).toBe(path);
    views.batchIndices.set(Array.from({ length: 32 }, (_, i) => (i * 7) % 32));
    const second = { slot: 0, start: 16, end: 32 };
    const grad = () => {
      const r = replica.grad({ rank: 0, micro: [second], step: 0, from: 0 });
      return { loss: r.lossSum, metrics: r.metricSums, slot: views.gradSlot(0).slice() };
    };
    const plain = grad();
    const tensors = tf.memory().numTensors;
    replica.prefetch(second);
    if (path === 'dense') expect(tf.memory().numTensors).toBeGreaterThan(tensors);
    else expect(tf.memory().numTensors).toBe(tensors);
    expect(grad()).toEqual(plain);
    replica.prefetch({ slot: 0, start: 0, end: 16 });
    expect(grad()).toEqual(plain);
    replica.prefetch(second);
    replica.dropPrefetch();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(grad()).toEqual(plain);
  });
});
