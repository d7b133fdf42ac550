/**
 * Reading one checkpoint directory back (format: checkpoint-format.ts): meta.json's own checksum,
 * then every file's size and SHA-256, then the arrays. Any mismatch is a CorruptCheckpointError
 * (ERR_THREADFIT_CHECKSUM) naming the checkpoint and the file, so a caller can fall back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import {
  CHECKPOINT_FILES,
  CHECKPOINT_NAME,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  checkpointName,
  sha256,
  sizeOf,
  trainableOf,
  type CheckpointMeta,
  type CheckpointState,
  type CheckpointWeightSpec,
} from './format.js';
import { VERSION } from '../version.js';

/** A corrupt or incomplete checkpoint: the reason, for warnings and errors. */
export class CorruptCheckpointError extends ThreadfitError {
  constructor(
    readonly checkpoint: string,
    readonly reason: string,
  ) {
    super(ErrorCodes.CHECKSUM, `checkpoint ${checkpoint} is unusable: ${reason}`);
  }
}

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Reads and parses meta.json, checking its own checksum and that its step agrees with the
 * directory's name (`allowRenamed`: pruning, which orders by meta.json's step, reads it anyway).
 */
export async function readCheckpointMeta(dir: string, name: string, o: { allowRenamed?: boolean } = {}): Promise<CheckpointMeta> {
  const raw = await readOrNull(join(dir, CHECKPOINT_FILES.meta));
  if (raw === null) throw new CorruptCheckpointError(name, 'no meta.json (an interrupted write?)');
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw.toString('utf8')) as CheckpointMeta;
  } catch {
    throw new CorruptCheckpointError(name, 'meta.json is not valid JSON');
  }
  if (meta?.format !== CHECKPOINT_FORMAT) throw new CorruptCheckpointError(name, `meta.json is not a ${CHECKPOINT_FORMAT} file`);
  if (meta.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new CorruptCheckpointError(name, `format version ${meta.formatVersion}; this threadfit (${VERSION}) reads version ${CHECKPOINT_FORMAT_VERSION}`);
  }
  const { metaSha256, ...rest } = meta;
  if (metaSha256 !== sha256(JSON.stringify(rest))) throw new CorruptCheckpointError(name, 'meta.json checksum mismatch');
  // The name decides the order of resume and pruning, so a renamed (or copied) directory must not
  // pass for a later state than it holds.
  const named = CHECKPOINT_NAME.exec(name);
  if (named && Number(named[1]) !== meta.globalStep && o.allowRenamed !== true) {
    throw new CorruptCheckpointError(
      name,
      `its name says step ${Number(named[1])} but its meta.json says step ${meta.globalStep} (renamed or copied?); rename it to ${checkpointName(meta.globalStep)} or remove it`,
    );
  }
  return meta;
}

function floats(bytes: Buffer, byteOffset: number, count: number): Float32Array {
  // Copy: a Buffer's offset in its pool need not be 4-byte aligned, and callers keep the arrays.
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(byteOffset, byteOffset + count * 4));
  return out;
}

/** Reads a checkpoint directory, verifying every file's size and SHA-256 against meta.json. */
export async function readCheckpointFiles(dir: string, name: string): Promise<CheckpointState> {
  const meta = await readCheckpointMeta(dir, name);
  const files: Record<string, Buffer> = {};
  for (const file of [CHECKPOINT_FILES.model, CHECKPOINT_FILES.weights, CHECKPOINT_FILES.optimizer]) {
    const bytes = await readOrNull(join(dir, file));
    const rec = meta.files[file];
    if (bytes === null) throw new CorruptCheckpointError(name, `${file} is missing`);
    if (rec === undefined) throw new CorruptCheckpointError(name, `meta.json has no checksum for ${file}`);
    if (bytes.byteLength !== rec.bytes) throw new CorruptCheckpointError(name, `${file} has ${bytes.byteLength} bytes, meta.json says ${rec.bytes}`);
    if (sha256(bytes) !== rec.sha256)
      throw new CorruptCheckpointError(name, `${file} checksum mismatch (SHA-256 ${sha256(bytes).slice(0, 12)}..., expected ${rec.sha256.slice(0, 12)}...)`);
    files[file] = bytes;
  }
  const model = JSON.parse(files[CHECKPOINT_FILES.model].toString('utf8')) as {
    modelTopology: object;
    trainingConfig: { loss: string | string[]; metrics?: string[] };
  };
  const weightSpecs: CheckpointWeightSpec[] = meta.weights;
  const weightCount = weightSpecs.reduce((a, w) => a + sizeOf(w.shape), 0);
  const slotCount = trainableOf(weightSpecs).reduce((a, w) => a + sizeOf(w.shape), 0) * meta.optimizer.slots.length;
  if (files[CHECKPOINT_FILES.weights].byteLength !== weightCount * 4 || files[CHECKPOINT_FILES.optimizer].byteLength !== 4 + slotCount * 4) {
    throw new CorruptCheckpointError(
      name,
      `the sizes of ${CHECKPOINT_FILES.weights} and ${CHECKPOINT_FILES.optimizer} do not match the weight shapes in meta.json`,
    );
  }
  let at = 0;
  const weights = weightSpecs.map((w) => {
    const a = floats(files[CHECKPOINT_FILES.weights], at, sizeOf(w.shape));
    at += a.byteLength;
    return a;
  });
  const opt = files[CHECKPOINT_FILES.optimizer];
  at = 4;
  const slots = meta.optimizer.slots.map((slotName) => ({
    name: slotName,
    values: trainableOf(weightSpecs).map((w) => {
      const a = floats(opt, at, sizeOf(w.shape));
      at += a.byteLength;
      return a;
    }),
  }));
  const { loss } = model.trainingConfig;
  return {
    modelTopology: model.modelTopology,
    loss: Array.isArray(loss) ? loss : [loss],
    metrics: model.trainingConfig.metrics ?? [],
    weightSpecs,
    weights,
    optimizer: { kind: meta.optimizer.kind, config: meta.optimizer.config, step: meta.optimizer.step, slots },
    epoch: meta.epoch,
    stepInEpoch: meta.stepInEpoch,
    globalStep: meta.globalStep,
    rng: meta.rng,
    config: meta.config,
    dataShape: meta.dataShape,
    ...(meta.runId !== undefined && { runId: meta.runId }),
  };
}
