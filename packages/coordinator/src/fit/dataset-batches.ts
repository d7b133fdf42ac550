/**
 * A tf.data.Dataset's batches, streamed through a ring of batch slots in shared memory
 * (layout.ts's batchRingLayout). The coordinator pulls batches from the dataset's iterator on
 * the main thread while the workers run the steps before them: each batch is checked, copied
 * into the next free slot and disposed, and a step gathers its slot's rows. A slot is free again
 * once the step that read it is committed, so a step rerun after a fault reads the same batch,
 * and the data in memory is bounded by the ring whatever the dataset's length.
 *
 * The iterator follows tfjs's fitDataset exactly (so that a deterministic dataset, such as a
 * seeded tf.data shuffle, yields the same batches in the same order as model.fitDataset): one
 * iterator() before the first epoch, a new one per epoch unless batchesPerEpoch is given (then
 * the one iterator runs on across epochs).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, ringSlotStart, tensorView, type BatchRingLayout, type SplitLayout } from '@threadfit/shared';
import type { BatchSource } from './batch-source.js';
import { isTensor } from './tensor-dataset.js';

/** What parallelFitDataset reads: a tf.data.Dataset, or anything with its iterator(). */
export interface DatasetLike {
  iterator(): Promise<{ next(): Promise<IteratorResult<unknown>> }>;
  readonly size?: number | null;
}

export const isDatasetLike = (v: unknown): v is DatasetLike => typeof v === 'object' && v !== null && typeof (v as DatasetLike).iterator === 'function';

/** A batch of the dataset with the model's inputs and outputs in order. */
export interface BatchTensors {
  xs: tfTypes.Tensor[];
  ys: tfTypes.Tensor[];
  size: number;
}

export interface ModelIo {
  inputNames: string[];
  outputNames: string[];
  /** The rank of each model input, batch dimension included (a sample one rank short means an unbatched dataset). */
  inputRanks?: number[];
}

const bad = (message: string) => new ThreadfitError(ErrorCodes.BAD_DATA, message);
const dims = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** A dataset element's part (xs or ys) as a list of tensors in the model's order. */
function flatten(part: unknown, names: string[], role: 'input' | 'output', where: string): tfTypes.Tensor[] {
  const key = role === 'input' ? 'xs' : 'ys';
  if (isTensor(part)) return [part];
  if (Array.isArray(part)) {
    if (part.length !== names.length)
      throw bad(`${where}: ${key} is an array of ${part.length} tensors, but the model has ${names.length} ${role}s (${names.join(', ')})`);
    part.forEach((t, i) => {
      if (!isTensor(t)) throw bad(`${where}: ${key}[${i}] is not a tf.Tensor`);
    });
    return part as tfTypes.Tensor[];
  }
  if (typeof part === 'object' && part !== null) {
    return names.map((name) => {
      const t = (part as Record<string, unknown>)[name];
      if (t === undefined) throw bad(`${where}: ${key} lacks the model's ${role} '${name}' (its keys: ${Object.keys(part).join(', ')})`);
      if (!isTensor(t)) throw bad(`${where}: ${key}.${name} is not a tf.Tensor`);
      return t;
    });
  }
  throw bad(`${where}: ${key} is ${String(part)}, not a tf.Tensor, an array of them or an object of them by ${role} name`);
}

const describe = (v: unknown): string =>
  v === null || typeof v !== 'object'
    ? String(v)
    : isTensor(v)
      ? `a tensor of shape ${dims(v.shape)}`
      : `an object with keys ${Object.keys(v).join(', ') || '(none)'}`;

/**
 * A dataset element as the model's input and output tensors (fitDataset's {xs, ys}, or [xs, ys]),
 * all with the same batch size. `where` names the batch in messages.
 */
