/**
 * One checkpoint directory on disk: what it holds, how it is written and how it is verified.
 * (checkpoint.ts manages the root: atomic commit, listing, pruning, fallback, compatibility.)
 *
 *   ckpt-000469/
 *     model.json     tfjs's format: modelTopology, trainingConfig, weightsManifest
 *                      group 1: weights.bin   (model weights, float32, model.getWeights() order)
 *                      group 2: optimizer.bin ("optimizer" group: iter, then every ${w}/m, then every ${w}/v,
 *                                              tfjs Adam's getWeights() order, so tfjs restores it)
 *     weights.bin
 *     optimizer.bin
 *     meta.json      written last: epoch, steps, rng, config, data shape, optimizer kind/config/step,
 *                    the SHA-256 and size of every other file, and its own SHA-256 (metaSha256)
 *
 * Binary files are little-endian float32 (int32 for `iter`), as tfjs writes them.
 * Reading and verifying: checkpoint-read.ts.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import { VERSION } from '../version.js';

export const CHECKPOINT_FORMAT = 'threadfit-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;
export const CHECKPOINT_FILES = { model: 'model.json', weights: 'weights.bin', optimizer: 'optimizer.bin', meta: 'meta.json' } as const;

/** A checkpoint's directory name; meta.json's globalStep must agree with it (read.ts checks). */
export const checkpointName = (globalStep: number): string => `ckpt-${String(globalStep).padStart(6, '0')}`;
export const CHECKPOINT_NAME = /^ckpt-(\d+)$/;

export interface CheckpointWeightSpec {
  /** The variable's name as tfjs saves it (LayerVariable.originalName, e.g. 'dense_Dense1/kernel'). */
  name: string;
  shape: number[];
  /** Default true. Optimizer slots hold one array per trainable weight only. */
  trainable?: boolean;
}

export interface OptimizerSlot {
  /** stateSlotsOf(spec) order (Adam: 'm', 'v'); saved per weight as `${weightName}/${name}`, tfjs's names. */
  name: string;
  /** One array per trainable weight, in weightSpecs order. */
  values: Float32Array[];
}

export interface DataShape {
  /** Shape of one model input sample, e.g. [784]. */
  inputShape: number[];
  classes: number;
  trainCount: number;
}

export interface CheckpointState {
  /** model.toJSON(null, false), as ModelSpec.topology. */
  modelTopology: object;
  /** Loss and metric identifiers as given to model.compile (ModelSpec.loss, ModelSpec.metrics). */
  loss: string[];
  metrics: string[];
  weightSpecs: CheckpointWeightSpec[];
  /** In weightSpecs (= model.getWeights()) order. */
  weights: Float32Array[];
  optimizer: {
    /** OptimizerSpec.kind: 'adam', 'sgd', 'momentum', 'rmsprop', 'adagrad', 'adadelta', 'adamax'. */
    kind: string;
    /** The rest of the OptimizerSpec (= tfjs's getConfig() of that optimizer). */
    config: Record<string, unknown>;
    /** Committed optimizer steps (tfjs's `iterations`, Control.STEP). */
    step: number;
    slots: OptimizerSlot[];
  };
  /** Epochs completed. */
  epoch: number;
  /** Steps done in the current epoch (0 at an epoch boundary). */
  stepInEpoch: number;
  /** Steps done in the run (including non-finite steps that were skipped); names the directory. */
  globalStep: number;
  rng: { seed: number; [key: string]: unknown };
  config: Record<string, unknown>;
  dataShape: DataShape;
  /**
   * Which run wrote it (random per fresh run, inherited by a resume). Pruning deletes only the
   * checkpoints of the run being written; absent in checkpoints of threadfit before run ids.
   */
  runId?: string;
}

interface FileRecord {
  bytes: number;
  sha256: string;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  threadfit: string;
  createdAt: string;
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  rng: CheckpointState['rng'];
  config: Record<string, unknown>;
  dataShape: DataShape;
  /** CheckpointState.runId; absent in checkpoints written before run ids (still read). */
  runId?: string;
  /** Every weight in model.getWeights() order (also in model.json's manifest; here with `trainable`). */
  weights: Array<Required<CheckpointWeightSpec>>;
  optimizer: { kind: string; config: Record<string, unknown>; step: number; slots: string[] };
  files: Record<string, FileRecord>;
  metaSha256?: string;
}

/** tfjs's registered class names (getClassName()) of the optimizer kinds. */
const TFJS_OPTIMIZER_CLASS: Record<string, string> = {
  adam: 'Adam',
  adamax: 'Adamax',
  sgd: 'SGD',
  momentum: 'Momentum',
  rmsprop: 'RMSProp',
  adagrad: 'Adagrad',
  adadelta: 'Adadelta',
};
/** tfjs 4.22's Adamax.setWeights() throws: its state is not offered to tfjs (it stays in optimizer.bin). */
const TFJS_CANNOT_SET_WEIGHTS = new Set(['adamax']);

