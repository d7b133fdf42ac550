/**
 * `threadfit evaluate` as users meet it: a checkpoint written from a real (small) training run
 * scores, through the CLI, what trainer.evaluate('test') gave; bad --checkpoint values exit 2.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, epochPermutation, stepsPerEpoch } from '@threadfit/shared';
import {
  Trainer,
  buildSeedModel,
  checkpointWeightSpecs,
  coordinatorTf,
  loadImageDataset,
  modelSpecOf,
  readOptimizerSlots,
  shareImageDataset,
  writeCheckpoint,
  type EvaluateReport,
} from '@threadfit/coordinator';
import { idxBytes, runCli, tempDir, writeSyntheticIdxSet } from './helpers.js';

const tmp = tempDir('threadfit-eval-');
const data = join(tmp.dir, 'data');
const root = join(tmp.dir, 'ckpts');
let expected: { loss: number; acc: number; count: number };
let ckptName: string;

beforeAll(async () => {
  mkdirSync(data);
  writeSyntheticIdxSet(data, { train: 1000, test: 200, seed: 7 });
  await coordinatorTf();
  const shared = shareImageDataset(loadImageDataset(data));
  const model = buildSeedModel(tf, { seed: 11, hidden: 32 });
  const spec = modelSpecOf(model);
  const weightSpecs = checkpointWeightSpecs(model);
  const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const trainer = await Trainer.create({
    workers: 2,
    backend: 'wasm',
    model: spec,
    initialWeights: init,
    dataset: shared,
    maxBatch: 128,
    optimizer: ADAM_DEFAULTS,
  });
  try {
    const steps = stepsPerEpoch(shared.trainCount, 128);
    const order = epochPermutation(shared.trainCount, 11, 0);
    for (let s = 0; s < steps; s++) await trainer.trainStep(order.subarray(s * 128, Math.min(shared.trainCount, (s + 1) * 128)));
    const r = await trainer.evaluate('test');
    expected = { loss: r.loss, acc: r.metrics[0], count: r.count };
    const entry = await writeCheckpoint(root, {
      modelTopology: spec.topology,
      loss: spec.loss,
      metrics: spec.metrics,
      weightSpecs,
      weights: trainer.committedWeights(),
      optimizer: { kind: 'adam', config: { ...ADAM_DEFAULTS }, step: trainer.step, slots: readOptimizerSlots(trainer.views, spec, ['m', 'v']) },
      epoch: 1,
      stepInEpoch: 0,
      globalStep: steps,
      rng: { seed: 11 },
      config: { dataDir: data, epochs: 1, batchSize: 128, seed: 11 },
      dataShape: { inputShape: [784], classes: 10, trainCount: shared.trainCount },
    });
    ckptName = entry.name;
  } finally {
    await trainer.close();
  }
  // The run learned something (a score of an untrained model would prove little).
  expect(expected.acc).toBeGreaterThan(0.5);
});
afterAll(() => tmp.cleanup());

const base = ['--workers', '2', '--backend', 'wasm', '--log-format', 'json'];

describe('threadfit evaluate', () => {
  it('a checkpoint root: prints and reports what trainer.evaluate gave (its data dir taken from the checkpoint)', async () => {
    const report = join(tmp.dir, 'eval.json');
    const r = await runCli(['evaluate', '--checkpoint', root, '--report', report, ...base]);
    expect(r.stderr).not.toMatch(/"level":(40|50)/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Test: loss ${expected.loss.toFixed(4)} - acc ${expected.acc.toFixed(4)}\n`);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as EvaluateReport;
    // Same W and backend: the same shards summed in the same order.
    expect(rep.test.loss).toBeCloseTo(expected.loss, 6);
    expect(rep.test.acc).toBeCloseTo(expected.acc, 6);
    expect(rep.test.count).toBe(200);
    expect(rep.checkpoint).toMatchObject({ name: ckptName, epoch: 1, globalStep: 8, optimizerStep: 8 });
    expect(rep.config).toEqual({ workers: 2, backend: 'wasm', dataset: data });
  });

  it('one ckpt-* directory with an explicit --data-dir and one worker', async () => {
    const r = await runCli([
      'evaluate',
      '--checkpoint',
      join(root, ckptName),
      '--data-dir',
      data,
      '--workers',
      '1',
      '--backend',
      'wasm',
      '--log-level',
      'warn',
    ]);
    expect(r.code).toBe(0);
    const m = /Test: loss (\S+) - acc (\S+)/.exec(r.stdout);
    expect(Number(m![1])).toBeCloseTo(expected.loss, 3);
    expect(Number(m![2])).toBeCloseTo(expected.acc, 3);
  });

  it('a corrupt newest checkpoint: warned on stderr, the previous one evaluated', async () => {
    const two = join(tmp.dir, 'two');
    mkdirSync(two);
    cpSync(join(root, ckptName), join(two, ckptName), { recursive: true });
    cpSync(join(root, ckptName), join(two, 'ckpt-000009'), { recursive: true });
    const file = join(two, 'ckpt-000009', 'weights.bin');
    const bytes = readFileSync(file);
    bytes[99] ^= 0x10;
    writeFileSync(file, bytes);
    const r = await runCli(['evaluate', '--checkpoint', two, ...base]);
    expect(r.code).toBe(0);
    // A copy of step 8 under the name of step 9 is refused by its name before its checksums are read.
    expect(r.stderr).toMatch(/checkpoint ckpt-000009 is unusable: its name says step 9 but its meta\.json says step 8 .*falling back to the previous one/);
    expect(r.stdout).toContain(`Test: loss ${expected.loss.toFixed(4)} - acc ${expected.acc.toFixed(4)}`);
  });

  it('--help lists the flags; threadfit --help lists the command', async () => {
    const r = await runCli(['evaluate', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--checkpoint', '--data-dir', '--workers', '--backend', '--report']) expect(r.stdout).toContain(flag);
    expect((await runCli(['--help'])).stdout).toMatch(/evaluate\s+Print the test loss and accuracy of a checkpoint/);
  });
});

describe('threadfit evaluate: bad input exits 2 with the usage and the bad value', () => {
  const file = join(tmp.dir, 'plain-file');
  const foreign = join(tmp.dir, 'foreign');
  const empty = join(tmp.dir, 'empty');
  const corrupt = join(tmp.dir, 'corrupt');
  const small = join(tmp.dir, 'small-images');
  beforeAll(() => {
    writeFileSync(file, 'x');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'foo.txt'), 'mine');
    mkdirSync(empty);
    cpSync(join(root, ckptName), join(corrupt, ckptName), { recursive: true });
    writeFileSync(join(corrupt, ckptName, 'optimizer.bin'), 'truncated');
    // 14x14 images: another data shape.
    mkdirSync(small);
    const n = 20;
    writeFileSync(join(small, 'train-images-idx3-ubyte'), idxBytes([n, 14, 14], new Uint8Array(n * 196)));
    writeFileSync(join(small, 'train-labels-idx1-ubyte'), idxBytes([n], new Uint8Array(n)));
    writeFileSync(join(small, 't10k-images-idx3-ubyte'), idxBytes([n, 14, 14], new Uint8Array(n * 196)));
    writeFileSync(join(small, 't10k-labels-idx1-ubyte'), idxBytes([n], new Uint8Array(n)));
  });

  it.each([
    ['no --checkpoint', () => [], /flag --checkpoint must be a checkpoint directory \(required\), got undefined/],
    ['a missing dir', () => ['--checkpoint', '/nonexistent/ckpts'], /--checkpoint \/nonexistent\/ckpts: no such directory/],
    ['a file', () => ['--checkpoint', file], /--checkpoint .*plain-file: is not a directory/],
    ['a foreign dir', () => ['--checkpoint', foreign], /--checkpoint .*foreign: is not a threadfit checkpoint directory: found foo\.txt/],
    ['an empty dir', () => ['--checkpoint', empty], /--checkpoint .*empty: holds no checkpoint/],
    [
      'a corrupt single checkpoint',
      () => ['--checkpoint', join(corrupt, ckptName)],
      /--checkpoint .*: checkpoint ckpt-000008 is unusable: optimizer\.bin has 9 bytes/,
    ],
    [
      'a root whose only checkpoint is corrupt',
      () => ['--checkpoint', corrupt],
      /--checkpoint .*corrupt: no valid checkpoint: checkpoint ckpt-000008 is unusable/,
    ],
    [
      'data of another shape',
      () => ['--checkpoint', root, '--data-dir', small],
      /checkpoint ckpt-000008 was made for data of input shape 784, this data has 196/,
    ],
    ['a bad --workers', () => ['--checkpoint', root, '--workers', '0'], /flag --workers must be an integer in 1\.\.\d+, got 0/],
  ])('%s', async (_what, args, message) => {
    const r = await runCli(['evaluate', ...args()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Usage: threadfit evaluate');
  });
});
