/**
 * The update phase of a step for one chunk of the parameter vector: the weighted reduce of the
 * step's gradient slots fused with the optimizer, by the SIMD kernel of the spec's kind, from the
 * committed buffer into the other one. Needs no tfjs.
 */
import {
  applyUpdate,
  chunkRanges,
  loadKernels,
  stateSlotsOf,
  ThreadfitError,
  ErrorCodes,
  type OptimizerSpec,
  type StateLayout,
  type UpdateKernels,
  type UpdateResult,
  type UpdateTask,
} from '@threadfit/shared';

export class ChunkUpdater {
  readonly #kernels: UpdateKernels;
  constructor(
    memory: WebAssembly.Memory,
    private readonly layout: StateLayout,
    private readonly optimizer: OptimizerSpec,
  ) {
    // Checked once, at worker start: a layout made for another optimizer fails here with its
    // reason instead of on every update task.
    const needed = stateSlotsOf(optimizer).length;
    if (layout.state.length < needed) {
      throw new ThreadfitError(ErrorCodes.INTERNAL, `optimizer ${optimizer.kind} needs ${needed} state slots; the layout has ${layout.state.length}`);
    }
    this.#kernels = loadKernels(memory);
  }

  update(task: UpdateTask): UpdateResult {
    const t0 = performance.now();
    if (task.slots < 1 || task.slots > this.layout.grads.length) {
      throw new ThreadfitError(ErrorCodes.INTERNAL, `update task names ${task.slots} gradient slots; the layout has ${this.layout.grads.length}`);
    }
    const { start, end } = chunkRanges(this.layout.paddedParamCount, task.chunks)[task.chunk];
    const spec = task.learningRate === undefined ? this.optimizer : { ...this.optimizer, learningRate: task.learningRate };
    const nonFinite = applyUpdate(this.#kernels, spec, { layout: this.layout, ranks: task.slots, from: task.from, start, end }, task.step);
    return { type: 'update', chunk: task.chunk, nonFinite, ms: performance.now() - t0 };
  }
}