export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');
export const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const bytesOf = (a: Float32Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
export const trainableOf = (specs: CheckpointWeightSpec[]): CheckpointWeightSpec[] => specs.filter((w) => w.trainable !== false);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Checks the counters, that every array has its spec's size, and that it holds only finite values. */
export function checkStateFinite(state: CheckpointState): void {
  const check = (name: string, a: Float32Array, expected: number) => {
    if (a.length !== expected) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `checkpoint state: ${name} has ${a.length} values, its shape needs ${expected}`);
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) {
        throw new ThreadfitError(ErrorCodes.NON_FINITE, `not checkpointing step ${state.globalStep}: ${name} holds ${a[i]} at index ${i}`);
      }
    }
  };
  for (const [key, v] of [
    ['globalStep', state.globalStep],
    ['epoch', state.epoch],
    ['stepInEpoch', state.stepInEpoch],
    ['optimizer.step', state.optimizer.step],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `checkpoint state: ${key} must be an integer >= 0, got ${v}`);
  }
  if (state.weights.length !== state.weightSpecs.length) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `checkpoint state: ${state.weights.length} weight arrays for ${state.weightSpecs.length} weight specs`);
  }
  state.weightSpecs.forEach((w, i) => check(`weight ${w.name}`, state.weights[i], sizeOf(w.shape)));
  const trainable = trainableOf(state.weightSpecs);
  for (const slot of state.optimizer.slots) {
    if (slot.values.length !== trainable.length) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `checkpoint state: optimizer slot ${slot.name} has ${slot.values.length} arrays for ${trainable.length} trainable weights`,
      );
    }
    trainable.forEach((w, i) => check(`optimizer state ${w.name}/${slot.name}`, slot.values[i], sizeOf(w.shape)));
  }
}

/** The three data files of a checkpoint, as bytes. */
export function encodeCheckpoint(state: CheckpointState): Record<string, Uint8Array> {
  const trainable = trainableOf(state.weightSpecs);
  const optimizerClass = TFJS_OPTIMIZER_CLASS[state.optimizer.kind];
  const optimizerEntries = [
    { name: 'iter', shape: [], dtype: 'int32', group: 'optimizer' },
    ...state.optimizer.slots.flatMap((s) => trainable.map((w) => ({ name: `${w.name}/${s.name}`, shape: w.shape, dtype: 'float32', group: 'optimizer' }))),
  ];
  const modelJson = {
    format: 'layers-model',
    generatedBy: `threadfit ${VERSION}`,
    convertedBy: null,
    modelTopology: state.modelTopology,
    trainingConfig: {
      loss: state.loss.length === 1 ? state.loss[0] : state.loss,
      metrics: state.metrics,
      ...(optimizerClass ? { optimizer_config: { class_name: optimizerClass, config: state.optimizer.config } } : {}),
    },
    weightsManifest: [
      { paths: [CHECKPOINT_FILES.weights], weights: state.weightSpecs.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) },
      // The "optimizer" group: tf.loadLayersModel hands it to the compiled optimizer's setWeights().
      ...(optimizerClass && !TFJS_CANNOT_SET_WEIGHTS.has(state.optimizer.kind) ? [{ paths: [CHECKPOINT_FILES.optimizer], weights: optimizerEntries }] : []),
    ],
  };
  return {
    [CHECKPOINT_FILES.model]: new TextEncoder().encode(JSON.stringify(modelJson)),
    [CHECKPOINT_FILES.weights]: concat(state.weights.map(bytesOf)),
    [CHECKPOINT_FILES.optimizer]: concat([bytesOf(new Int32Array([state.optimizer.step])), ...state.optimizer.slots.flatMap((s) => s.values.map(bytesOf))]),
  };
}

async function writeFileSynced(file: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(file, 'wx');
  try {
    await fh.writeFile(bytes);
    // fsync before the directory rename: a rename must never publish a file whose data is not on disk.
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a complete checkpoint into the empty directory `dir` (meta.json last) and returns the
 * bytes written. `afterFile` is a fault-injection seam for tests (called after each file is on
 * disk; an error it throws fails the write as a failed write would). `files` saves re-encoding.
 */
export async function writeCheckpointFiles(
  dir: string,
  state: CheckpointState,
  afterFile?: (name: string) => void | Promise<void>,
  files: Record<string, Uint8Array> = encodeCheckpoint(state),
): Promise<number> {
  const records: Record<string, FileRecord> = {};
  for (const [name, bytes] of Object.entries(files)) {
    await writeFileSynced(join(dir, name), bytes);
    records[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
    await afterFile?.(name);
  }
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    threadfit: VERSION,
    createdAt: new Date().toISOString(),
    epoch: state.epoch,
    stepInEpoch: state.stepInEpoch,
    globalStep: state.globalStep,
    rng: state.rng,
    config: state.config,
    dataShape: state.dataShape,
    ...(state.runId !== undefined && { runId: state.runId }),
    weights: state.weightSpecs.map((w) => ({ name: w.name, shape: w.shape, trainable: w.trainable !== false })),
    optimizer: { kind: state.optimizer.kind, config: state.optimizer.config, step: state.optimizer.step, slots: state.optimizer.slots.map((s) => s.name) },
    files: records,
  };
  meta.metaSha256 = sha256(JSON.stringify(meta));
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n');
  await writeFileSynced(join(dir, CHECKPOINT_FILES.meta), metaBytes);
  await afterFile?.(CHECKPOINT_FILES.meta);
  return Object.values(files).reduce((a, b) => a + b.byteLength, metaBytes.byteLength);
}
