/** Timing helpers shared by the stock and threadfit runs: the batch order and the medians. */
import { ErrorCodes, ThreadfitError, epochPermutation, stepsPerEpoch } from '@threadfit/shared';
import type { StepMs } from '../engine/trainer.js';
import type { Workload } from './protocol.js';

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export const STEP_PHASES = ['grad', 'update', 'coord', 'data'] as const satisfies ReadonlyArray<keyof StepMs>;

/** Per-phase median of the repeats' per-step means. */
export function medianStepMs(repeats: StepMs[]): StepMs {
  const out = { grad: 0, update: 0, coord: 0, data: 0 };
  for (const k of STEP_PHASES) out[k] = median(repeats.map((r) => r[k]));
  return out;
}

/** Steps in one timed repeat: `steps`, or whole epochs (the last partial batch counted, like Keras). */
export function stepsPerRepeat(w: Workload, trainCount: number): number {
  return w.epochs === undefined ? w.steps : w.epochs * stepsPerEpoch(trainCount, w.batchSize);
}

/**
 * The global batches of a run, epoch after epoch, each epoch one seeded permutation (as in
 * `threadfit train`). With `dropRemainder` a batch never wraps or comes up short, so every timed
 * step has exactly `batchSize` samples; without it the last batch of an epoch is partial.
 */
export class BatchStream {
  readonly #order: Int32Array;
  #epoch = 0;
  #cursor = 0;

  constructor(
    readonly trainCount: number,
    readonly batchSize: number,
    readonly seed: number,
    readonly dropRemainder: boolean,
  ) {
    if (dropRemainder && batchSize > trainCount) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `a global batch of ${batchSize} does not fit in the ${trainCount} training samples (use --epochs, which keeps partial batches, or a smaller batch)`,
      );
    }
    this.#order = new Int32Array(trainCount);
    epochPermutation(trainCount, seed, 0, this.#order);
  }

  /** Starts the next epoch now (an epoch-mode repeat begins at an epoch boundary). */
  nextEpoch(): void {
    this.#epoch++;
    this.#cursor = 0;
    epochPermutation(this.trainCount, this.seed, this.#epoch, this.#order);
  }

  next(): Int32Array {
    const left = this.trainCount - this.#cursor;
    if (left === 0 || (this.dropRemainder && left < this.batchSize)) this.nextEpoch();
    const start = this.#cursor;
    this.#cursor = Math.min(this.trainCount, start + this.batchSize);
    return this.#order.subarray(start, this.#cursor);
  }
}

/** The peak RSS of this process so far, MiB (libuv reports getrusage maxRSS in KiB on every OS). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