export function batchTensors(value: unknown, io: ModelIo, where: string): BatchTensors {
  let xs: unknown;
  let ys: unknown;
  if (Array.isArray(value) && value.length === 2) [xs, ys] = value as unknown[];
  else if (typeof value === 'object' && value !== null && 'xs' in value && 'ys' in value) ({ xs, ys } = value as { xs: unknown; ys: unknown });
  else throw bad(`${where} is ${describe(value)}; a dataset for parallelFitDataset yields {xs, ys} (or [xs, ys]) batches, as for model.fitDataset`);
  const out = { xs: flatten(xs, io.inputNames, 'input', where), ys: flatten(ys, io.outputNames, 'output', where), size: 0 };
  const all = [...out.xs, ...out.ys];
  if (io.inputRanks !== undefined && out.xs[0].rank === io.inputRanks[0] - 1) {
    throw bad(`${where}: xs has shape ${dims(out.xs[0].shape)}, one sample of the model's input ${io.inputNames[0]}: batch the dataset (dataset.batch(n))`);
  }
  const size = all[0].rank >= 1 ? all[0].shape[0] : 0;
  all.forEach((t, i) => {
    const name = i < out.xs.length ? `input ${io.inputNames[i]}` : `output ${io.outputNames[i - out.xs.length]}`;
    if (t.isDisposed) throw bad(`${where}: the tensor for ${name} is disposed`);
    if (t.dtype === 'string' || t.dtype === 'complex64') throw bad(`${where}: the tensor for ${name} has dtype ${t.dtype}; numeric tensors only`);
    if (t.rank < 1 || t.shape[0] !== size)
      throw bad(`${where}: the tensor for ${name} has shape ${dims(t.shape)}, but the batch has ${size} samples (from its first tensor)`);
  });
  if (size < 1) throw bad(`${where} is empty (0 samples)`);
  out.size = size;
  return out;
}

/**
 * Writes a batch into a split of the shared data set at row `row`: its sample shapes must be the
 * split's (the first batch's), its values finite when `finite` is set. Disposes nothing.
 */
export function writeBatch(buffer: SharedArrayBuffer, split: SplitLayout, row: number, b: BatchTensors, where: string, finite: boolean): void {
  const regions = [...split.inputs, ...split.targets];
  [...b.xs, ...b.ys].forEach((t, i) => {
    const r = regions[i];
    const sample = t.shape.slice(1);
    if (sample.length !== r.shape.length || sample.some((d, k) => d !== r.shape[k])) {
      const role =
        i < split.inputs.length ? `xs${split.inputs.length > 1 ? `[${i}]` : ''}` : `ys${split.targets.length > 1 ? `[${i - split.inputs.length}]` : ''}`;
      throw bad(
        `${where}: ${role} has samples of shape ${dims(sample)}, but the first batch's were ${dims(r.shape)}; every batch must have the same sample shapes`,
      );
    }
    const values = t.dataSync() as Float32Array | Int32Array | Uint8Array;
    if (finite) {
      for (let k = 0; k < values.length; k++) {
        if (!Number.isFinite(values[k])) {
          throw bad(
            `${where}: ${i < split.inputs.length ? 'xs' : 'ys'} holds ${values[k]} at sample ${Math.floor(k / r.sampleSize)} of the batch (checkNumerics)`,
          );
        }
      }
    }
    tensorView(buffer, r)
      .subarray(row * r.sampleSize, (row + b.size) * r.sampleSize)
      .set(values);
  });
}

export interface DatasetBatchesOptions {
  dataset: DatasetLike;
  io: ModelIo;
  buffer: SharedArrayBuffer;
  ring: BatchRingLayout;
  /** The iterator made before the first epoch (tfjs makes it too) and the batch already read from it to size the ring. */
  iterator: { next(): Promise<IteratorResult<unknown>> };
  peeked: BatchTensors;
  batchesPerEpoch?: number;
  checkNumerics: boolean;
  /** Checks a batch's targets (classWeight: every class weighted); throws naming `where`. */
  checkTargets?(b: BatchTensors, where: string): void;
}

interface Ready {
  slot: number;
  size: number;
}

