/**
 * parallelFit's data: the user's x and y (tensors, arrays of tensors, or typed arrays with a shape)
 * copied ONCE into one SharedArrayBuffer as float32, split into 'train' and optionally 'val'.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { datasetLayout, tensorView, ErrorCodes, ThreadfitError, type SplitLayout, type SplitSpec } from '@threadfit/shared';
import type { SharedDataset } from '../data/dataset.js';

/** A typed array with its shape, first dimension = samples. */
export interface ShapedArray {
  values: Float32Array | Int32Array | Uint8Array | number[];
  shape: number[];
}
export type TensorLike = tfTypes.Tensor | ShapedArray;
export type TensorInput = TensorLike | TensorLike[];

export interface Column {
  values: ArrayLike<number>;
  /** Shape of one sample. */
  sample: number[];
  count: number;
}

export function isTensor(t: unknown): t is tfTypes.Tensor {
  return typeof t === 'object' && t !== null && typeof (t as tfTypes.Tensor).dataSync === 'function' && Array.isArray((t as tfTypes.Tensor).shape);
}

function column(t: TensorLike, what: string): Column {
  if (isTensor(t)) {
    if (t.isDisposed) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what} is a disposed tensor`);
    if (t.rank < 1) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what} must have a batch dimension, got a scalar`);
    if (t.dtype === 'string' || t.dtype === 'complex64')
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what} has dtype ${t.dtype}; numeric tensors only`);
    return { values: t.dataSync() as Float32Array, sample: t.shape.slice(1), count: t.shape[0] };
  }
  if (typeof t === 'object' && t !== null && 'values' in t && 'shape' in t && Array.isArray(t.shape)) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length < 1 || t.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what}.shape must be non-negative integers with a batch dimension, got [${t.shape.join(', ')}]`);
    }
    if (t.values.length !== size) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what}.values has ${t.values.length} elements but shape [${t.shape.join(', ')}] needs ${size}`);
    }
    return { values: t.values, sample: t.shape.slice(1), count: t.shape[0] };
  }
  throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what} must be a tf.Tensor, an array of them, or { values, shape }`);
}

export function columns(input: TensorInput, what: string, expected: number): Column[] {
  const list = Array.isArray(input) ? input : [input];
  if (list.length !== expected) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${what} must hold ${expected} array${expected === 1 ? '' : 's'} (the model has ${expected} ${what === 'x' ? 'inputs' : 'outputs'}), got ${list.length}`,
    );
  }
  return list.map((t, i) => column(t, list.length > 1 ? `${what}[${i}]` : what));
}

export function checkFinite(cols: Column[], what: string): void {
  cols.forEach((c, k) => {
    for (let i = 0; i < c.values.length; i++) {
      if (!Number.isFinite(c.values[i])) {
        const per = c.values.length / Math.max(c.count, 1);
        throw new ThreadfitError(
          ErrorCodes.BAD_DATA,
          `${what}${cols.length > 1 ? `[${k}]` : ''} holds ${c.values[i]} at sample ${Math.floor(i / per)} (element ${i})`,
        );
      }
    }
  });
}

export interface TensorData {
  x: Column[];
  y: Column[];
}

/** The split spec of columns: float32, each column's sample shape. */
export function splitSpecOf(d: TensorData, count: number): SplitSpec {
  return {
    count,
    inputs: d.x.map((c) => ({ dtype: 'float32' as const, shape: c.sample })),
    targets: d.y.map((c) => ({ dtype: 'float32' as const, shape: c.sample })),
  };
}

/** Copies rows [start, end) of `d` into split `s` of `buffer`, from its row 0. */
export function fillSplit(buffer: SharedArrayBuffer, s: SplitLayout, d: TensorData, start: number, end: number): void {
  [...d.x, ...d.y].forEach((c, i) => {
    const region = i < d.x.length ? s.inputs[i] : s.targets[i - d.x.length];
    const per = region.sampleSize;
    const dst = tensorView(buffer, region);
    const src = c.values;
    if (ArrayBuffer.isView(src)) dst.set((src as Float32Array).subarray(start * per, end * per));
    else for (let k = start * per; k < end * per; k++) dst[k - start * per] = src[k];
  });
}

/** Copies train (rows [start, end) of `train`) and optional validation data into shared memory. */
export function shareTensorData(
  train: TensorData,
  range: { start: number; end: number },
  val?: { data: TensorData; start: number; end: number },
): SharedDataset {
  const splits: Record<string, SplitSpec> = { train: splitSpecOf(train, range.end - range.start) };
  if (val) splits.val = splitSpecOf(val.data, val.end - val.start);
  const layout = datasetLayout(splits);
  const buffer = new SharedArrayBuffer(layout.bytes);
  fillSplit(buffer, layout.splits.train, train, range.start, range.end);
  if (val) fillSplit(buffer, layout.splits.val, val.data, val.start, val.end);
  return { buffer, layout, decode: { inputScale: 1, oneHot: 0 }, trainCount: range.end - range.start, testCount: val ? val.end - val.start : 0 };
}

const shapeText = (shape: ReadonlyArray<number | null>): string => `[${shape.map((d) => (d === null ? 'null' : d)).join(', ')}]`;

/**
 * Refuses x or y whose sample shape does not fit the model's inputs or outputs (`shapes`, with
 * the batch dimension; null matches any size), before any thread starts: inside the workers the
 * mismatch would surface as a tfjs broadcast error naming neither. `losses` (one per output)
 * lets a sparse categorical loss take class ids ([N] or [N, 1]).
 */
export function checkShapes(
  cols: Column[],
  what: string,
  model: { role: 'input' | 'output'; names: string[]; shapes: Array<ReadonlyArray<number | null>>; losses?: string[] },
): void {
  const { role } = model;
  cols.forEach((c, i) => {
    const name = cols.length > 1 ? `${what}[${i}]` : what;
    const full = model.shapes[i];
    const want = full.slice(1);
    const loss = role === 'output' ? (model.losses?.[i] ?? model.losses?.[0]) : undefined;
    const sparse = loss === 'sparseCategoricalCrossentropy';
    const fits = sparse
      ? c.sample.length === 0 || (c.sample.length === 1 && c.sample[0] === 1)
      : c.sample.length === want.length && c.sample.every((d, k) => want[k] === null || want[k] === d);
    if (fits) return;
    const expected = sparse ? `class ids: [${c.count}] or [${c.count}, 1] (loss ${loss})` : shapeText([c.count, ...want]);
    const classIds =
      !sparse && role === 'output' && (c.sample.length === 0 || (c.sample.length === 1 && c.sample[0] === 1)) && want.length === 1 && (want[0] ?? 0) > 1;
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${name} has shape ${shapeText([c.count, ...c.sample])} but the model's ${role} ${model.names[i]} has shape ${shapeText(full)}: expected ${expected}${
        classIds ? `; for class ids, one-hot encode them (tf.oneHot(${name}, ${want[0]})) or compile with loss 'sparseCategoricalCrossentropy'` : ''
      }`,
    );
  });
}
