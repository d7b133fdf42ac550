/**
 * Faults in workers: a throw, a process.exit, a hang, a NaN gradient, each in the middle of a run
 * on real threads. The promise: the step runs again and training ends with the same weights as a
 * fault-free run (bitwise, same W); a non-finite step changes nothing; past the limits, a clear error.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, ErrorCodes, epochPermutation } from '@threadfit/shared';
import {
  Trainer,
  buildSeedModel,
  coordinatorTf,
  modelSpecOf,
  shareImageDataset,
  loadImageDataset,
  type SharedDataset,
  type TrainerConfig,
} from '@threadfit/coordinator';
import { parseFault } from '../packages/coordinator/src/engine/faults.js';
import { tempDir, writeSyntheticIdxSet } from './helpers.js';

const STEPS = 6;
let shared: SharedDataset;
let trainers: Trainer[] = [];
const tmp = tempDir();

beforeAll(async () => {
  await coordinatorTf();
  writeSyntheticIdxSet(tmp.dir, { train: 512, test: 64 });
  shared = shareImageDataset(loadImageDataset(tmp.dir));
  return () => tmp.cleanup();
});
afterEach(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  trainers = [];
});

/** The seed model (16 hidden units) on 2 workers, batches of 64, closed after the test. */
async function seedTrainer(extra: Partial<TrainerConfig>): Promise<Trainer> {
  return trainerOf(buildSeedModel(tf, { seed: 3, hidden: 16 }), extra);
}

/** A Trainer for `model` (disposed here) on 2 wasm workers, batches of 64, closed after the test. */
async function trainerOf(model: tf.LayersModel, extra: Partial<TrainerConfig>): Promise<Trainer> {
  const spec = modelSpecOf(model);
  const initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const trainer = await Trainer.create({
    workers: 2,
    backend: 'wasm',
    model: spec,
    initialWeights,
    dataset: shared,
    maxBatch: 64,
    optimizer: ADAM_DEFAULTS,
    ...extra,
  });
  trainers.push(trainer);
  return trainer;
}

/**
 * `steps` steps of 64 rows on 2 workers: one trainStep call each, or (stepsPerExecution > 1) one
 * trainSteps call for all of them, which the workers run in executions on their own.
 */
async function run(
  extra: Partial<TrainerConfig> = {},
  steps = STEPS,
): Promise<{ trainer: Trainer; weights: Float32Array[]; skipped: number; losses: number[] }> {
  const trainer = await seedTrainer(extra);
  const order = epochPermutation(shared.trainCount, 3, 0);
  let skipped = 0;
  const losses: number[] = [];
  const record = (r: { skipped: boolean; lossSum: number }) => {
    if (r.skipped) skipped++;
    losses.push(r.lossSum);
  };
  const batches = Array.from({ length: steps }, (_, s) => order.subarray((s % 8) * 64, ((s % 8) + 1) * 64));
  if ((extra.stepsPerExecution ?? 1) > 1) await trainer.trainSteps(batches, { onStep: record });
  else for (const b of batches) record(await trainer.trainStep(b));
  return { trainer, weights: trainer.committedWeights(), skipped, losses };
}

const same = (a: Float32Array[], b: Float32Array[]) =>
  a.every((w, i) => Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength)) === 0);

describe('a worker fault mid-step is survived with the same final weights', () => {
  let clean: Float32Array[];
  beforeAll(async () => {
    clean = (await run()).weights;
  });

  it.each(['crash@step=3,rank=1', 'exit@step=2,rank=0', 'hang@step=4,rank=1'])('%s', async (fault) => {
    const { trainer, weights } = await run({ injectFault: parseFault(fault), stepTimeoutMs: 4000 });
    expect(trainer.restarts).toBe(1);
    expect(trainer.step).toBe(STEPS);
    expect(same(weights, clean)).toBe(true);
  });
});

