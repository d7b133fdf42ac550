/**
 * Checkpoints on real files: round trip to the bit, keep-K pruning, fallback from a corrupt newest
 * checkpoint, crashes midway through a write (simulated leftovers and a real SIGKILLed process),
 * refusal of another model / data shape / a foreign directory / non-finite state, loading the
 * model.json with tfjs, and a resume that continues bit for bit on a real Trainer.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, ErrorCodes, epochPermutation } from '@threadfit/shared';
import {
  Trainer,
  buildSeedModel,
  checkCheckpointDir,
  checkpointIOHandler,
  checkpointWeightSpecs,
  coordinatorTf,
  listCheckpoints,
  loadLatestCheckpoint,
  loadImageDataset,
  modelSpecOf,
  readOptimizerSlots,
  restoreOptimizerState,
  shareImageDataset,
  writeCheckpoint,
  type CheckpointState,
} from '@threadfit/coordinator';
import { tempDir, writeSyntheticIdxSet } from './helpers.js';
// @ts-expect-error plain .mjs fixture (also run by a child process)
import { seedModelState } from './fixtures/checkpoint-state.mjs';

const stateAt = async (step: number, o?: { hidden?: number }): Promise<{ state: CheckpointState; spec: ReturnType<typeof modelSpecOf> }> =>
  seedModelState(step, o);

const tmp = tempDir('threadfit-ckpt-');
let n = 0;
const freshDir = () => join(tmp.dir, `root-${n++}`);
afterAll(() => tmp.cleanup());
beforeAll(async () => {
  await coordinatorTf();
});

function expectSameBits(a: Float32Array[], b: Float32Array[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength))).toBe(true));
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as { code?: string; message: string } | null;
  expect(err, 'expected a rejection').not.toBeNull();
  expect(err!.code).toBe(code);
  expect(err!.message).toMatch(message);
}

describe('write and load', () => {
  it('round trip: every array to the bit, every field as written, nothing left over', async () => {
    const dir = freshDir();
    const { state, spec } = await stateAt(7);
    const entry = await writeCheckpoint(dir, state);
    expect(entry.name).toBe('ckpt-000007');
    expect(readdirSync(dir)).toEqual(['ckpt-000007']);
    expect(readdirSync(entry.path).sort()).toEqual(['meta.json', 'model.json', 'optimizer.bin', 'weights.bin']);
    const { checkpoint: c, warnings } = await loadLatestCheckpoint(dir, { weights: spec.weights, topology: spec.topology, dataShape: state.dataShape });
    expect(warnings).toEqual([]);
    expectSameBits(c!.weights, state.weights);
    expect(c!.optimizer.slots.map((s) => s.name)).toEqual(['m', 'v']);
    c!.optimizer.slots.forEach((s, k) => expectSameBits(s.values, state.optimizer.slots[k].values));
    const { weights: _w, optimizer: _o, ...rest } = state;
    expect(c).toMatchObject({ ...rest, name: 'ckpt-000007', path: entry.path });
    expect({ ...c!.optimizer, slots: [] }).toEqual({ ...state.optimizer, slots: [] });
  });

  it('keeps the newest K (default 2)', async () => {
    const dir = freshDir();
    for (const step of [1, 2, 3, 4, 5]) await writeCheckpoint(dir, (await stateAt(step)).state);
    expect((await listCheckpoints(dir)).map((e) => e.name)).toEqual(['ckpt-000005', 'ckpt-000004']);
    await writeCheckpoint(dir, (await stateAt(6)).state, { keep: 3 });
    await writeCheckpoint(dir, (await stateAt(7)).state, { keep: 3 });
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000005', 'ckpt-000006', 'ckpt-000007']);
    await writeCheckpoint(dir, (await stateAt(8)).state, { keep: 1 });
    expect(readdirSync(dir)).toEqual(['ckpt-000008']);
  });

  it('rewriting the same step swaps the directory', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(3)).state);
    const again = (await stateAt(3, { hidden: 8 })).state;
    await writeCheckpoint(dir, again);
    expect(readdirSync(dir)).toEqual(['ckpt-000003']);
    expectSameBits((await loadLatestCheckpoint(dir)).checkpoint!.weights, again.weights);
  });

  it('a missing or empty root holds no checkpoint', async () => {
    expect(await loadLatestCheckpoint(join(tmp.dir, 'missing'))).toEqual({ warnings: [] });
    const empty = freshDir();
    mkdirSync(empty);
    expect(await loadLatestCheckpoint(empty)).toEqual({ warnings: [] });
  });
});

describe('corruption and crashes', () => {
  it('a corrupt newest checkpoint (one byte of weights.bin flipped) is reported and the previous one used', async () => {
    const dir = freshDir();
    const one = (await stateAt(1)).state;
    await writeCheckpoint(dir, one);
    await writeCheckpoint(dir, (await stateAt(2)).state);
    const file = join(dir, 'ckpt-000002', 'weights.bin');
    const bytes = readFileSync(file);
    bytes[1234] ^= 0x40;
    writeFileSync(file, bytes);
    const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
    expect(checkpoint!.name).toBe('ckpt-000001');
    expectSameBits(checkpoint!.weights, one.weights);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/checkpoint ckpt-000002 is unusable: weights\.bin checksum mismatch.*falling back to the previous one/);
  });

  it('a truncated meta.json or optimizer.bin is corrupt too; when none is valid: ERR_THREADFIT_CHECKSUM listing each', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1)).state);
    await writeCheckpoint(dir, (await stateAt(2)).state);
    writeFileSync(join(dir, 'ckpt-000002', 'meta.json'), readFileSync(join(dir, 'ckpt-000002', 'meta.json')).subarray(0, 100));
    writeFileSync(join(dir, 'ckpt-000001', 'optimizer.bin'), readFileSync(join(dir, 'ckpt-000001', 'optimizer.bin')).subarray(0, 100));
    await rejectsWith(
      loadLatestCheckpoint(dir),
      ErrorCodes.CHECKSUM,
      /no valid checkpoint: checkpoint ckpt-000002 is unusable: meta\.json is not valid JSON.*ckpt-000001 is unusable: optimizer\.bin has 100 bytes/,
    );
  });

  it('leftovers of interrupted writes (a .tmp dir, a ckpt dir without meta.json) are ignored, then cleaned by the next write', async () => {
    const dir = freshDir();
    const one = (await stateAt(1)).state;
    await writeCheckpoint(dir, one);
    const tmpDir = join(dir, '.tmp-ckpt-000002-1a2b3c4d');
    mkdirSync(tmpDir);
    writeFileSync(join(tmpDir, 'weights.bin'), new Uint8Array(100));
    mkdirSync(join(dir, 'ckpt-000003'));
    writeFileSync(join(dir, 'ckpt-000003', 'model.json'), '{"modelTopology":');
    const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
    expect(checkpoint!.name).toBe('ckpt-000001');
    expectSameBits(checkpoint!.weights, one.weights);
    expect(warnings).toEqual([expect.stringMatching(/ckpt-000003 is unusable: no meta\.json \(an interrupted write\?\)/)]);
    await writeCheckpoint(dir, (await stateAt(2)).state);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000001', 'ckpt-000002']);
  });

  it('a crash between the two renames of a same-step swap: the moved-aside checkpoint is still found, then put back', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1)).state);
    const two = (await stateAt(2)).state;
    await writeCheckpoint(dir, two);
    renameSync(join(dir, 'ckpt-000002'), join(dir, '.old-ckpt-000002-deadbeef'));
    const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
    expect(warnings).toEqual([]);
    expect(checkpoint!.name).toBe('ckpt-000002');
    expectSameBits(checkpoint!.weights, two.weights);
    await writeCheckpoint(dir, (await stateAt(3)).state);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-000002', 'ckpt-000003']);
  });

  it.each(['weights.bin', 'meta.json'])(
    'a process killed after writing %s leaves the previous checkpoint intact and unpublished debris only',
    async (killAfter) => {
      const dir = freshDir();
      const one = (await stateAt(1)).state;
      await writeCheckpoint(dir, one);
      const fixture = new URL('./fixtures/checkpoint-killed.mjs', import.meta.url).pathname;
      const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
        const child = spawn(process.execPath, [fixture, dir, '2', killAfter], { stdio: ['ignore', 'ignore', 'inherit'] });
        child.on('error', reject);
        child.on('exit', (_code, sig) => resolve(sig));
      });
      expect(signal).toBe('SIGKILL');
      const names = readdirSync(dir).sort();
      expect(names).toHaveLength(2);
      expect(names[0]).toMatch(/^\.tmp-ckpt-000002-/);
      expect(names[1]).toBe('ckpt-000001');
      const { checkpoint, warnings } = await loadLatestCheckpoint(dir);
      expect(warnings).toEqual([]);
      expect(checkpoint!.name).toBe('ckpt-000001');
      expectSameBits(checkpoint!.weights, one.weights);
      await writeCheckpoint(dir, (await stateAt(2)).state);
      expect(readdirSync(dir).sort()).toEqual(['ckpt-000001', 'ckpt-000002']);
    },
  );
});

describe('refusals', () => {
  it('a checkpoint of another model: the weight and both shapes named', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1, { hidden: 32 })).state);
    const { spec } = await stateAt(1, { hidden: 16 });
    await rejectsWith(
      loadLatestCheckpoint(dir, { weights: spec.weights }),
      ErrorCodes.INVALID_OPTION,
      /checkpoint ckpt-000001 was made for weight dense_Dense\d+\/kernel of shape 784x32, this model has 784x16/,
    );
  });

  it('a checkpoint of the same shapes but another layer config: the layer and key named', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1)).state);
    const other = tf.sequential({
      layers: [tf.layers.dense({ units: 16, activation: 'tanh', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
    });
    other.compile({ loss: 'categoricalCrossentropy', optimizer: 'adam', metrics: ['accuracy'] });
    const spec = modelSpecOf(other);
    await loadLatestCheckpoint(dir, { weights: spec.weights });
    await rejectsWith(
      loadLatestCheckpoint(dir, { weights: spec.weights, topology: spec.topology }),
      ErrorCodes.INVALID_OPTION,
      /was made for a model whose layer 0 \(Dense\) has activation "relu", this model has "tanh"/,
    );
  });

  it('a checkpoint of another data shape: what differs named', async () => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1)).state);
    await rejectsWith(
      loadLatestCheckpoint(dir, { dataShape: { inputShape: [196] } }),
      ErrorCodes.INVALID_OPTION,
      /was made for data of input shape 784, this data has 196/,
    );
    await rejectsWith(
      loadLatestCheckpoint(dir, { dataShape: { classes: 26 } }),
      ErrorCodes.INVALID_OPTION,
      /was made for data with 10 classes, this data has 26/,
    );
    await rejectsWith(
      loadLatestCheckpoint(dir, { dataShape: { trainCount: 60000 } }),
      ErrorCodes.INVALID_OPTION,
      /was made for a training set of 1000 samples, this one has 60000/,
    );
  });

  it('a directory holding something else: refused by name, nothing written or removed', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'foo.txt'), 'mine');
    const message = /checkpoint directory .*: is not a threadfit checkpoint directory: found foo\.txt/;
    await rejectsWith(writeCheckpoint(dir, (await stateAt(1)).state), ErrorCodes.INVALID_OPTION, message);
    await rejectsWith(loadLatestCheckpoint(dir), ErrorCodes.INVALID_OPTION, message);
    await rejectsWith(
      checkCheckpointDir(dir, '--checkpoint-dir'),
      ErrorCodes.INVALID_OPTION,
      /--checkpoint-dir .*: is not a threadfit checkpoint directory: found foo\.txt/,
    );
    expect(readdirSync(dir)).toEqual(['foo.txt']);
    expect(readFileSync(join(dir, 'foo.txt'), 'utf8')).toBe('mine');
  });

  it('one checkpoint given as the root: refused with a hint', async () => {
    const dir = freshDir();
    const e = await writeCheckpoint(dir, (await stateAt(1)).state);
    await rejectsWith(
      checkCheckpointDir(e.path),
      ErrorCodes.INVALID_OPTION,
      /found meta\.json \(this looks like ONE checkpoint; give the directory that holds the ckpt-\* directories\)/,
    );
  });

  it('checkCheckpointDir: a missing dir under a writable parent and an empty dir are fine, and nothing is created', async () => {
    const missing = join(freshDir(), 'a', 'b');
    await checkCheckpointDir(missing);
    expect(existsSync(missing)).toBe(false);
    const empty = freshDir();
    mkdirSync(empty);
    await checkCheckpointDir(empty);
    expect(readdirSync(empty)).toEqual([]);
  });

  it('checkCheckpointDir: a file, a path under a file', async () => {
    const file = join(tmp.dir, 'a-file');
    writeFileSync(file, 'x');
    await rejectsWith(checkCheckpointDir(file, '--checkpoint-dir'), ErrorCodes.INVALID_OPTION, /--checkpoint-dir .*a-file: is not a directory/);
    await rejectsWith(
      checkCheckpointDir(join(file, 'ckpts'), '--checkpoint-dir'),
      ErrorCodes.INVALID_OPTION,
      /--checkpoint-dir .*a-file\/ckpts: cannot be created, .*a-file is not a directory/,
    );
  });

  // Root ignores permission bits: as root, the check runs in a child process as user nobody (setpriv).
  const asRoot = process.getuid?.() === 0;
  it.skipIf(asRoot && !existsSync('/usr/bin/setpriv'))('checkCheckpointDir: an unwritable dir, and a dir to create under one', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    chmodSync(tmp.dir, 0o755);
    chmodSync(dir, 0o555);
    const script = `import { checkCheckpointDir } from ${JSON.stringify(new URL('../packages/coordinator/dist/checkpoint/store.js', import.meta.url).pathname)};
      for (const d of process.argv.slice(1)) await checkCheckpointDir(d, '--checkpoint-dir').then(() => console.log('accepted'), (e) => console.log(e.code, e.message));`;
    const args = ['--input-type=module', '-e', script, dir, join(dir, 'sub')];
    const out = await new Promise<string>((resolve, reject) => {
      const child = asRoot
        ? spawn('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args])
        : spawn(process.execPath, args);
      let text = '';
      child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    chmodSync(dir, 0o755);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^ERR_THREADFIT_INVALID_OPTION --checkpoint-dir .*: is not writable: EACCES$/);
    expect(lines[1]).toMatch(/^ERR_THREADFIT_INVALID_OPTION --checkpoint-dir .*\/sub: cannot be created \(.* is not writable\): EACCES$/);
  });

  it.each([
    ['a NaN weight', (s: CheckpointState) => (s.weights[2][5] = NaN), /not checkpointing step 2: weight dense_Dense\d+\/kernel holds NaN at index 5/],
    [
      'an infinite v',
      (s: CheckpointState) => (s.optimizer.slots[1].values[1][3] = -Infinity),
      /not checkpointing step 2: optimizer state dense_Dense\d+\/bias\/v holds -Infinity at index 3/,
    ],
  ])('%s is never checkpointed: ERR_THREADFIT_NON_FINITE, the previous checkpoint untouched', async (_what, spoil, message) => {
    const dir = freshDir();
    await writeCheckpoint(dir, (await stateAt(1)).state);
    const { state } = await stateAt(2);
    spoil(state);
    await rejectsWith(writeCheckpoint(dir, state), ErrorCodes.NON_FINITE, message);
    expect(readdirSync(dir)).toEqual(['ckpt-000001']);
  });
});

describe('tfjs reads the checkpoint', () => {
  it('tf.loadLayersModel(checkpointIOHandler(dir)): weights, compile config and optimizer state', async () => {
    const dir = freshDir();
    const { state } = await stateAt(5);
    const { path } = await writeCheckpoint(dir, state);
    const before = tf.memory().numTensors;
    const model = await tf.loadLayersModel(checkpointIOHandler(join(path, 'model.json')));
    expectSameBits(
      model.getWeights().map((w) => w.dataSync() as Float32Array),
      state.weights,
    );
    expect(model.loss).toBe('categoricalCrossentropy');
    const opt = model.optimizer as tf.AdamOptimizer;
    expect(opt.getClassName()).toBe('Adam');
    expect(opt.getConfig()).toEqual(state.optimizer.config);
    expect(opt.iterations).toBe(5);
    const saved = await opt.getWeights();
    const names = state.weightSpecs.map((w) => w.name);
    expect(saved.map((w) => w.name)).toEqual(['iter', ...names.map((n) => `${n}/m`), ...names.map((n) => `${n}/v`)]);
    expectSameBits(
      saved.slice(1).map((w) => w.tensor.dataSync() as Float32Array),
      [...state.optimizer.slots[0].values, ...state.optimizer.slots[1].values],
    );
    model.dispose();
    opt.dispose();
    tf.dispose(saved.map((w) => w.tensor));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tf.io.fromMemory with the files read by hand gives the same model', async () => {
    const dir = freshDir();
    const { state } = await stateAt(5);
    const { path } = await writeCheckpoint(dir, state);
    const json = JSON.parse(readFileSync(join(path, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(path, p)))));
    const handler = tf.io.fromMemory({
      modelTopology: json.modelTopology,
      trainingConfig: json.trainingConfig,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    });
    const model = await tf.loadLayersModel(handler);
    expectSameBits(
      model.getWeights().map((w) => w.dataSync() as Float32Array),
      state.weights,
    );
    model.dispose();
  });

  it('a corrupt file is refused by the handler', async () => {
    const dir = freshDir();
    const { path } = await writeCheckpoint(dir, (await stateAt(5)).state);
    const file = join(path, 'optimizer.bin');
    const bytes = readFileSync(file);
    bytes[10] ^= 1;
    writeFileSync(file, bytes);
    await rejectsWith(tf.loadLayersModel(checkpointIOHandler(path)), ErrorCodes.CHECKSUM, /optimizer\.bin checksum mismatch/);
  });
});

describe('resume on a real Trainer', () => {
  const trainers: Trainer[] = [];
  afterEach(async () => {
    await Promise.all(trainers.splice(0).map((t) => t.close()));
  });

  it('3 steps, checkpoint, restore into a new Trainer: the next 2 steps give the same bits as an uninterrupted run', async () => {
    const data = join(tmp.dir, 'data');
    mkdirSync(data);
    writeSyntheticIdxSet(data, { train: 640, test: 64 });
    const shared = shareImageDataset(loadImageDataset(data));
    const model = buildSeedModel(tf, { seed: 9, hidden: 32 });
    const spec = modelSpecOf(model);
    const weightSpecs = checkpointWeightSpecs(model);
    const init = model.getWeights().map((w) => w.dataSync() as Float32Array);
    model.dispose();
    const make = async (initialWeights: Float32Array[]) => {
      const t = await Trainer.create({ workers: 2, backend: 'wasm', model: spec, initialWeights, dataset: shared, maxBatch: 128, optimizer: ADAM_DEFAULTS });
      trainers.push(t);
      return t;
    };
    const order = epochPermutation(shared.trainCount, 9, 0);
    const batch = (s: number) => order.subarray(s * 128, (s + 1) * 128);

    const a = await make(init);
    for (let s = 0; s < 3; s++) await a.trainStep(batch(s));
    const dir = freshDir();
    await writeCheckpoint(dir, {
      modelTopology: spec.topology,
      loss: spec.loss,
      metrics: spec.metrics,
      weightSpecs,
      weights: a.committedWeights(),
      optimizer: { kind: 'adam', config: { ...ADAM_DEFAULTS }, step: a.step, slots: readOptimizerSlots(a.views, spec, ['m', 'v']) },
      epoch: 0,
      stepInEpoch: 3,
      globalStep: 3,
      rng: { seed: 9 },
      config: {},
      dataShape: { inputShape: [784], classes: 10, trainCount: shared.trainCount },
    });
    for (let s = 3; s < 5; s++) await a.trainStep(batch(s));

    const { checkpoint } = await loadLatestCheckpoint(dir, { weights: spec.weights, topology: spec.topology, dataShape: { trainCount: shared.trainCount } });
    const b = await make(checkpoint!.weights);
    restoreOptimizerState(b.views, spec, checkpoint!.optimizer, ['m', 'v']);
    expect(b.step).toBe(3);
    for (let s = 3; s < 5; s++) await b.trainStep(batch(s));
    expect(b.step).toBe(5);
    expectSameBits(b.committedWeights(), a.committedWeights());
    // The run moved the weights after the checkpoint (equal bits are not a no-op's).
    expect(Buffer.from(b.committedWeights()[0].buffer).equals(Buffer.from(checkpoint!.weights[0].buffer))).toBe(false);
  });
});
