/**
 * Where the fit loop's batches come from: rows of the shared train split, an epoch at a time.
 * parallelFit's data is in shared memory whole, so its batches are index lists over a seeded
 * permutation (`PermutationBatches`); parallelFitDataset's arrive from a tf.data iterator into a
 * ring of batch slots (dataset-batches.ts) and each batch is its slot's rows.
 */
import { epochPermutation, stepsPerEpoch } from '@threadfit/shared';

export interface BatchSource {
  /** Batches per epoch when known before the epoch runs (tfjs's `params.steps`), else undefined. */
  readonly stepsPerEpoch: number | undefined;
  /** Starts `epoch`, its first `skip` batches already trained (a resumed run). */
  beginEpoch(epoch: number, skip: number): Promise<void>;
  /**
   * Up to `max` (>= 1) next batches of the epoch, all of one size, as rows of the train split;
   * none at the epoch's end. The batches of the previous take are done with (committed).
   */
  take(max: number): Promise<Array<ArrayLike<number>>>;
  /** Milliseconds the last take waited for its data (0 when it was ready). */
  readonly waitMs: number;
  /** The epoch just ended early (a dataset that ran out before `batchesPerEpoch`): stop training after it. */
  readonly exhausted?: boolean;
}

/** Batches of `batchSize` rows over a per-epoch seeded permutation of [0, trainCount) (or in order). */
export class PermutationBatches implements BatchSource {
  readonly #order: Int32Array;
  #next = 0;
  readonly waitMs = 0;

  constructor(
    private readonly trainCount: number,
    private readonly batchSize: number,
    private readonly shuffle: boolean,
    private readonly seed: number,
  ) {
    this.#order = new Int32Array(trainCount);
  }

  get stepsPerEpoch(): number {
    return stepsPerEpoch(this.trainCount, this.batchSize);
  }

  async beginEpoch(epoch: number, skip: number): Promise<void> {
    if (this.shuffle) epochPermutation(this.trainCount, this.seed, epoch, this.#order);
    else for (let i = 0; i < this.trainCount; i++) this.#order[i] = i;
    this.#next = skip;
  }

  async take(max: number): Promise<Int32Array[]> {
    const out: Int32Array[] = [];
    while (out.length < max && this.#next < this.stepsPerEpoch) {
      const rows = this.#rows(this.#next);
      if (out.length > 0 && rows.length !== out[0].length) break;
      out.push(rows);
      this.#next++;
    }
    return out;
  }

  #rows(b: number): Int32Array {
    return this.#order.subarray(b * this.batchSize, Math.min(this.trainCount, (b + 1) * this.batchSize));
  }
}