describe('executions: the workers run several steps on their own (trainSteps)', () => {
  const EXEC = { stepsPerExecution: 4 };
  let clean: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    clean = await run();
  });

  it('give the same weights, bit for bit, and the same per-step losses as a round trip per step', async () => {
    const r = await run(EXEC);
    expect(r.trainer.stepsPerExecution).toBe(4);
    expect(r.trainer.step).toBe(STEPS);
    expect(r.losses).toEqual(clean.losses);
    expect(same(r.weights, clean.weights)).toBe(true);
  });

  // Step 3 fails inside the first execution (steps 1-4): steps 1-2 stay committed and the
  // execution runs again from step 3.
  it.each(['crash@step=3,rank=1', 'exit@step=2,rank=0', 'hang@step=4,rank=1', 'crash@step=5,rank=0'])('survive %s with the same weights', async (fault) => {
    const r = await run({ ...EXEC, injectFault: parseFault(fault), stepTimeoutMs: 4000 });
    expect(r.trainer.restarts).toBe(1);
    expect(r.trainer.step).toBe(STEPS);
    expect(r.losses).toEqual(clean.losses);
    expect(same(r.weights, clean.weights)).toBe(true);
  });

  it('a NaN step mid-execution is skipped for every rank and the rest of the execution runs after it', async () => {
    const oneByOne = await run({ injectFault: parseFault('nan@step=3,rank=1') });
    const r = await run({ ...EXEC, injectFault: parseFault('nan@step=3,rank=1') });
    expect(r.skipped).toBe(1);
    expect(r.trainer.step).toBe(STEPS - 1);
    expect(r.losses).toEqual(oneByOne.losses);
    expect(same(r.weights, oneByOne.weights)).toBe(true);
  });

  it('an elastic trainer shrinks and grows back at the same steps as with a round trip per step', async () => {
    // Step 3 fails twice: the trainer goes on with 1 worker and grows back 50 steps later.
    const elastic = { minWorkers: 1, injectFault: parseFault('crash@step=3,rank=1,times=2') };
    const oneByOne = await run(elastic, 70);
    const r = await run({ ...elastic, stepsPerExecution: 32 }, 70);
    expect(oneByOne.trainer.activeWorkers).toBe(2);
    expect(r.trainer.activeWorkers).toBe(2);
    expect(r.losses).toEqual(oneByOne.losses);
    expect(same(r.weights, oneByOne.weights)).toBe(true);
  });

  it('past maxRestarts, stop with the same error, having reported every step committed before it', async () => {
    const seen: number[] = [];
    const trainer = await seedTrainer({ ...EXEC, injectFault: parseFault('crash@step=3,rank=0'), maxRestarts: 0 });
    const order = epochPermutation(shared.trainCount, 3, 0);
    const batches = Array.from({ length: STEPS }, (_, s) => order.subarray(s * 64, (s + 1) * 64));
    const err = await trainer.trainSteps(batches, { onStep: (_s, i) => seen.push(i) }).catch((e: unknown) => e as Error);
    expect((err as unknown as { code: string }).code).toBe(ErrorCodes.WORKER_FAILED);
    expect((err as Error).message).toMatch(/workers failed 1 times \(more than maxRestarts 0\); last: rank 0 at step 3: injected crash/);
    // What a checkpoint written now would record: the two steps committed before the fault.
    expect(seen).toEqual([0, 1]);
    expect(trainer.step).toBe(2);
  });
});

describe('non-finite gradients', () => {
  it('a NaN gradient skips the step for every rank: weights and step count unchanged by it, and it fires once', async () => {
    const before = await run({}, 2);
    const beforeWeights = before.weights;
    const { trainer, skipped } = await run({ injectFault: parseFault('nan@step=3,rank=1') }, 3);
    expect(skipped).toBe(1);
    expect(trainer.step).toBe(2);
    expect(same(trainer.committedWeights(), beforeWeights)).toBe(true);
    for (const w of trainer.committedWeights()) expect(w.every(Number.isFinite)).toBe(true);
    // The steps after it commit again: the fault does not fire on every later batch.
    const later = await run({ injectFault: parseFault('nan@step=3,rank=1') }, 6);
    expect(later.skipped).toBe(1);
    expect(later.trainer.step).toBe(5);
  });
});

