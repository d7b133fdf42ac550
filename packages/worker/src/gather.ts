/**
 * Rows of the shared data set as a replica uses them: gathered by index into float tensors
 * (decoded as the DecodeSpec says), or targets in JavaScript for the dense fast path, and the
 * rows of a rank's next step gathered ahead while it waits at a barrier (prefetch).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import {
  Errors,
  tensorView,
  type ElementArray,
  type MicroBatch,
  type SplitLayout,
  type StateViews,
  type TensorRegion,
  type WorkerInit,
} from '@threadfit/shared/core';

type Tf = typeof tfTypes;

/**
 * A micro-batch's rows: input (and, on the tape, target) tensors; targets in JS on the fast path;
 * on the native step the input rows in JS too (`inputs`, no tensor: the graph reads them in place).
 */
export interface Gathered {
  xs: tfTypes.Tensor[];
  ys: tfTypes.Tensor[];
  targets?: Float32Array;
  inputs?: Float32Array;
}

export class RowGatherer {
  readonly #scratch = new Map<string, Float32Array>();
  /** Rows gathered ahead of their grad call (prefetch), keyed by their place in batchIndices. */
  #prefetched: (Gathered & { start: number; end: number }) | undefined;

  /**
   * @param uploadCopies whether tf.tensor copies its data (TensorIO knows): scratch reuse is safe only then.
   * @param jsTargets the fast path reads the train targets in JavaScript (no target tensors).
   * @param jsInputs the native step reads the train inputs in JavaScript too (no input tensors).
   */
  constructor(
    private readonly tf: Tf,
    private readonly init: WorkerInit,
    private readonly views: StateViews,
    private readonly uploadCopies: boolean,
    private readonly jsTargets: boolean,
    private readonly jsInputs = false,
  ) {}

  split(name: string): SplitLayout {
    const split = this.init.datasetLayout.splits[name];
    if (split === undefined) throw Errors.internal(`no data split named '${name}'`);
    return split;
  }

  /** The rows of a training micro-batch: the prefetched ones when they are these, else gathered now. */
  micro(micro: MicroBatch): Gathered {
    const ready = this.#prefetched;
    if (ready !== undefined && ready.start === micro.start && ready.end === micro.end) {
      this.#prefetched = undefined;
      return ready;
    }
    this.dropPrefetch();
    return this.#gatherMicro(micro);
  }

  /**
   * Gathers the rows of `micro` now, for the next call that has exactly this micro-batch. They do
   * not depend on the weights. A prefetch not used is freed by the next prefetch, a gather of
   * other rows, or dropPrefetch().
   */
  prefetch(micro: MicroBatch): void {
    this.dropPrefetch();
    const p = this.#gatherMicro(micro);
    // The scratch buffers are reused by the next gather: keep copies (targets [n, classes]; inputs
    // only where scratch is reused at all).
    this.#prefetched = { start: micro.start, end: micro.end, ...p, targets: p.targets?.slice(), inputs: this.uploadCopies ? p.inputs?.slice() : p.inputs };
  }

  /** Frees prefetched rows that will not be used. */
  dropPrefetch(): void {
    if (this.#prefetched === undefined) return;
    this.tf.dispose([...this.#prefetched.xs, ...this.#prefetched.ys]);
    this.#prefetched = undefined;
  }

  /** Gathers rows by index from a split into float tensors (decoded as the spec says). */
  rows(split: SplitLayout, indices: ArrayLike<number>, targets = true): { xs: tfTypes.Tensor[]; ys: tfTypes.Tensor[] } {
    const d = this.init.decode;
    const tensor = (key: string, r: TensorRegion, scale: number, oneHot: number): tfTypes.Tensor => {
      const rows = this.#gatherRows(key, r, indices, scale, oneHot);
      const shape = oneHot > 0 ? [indices.length, oneHot] : [indices.length, ...r.shape];
      return this.tf.tensor(rows, shape, 'float32');
    };
    const xs = split.inputs.map((r, i) => tensor(`x${i}`, r, d.inputScale, 0));
    const ys = targets ? split.targets.map((r, i) => tensor(`y${i}`, r, 1, d.oneHot)) : [];
    return { xs, ys };
  }

  #gatherMicro(micro: MicroBatch): Gathered {
    const indices = this.views.batchIndices.subarray(micro.start, micro.end);
    const split = this.split('train');
    const targets = this.jsTargets ? this.#gatherRows('y0', split.targets[0], indices, 1, this.init.decode.oneHot) : undefined;
    if (this.jsInputs) return { xs: [], ys: [], targets, inputs: this.#gatherRows('x0', split.inputs[0], indices, this.init.decode.inputScale, 0) };
    const { xs, ys } = this.rows(split, indices, !this.jsTargets);
    return { xs, ys, targets };
  }

  /** Rows by index as floats, row-major (integer labels one-hot encoded when `oneHot` > 0). */
  #gatherRows(key: string, r: TensorRegion, indices: ArrayLike<number>, scale: number, oneHot: number): Float32Array {
    const src: ElementArray = tensorView(this.init.dataset, r);
    const n = indices.length;
    const width = oneHot > 0 ? oneHot : r.sampleSize;
    const buf = this.#scratchFor(key, n * width);
    if (oneHot > 0) {
      buf.fill(0);
      for (let i = 0; i < n; i++) buf[i * width + src[indices[i]]] = 1;
      return buf;
    }
    const s = r.sampleSize;
    for (let i = 0; i < n; i++) {
      const from = indices[i] * s;
      const to = i * s;
      if (scale === 1) for (let j = 0; j < s; j++) buf[to + j] = src[from + j];
      else for (let j = 0; j < s; j++) buf[to + j] = src[from + j] * scale;
    }
    return buf;
  }

  /** A reusable Float32Array of exactly `length` (where tf.tensor copies it, reuse is safe). */
  #scratchFor(key: string, length: number): Float32Array {
    if (!this.uploadCopies) return new Float32Array(length);
    let buf = this.#scratch.get(key);
    if (buf === undefined || buf.length < length) {
      buf = new Float32Array(length);
      this.#scratch.set(key, buf);
    }
    return buf.length === length ? buf : buf.subarray(0, length);
  }
}
