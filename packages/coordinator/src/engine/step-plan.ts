/**
 * How one optimizer step's global batch is cut into micro-batches, and which rank computes which.
 * Every micro-batch has its own gradient slot and is weighted by its share of the batch in the
 * reduce, which sums the slots in slot order:
 *
 *   normal        W micro-batches, one per rank                  (slot = rank)
 *   accumulate A  A x W micro-batches, A per rank, done in turn  (memory of one micro-batch)
 *   deterministic M x A micro-batches whatever W, in contiguous blocks per rank: the same slots
 *                 hold the same gradients for any W, so the weights are bitwise the same.
 */
import { shardRanges, type MicroBatch } from '@threadfit/shared';

export interface StepPlanMode {
  workers: number;
  /** Gradient accumulation: micro-batches per rank per step (1 = off). */
  accumulate: number;
  /** Deterministic mode: the fixed number of micro-batches per accumulation round; undefined = off. */
  microBatches?: number;
}

export interface StepPlan {
  /** Gradient slots in use: slot s holds micro-batch s. */
  slots: number;
  /** Per slot, its rows' share of the batch (n_s / n). */
  weights: number[];
  /** One entry per rank that has work. */
  tasks: Array<{ rank: number; micro: MicroBatch[] }>;
}

/** The most gradient slots a step can use in this mode (for the shared-memory layout). */
export function maxSlots(m: StepPlanMode): number {
  return (m.microBatches ?? m.workers) * m.accumulate;
}

export function planStep(n: number, m: StepPlanMode): StepPlan {
  const count = maxSlots(m);
  const micro: MicroBatch[] = shardRanges(n, count)
    .filter((r) => r.end > r.start)
    .map((r, slot) => ({ slot, start: r.start, end: r.end }));
  // Contiguous blocks of micro-batches per rank (rank r gets the r-th block).
  const blocks = shardRanges(micro.length, m.workers).filter((b) => b.end > b.start);
  return {
    slots: micro.length,
    weights: micro.map((b) => (b.end - b.start) / n),
    tasks: blocks.map((b, rank) => ({ rank, micro: micro.slice(b.start, b.end) })),
  };
}