describe('limits', () => {
  it('past maxRestarts, training stops with a clear error', async () => {
    const err = await run({ injectFault: parseFault('crash@step=2,rank=0'), maxRestarts: 0 }).catch((e: unknown) => e as Error & { code: string });
    expect((err as { code: string }).code).toBe(ErrorCodes.WORKER_FAILED);
    expect((err as Error).message).toMatch(/workers failed 1 times \(more than maxRestarts 0\); last: rank 0 at step 2: injected crash/);
  });

  it('past maxSkippedSteps non-finite steps in a row, training stops naming the step', async () => {
    const err = await run({ injectFault: parseFault('nan@step=2,rank=0'), maxSkippedSteps: 0 }).catch((e: unknown) => e as Error);
    expect((err as unknown as { code: string }).code).toBe(ErrorCodes.NON_FINITE);
    expect((err as Error).message).toMatch(/non-finite gradients 1 steps in a row .* at step 2/);
  });

  it('a worker-side error keeps its code across the thread boundary and is not retried', async () => {
    const model = buildSeedModel(tf, { seed: 3, hidden: 4 });
    const spec = modelSpecOf(model);
    const initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
    model.dispose();
    const err = await Trainer.create({
      workers: 1,
      backend: 'wasm',
      model: spec,
      initialWeights,
      dataset: shared,
      maxBatch: 8,
      optimizer: ADAM_DEFAULTS,
      workerSetup: '/nonexistent/setup.mjs',
    }).catch((e: unknown) => e as Error & { code?: string });
    expect((err as { code?: string }).code).toBe(ErrorCodes.INVALID_OPTION);
    expect((err as Error).message).toMatch(/options\.workerSetup "\/nonexistent\/setup\.mjs" could not be imported in a worker/);
  });

  it('resize() holds: an elastic trainer grows back only up to what was asked', async () => {
    const { trainer } = await run({ workers: 2 }, 0);
    trainer.resize(1);
    const order = epochPermutation(shared.trainCount, 3, 1);
    for (let s = 0; s < 60; s++) await trainer.trainStep(order.subarray((s % 8) * 64, ((s % 8) + 1) * 64));
    expect(trainer.activeWorkers).toBe(1);
  });

  it('parses fault specs and refuses bad ones', () => {
    expect(parseFault('hang@step=7,rank=2')).toEqual({ kind: 'hang', step: 7, rank: 2 });
    expect(parseFault('nan@step=1')).toEqual({ kind: 'nan', step: 1, rank: 0 });
    expect(() => parseFault('boom@step=1')).toThrow(/must look like crash\|exit\|hang\|nan@step=S,rank=R\[,times=T\], got "boom@step=1"/);
  });
});

/**
 * Dense(16, relu) -> BatchNormalization -> Dense(10, softmax), Adam, on 2 wasm workers, 8 steps of
 * 64 rows in executions of `stepsPerExecution`: the committing rank also averages the moving statistics.
 */
async function runBatchNorm(extra: Partial<TrainerConfig>): Promise<{ trainer: Trainer; weights: Float32Array[]; losses: number[] }> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization(),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ loss: 'categoricalCrossentropy', optimizer: tf.train.adam(0.01), metrics: ['accuracy'] });
  const trainer = await trainerOf(model, { optimizer: { ...ADAM_DEFAULTS, learningRate: 0.01 }, ...extra });
  const order = epochPermutation(shared.trainCount, 3, 0);
  const losses = (await trainer.trainSteps(Array.from({ length: 8 }, (_, s) => order.subarray(s * 64, (s + 1) * 64)))).map((s) => s.lossSum);
  return { trainer, weights: trainer.committedWeights(), losses };
}

describe('executions with non-trainable weights (BatchNormalization)', () => {
  let perStep: Awaited<ReturnType<typeof runBatchNorm>>;
  beforeAll(async () => {
    perStep = await runBatchNorm({ stepsPerExecution: 1 });
  });

  it('4 steps per execution: the same weights and moving statistics, bit for bit, as one step per round trip', async () => {
    const r = await runBatchNorm({ stepsPerExecution: 4 });
    expect(r.trainer.stepsPerExecution).toBe(4);
    expect(r.trainer.step).toBe(8);
    expect(r.losses).toEqual(perStep.losses);
    expect(same(r.weights, perStep.weights)).toBe(true);
    // The moving mean (after kernel, bias, gamma, beta) was averaged and committed: it moved.
    expect(r.weights[4].some((v) => v !== 0)).toBe(true);
  });

  it('a crash mid-execution: the step reruns and the bits are those of the fault-free run', async () => {
    const r = await runBatchNorm({ stepsPerExecution: 4, injectFault: parseFault('crash@step=6,rank=1') });
    expect(r.trainer.restarts).toBe(1);
    expect(same(r.weights, perStep.weights)).toBe(true);
  });
});