/** The BatchSource of parallelFitDataset: a ring of K slots, up to K/2 batches in flight, the rest fetched ahead. */
export class DatasetBatches implements BatchSource {
  readonly #o: DatasetBatchesOptions;
  #iterator: { next(): Promise<IteratorResult<unknown>> };
  /** The peeked first batch, not yet used (with batchesPerEpoch it is the first batch trained). */
  #peeked: BatchTensors | undefined;
  readonly #rows: Int32Array[];
  #free: number[];
  #inFlight: number[] = [];
  #ready: Ready[] = [];
  #epoch = 0;
  /** Batches read in this epoch (skipped ones included): the next one's index. */
  #read = 0;
  #ended = false;
  #error: Error | undefined;
  #pumping = false;
  #closed = false;
  #changed: (() => void) | undefined;
  waitMs = 0;
  exhausted = false;

  constructor(o: DatasetBatchesOptions) {
    this.#o = o;
    this.#iterator = o.iterator;
    this.#peeked = o.batchesPerEpoch !== undefined ? o.peeked : undefined;
    if (this.#peeked === undefined) dispose(o.peeked);
    const { slots, slotRows } = o.ring;
    this.#rows = Array.from({ length: slots }, (_, s) => Int32Array.from({ length: slotRows }, (_, i) => ringSlotStart(o.ring, s) + i));
    this.#free = Array.from({ length: slots }, (_, s) => s);
  }

  /** Known ahead only with batchesPerEpoch: otherwise an epoch ends when the iterator is done (as fitDataset). */
  get stepsPerEpoch(): number | undefined {
    return this.#o.batchesPerEpoch;
  }

  /** The most batches one take hands out: half the ring, the other half fills meanwhile. */
  get maxInFlight(): number {
    return Math.max(1, Math.floor(this.#o.ring.slots / 2));
  }

  /**
   * A resumed run: draws what the run before the checkpoint drew, so that a deterministic dataset
   * continues with the same batches. Without batchesPerEpoch, one iterator() per epoch done
   * (their batches are not read: an epoch's order is fixed when its iterator is made); with it,
   * the batches of the epochs done are read and dropped. The resumed epoch's own first batches
   * are skipped by beginEpoch.
   */
  async fastForward(fromEpoch: number, toEpoch: number): Promise<void> {
    for (let e = fromEpoch; e < toEpoch; e++) {
      if (this.#o.batchesPerEpoch === undefined) this.#iterator = await this.#newIterator(e);
      else await this.#skip(this.#o.batchesPerEpoch, e);
    }
  }

  async beginEpoch(epoch: number, skip: number): Promise<void> {
    this.#epoch = epoch;
    this.#read = 0;
    this.#ended = false;
    this.exhausted = false;
    this.#free.push(...this.#inFlight, ...this.#ready.map((r) => r.slot));
    this.#inFlight = [];
    this.#ready = [];
    if (this.#o.batchesPerEpoch === undefined) this.#iterator = await this.#newIterator(epoch);
    await this.#skip(skip, epoch);
    this.#pump();
  }

  async take(max: number): Promise<Int32Array[]> {
    // The batches of the last take are committed: their slots take the next batches.
    this.#free.push(...this.#inFlight);
    this.#inFlight = [];
    this.#pump();
    const t0 = performance.now();
    while (this.#ready.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => (this.#changed = resolve));
      this.#pump();
    }
    this.waitMs = performance.now() - t0;
    if (this.#ready.length === 0 && this.#error !== undefined) throw this.#error;
    const out: Ready[] = [];
    const most = Math.min(max, this.maxInFlight);
    while (out.length < most && this.#ready.length > 0 && (out.length === 0 || this.#ready[0].size === out[0].size)) out.push(this.#ready.shift()!);
    this.#inFlight = out.map((r) => r.slot);
    return out.map((r) => this.#rows[r.slot].subarray(0, r.size));
  }

  /** Stops reading (a finished or failed run); a read in progress is dropped when it arrives. */
  close(): void {
    this.#closed = true;
    if (this.#peeked !== undefined) dispose(this.#peeked);
    this.#peeked = undefined;
    this.#changed?.();
  }

  #where(index = this.#read): string {
    return `batch ${index} of epoch ${this.#epoch + 1} of the dataset`;
  }

  async #newIterator(epoch: number): Promise<{ next(): Promise<IteratorResult<unknown>> }> {
    try {
      return await this.#o.dataset.iterator();
    } catch (err) {
      throw iteratorFailed(`the dataset's iterator() threw before epoch ${epoch + 1}`, err);
    }
  }

  /** The next element of the iterator (the peeked batch first), or done. */
  async #next(): Promise<IteratorResult<unknown> | { done: false; value: BatchTensors; peeked: true }> {
    if (this.#peeked !== undefined) {
      const value = this.#peeked;
      this.#peeked = undefined;
      return { done: false, value, peeked: true };
    }
    try {
      return await this.#iterator.next();
    } catch (err) {
      throw iteratorFailed(`the dataset's iterator threw at ${this.#where()}`, err);
    }
  }

  async #skip(n: number, epoch: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await this.#next();
      if (r.done) {
        throw bad(
          `resuming: the dataset ran out after ${i} of the ${n} batches of epoch ${epoch + 1} trained before the checkpoint; it is not the dataset of that run`,
        );
      }
      disposeElement(r.value);
      this.#read++;
    }
  }

  /** Reads batches into free slots while there are any, until the epoch's end or an error. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    void (async () => {
      const bpe = this.#o.batchesPerEpoch;
      while (!this.#ended && this.#error === undefined && this.#free.length > 0 && !this.#closed) {
        if (bpe !== undefined && this.#read >= bpe) {
          this.#ended = true;
          break;
        }
        const where = this.#where();
        try {
          const r = await this.#next();
          if (this.#closed) {
            if (!r.done) disposeElement(r.value);
            break;
          }
          if (r.done) {
            if (bpe !== undefined) {
              this.exhausted = true;
              console.warn(
                `parallelFitDataset: batchesPerEpoch is ${bpe}, but the dataset ran out after ${this.#read} batches of epoch ${this.#epoch + 1}; ` +
                  `training stops after this epoch. Make sure the dataset yields batchesPerEpoch x epochs batches (dataset.repeat()).`,
              );
            }
            this.#ended = true;
            break;
          }
          let b: BatchTensors;
          try {
            b = 'peeked' in r ? r.value : batchTensors(r.value, this.#o.io, where);
          } catch (err) {
            disposeElement(r.value);
            throw err;
          }
          try {
            if (b.size > this.#o.ring.slotRows) {
              throw bad(
                `${where} has ${b.size} samples, more than the ${this.#o.ring.slotRows} the batch slots hold (the first batch's size, or options.maxBatchSize): pass a larger options.maxBatchSize`,
              );
            }
            this.#o.checkTargets?.(b, where);
            const slot = this.#free.shift()!;
            writeBatch(this.#o.buffer, this.#o.ring.splits.train, ringSlotStart(this.#o.ring, slot), b, where, this.#o.checkNumerics);
            this.#ready.push({ slot, size: b.size });
            this.#read++;
          } finally {
            dispose(b);
          }
        } catch (err) {
          this.#error = err as Error;
        }
        this.#changed?.();
      }
      this.#pumping = false;
      this.#changed?.();
    })();
  }
}

function dispose(b: BatchTensors): void {
  for (const t of [...b.xs, ...b.ys]) t.dispose();
}

/** Disposes the tensors of an element that was not read (skipped on resume). */
function disposeElement(value: unknown): void {
  const visit = (v: unknown, depth: number): void => {
    if (isTensor(v)) v.dispose();
    else if (depth < 3 && typeof v === 'object' && v !== null) for (const x of Object.values(v)) visit(x, depth + 1);
  };
  visit(value, 0);
}

function iteratorFailed(what: string, err: unknown): ThreadfitError {
  if (err instanceof ThreadfitError) return err;
  return new ThreadfitError(ErrorCodes.BAD_DATA, `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
