/**
 * Validation on a dataset after each epoch, as tfjs's evaluateDataset: a fresh iterator each
 * time, at most `validationBatches` batches, the loss and metrics weighted by batch size. The
 * batches go through the 'val' ring of the shared data set, as many at a time as it holds, and
 * the workers evaluate each fill.
 */
import { ErrorCodes, ThreadfitError, type BatchRingLayout } from '@threadfit/shared';
import type { EvalStats, Trainer } from '../engine/trainer.js';
import { batchTensors, writeBatch, type BatchTensors, type DatasetLike, type ModelIo } from './dataset-batches.js';

export interface DatasetValidationOptions {
  dataset: DatasetLike;
  io: ModelIo;
  buffer: SharedArrayBuffer;
  layout: BatchRingLayout;
  validationBatches?: number;
  checkNumerics: boolean;
}

export class DatasetValidation {
  #runs = 0;
  constructor(private readonly o: DatasetValidationOptions) {}

  /** A resumed run: the iterator() calls of the epochs validated before the checkpoint (a seeded shuffle's order). */
  async fastForward(epochs: number): Promise<void> {
    for (let i = 0; i < epochs; i++) await this.#iterator();
  }

  async run(trainer: Trainer): Promise<EvalStats> {
    const epoch = ++this.#runs;
    const split = this.o.layout.splits.val;
    const it = await this.#iterator();
    const limit = this.o.validationBatches;
    let rows = 0;
    let count = 0;
    let lossSum = 0;
    let metricSums: number[] = [];
    const flush = async () => {
      if (rows === 0) return;
      const r = await trainer.evaluate('val', rows);
      lossSum += r.loss * rows;
      metricSums = r.metrics.map((m, i) => (metricSums[i] ?? 0) + m * rows);
      count += rows;
      rows = 0;
    };
    for (let batch = 0; limit === undefined || batch < limit; batch++) {
      const where = `batch ${batch} of validationData (validation after epoch ${epoch})`;
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (err) {
        throw new ThreadfitError(ErrorCodes.BAD_DATA, `the validationData iterator threw at ${where}: ${(err as Error)?.message ?? String(err)}`, {
          cause: err,
        });
      }
      if (r.done) {
        if (limit !== undefined)
          console.warn(`parallelFitDataset: validationBatches is ${limit}, but validationData ran out after ${batch} batches; validating on those`);
        break;
      }
      const b: BatchTensors = batchTensors(r.value, this.o.io, where);
      try {
        if (b.size > split.count)
          throw new ThreadfitError(
            ErrorCodes.BAD_DATA,
            `${where} has ${b.size} samples, more than the ${split.count} the validation slots hold (sized from its first batch): put a largest batch first`,
          );
        if (rows + b.size > split.count) await flush();
        writeBatch(this.o.buffer, split, rows, b, where, this.o.checkNumerics);
        rows += b.size;
      } finally {
        for (const t of [...b.xs, ...b.ys]) t.dispose();
      }
    }
    await flush();
    if (count === 0) throw new ThreadfitError(ErrorCodes.BAD_DATA, `validationData yielded no batch for the validation after epoch ${epoch}`);
    return { count, loss: lossSum / count, metrics: metricSums.map((m) => m / count) };
  }

  async #iterator(): Promise<{ next(): Promise<IteratorResult<unknown>> }> {
    try {
      return await this.o.dataset.iterator();
    } catch (err) {
      throw new ThreadfitError(ErrorCodes.BAD_DATA, `validationData's iterator() threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}
