/**
 * The update phase of a step for one chunk of the parameter vector: the weighted reduce of the
 * step's gradient slots fused with the optimizer, by the SIMD kernel of the spec's kind, from the
 * committed buffer into the other one. Needs no tfjs.
 *
 * Multi-host (task.comm): the chunk's slots are reduced into layout.hostGrad, that range is summed
 * in place across the hosts by the chunk's Gloo group, and the optimizer reads it as one slot.
 */
import {
  applyUpdate,
  chunkRanges,
  HOST_FLAG_WORDS,
  loadKernels,
  stateSlotsOf,
  ThreadfitError,
  ErrorCodes,
  type CommModule,
  type OptimizerSpec,
  type StateLayout,
  type UpdateKernels,
  type UpdateResult,
  type UpdateTask,
} from '@threadfit/shared';

export class ChunkUpdater {
  readonly #kernels: UpdateKernels;
  readonly #memory: WebAssembly.Memory;
  #comm: Promise<CommModule> | undefined;
  constructor(
    memory: WebAssembly.Memory,
    private readonly layout: StateLayout,
    private readonly optimizer: OptimizerSpec,
    private readonly commModule?: string,
  ) {
    // Checked once, at worker start: a layout made for another optimizer fails here with its
    // reason instead of on every update task.
    const needed = stateSlotsOf(optimizer).length;
    if (layout.state.length < needed) {
      throw new ThreadfitError(ErrorCodes.INTERNAL, `optimizer ${optimizer.kind} needs ${needed} state slots; the layout has ${layout.state.length}`);
    }
    this.#memory = memory;
    this.#kernels = loadKernels(memory);
  }

  /** One host: the chunk's fused reduce + optimizer. */
  update(task: UpdateTask): UpdateResult {
    const t0 = performance.now();
    const { spec, chunk } = this.#prepare(task);
    if (task.comm !== undefined) throw new ThreadfitError(ErrorCodes.INTERNAL, 'a multi-host update task must go through updateAcrossHosts');
    const nonFinite = applyUpdate(this.#kernels, spec, chunk, task.step);
    return { type: 'update', chunk: task.chunk, nonFinite, ms: performance.now() - t0 };
  }

  /**
   * Several hosts (task.comm): reduce into hostGrad, sum across the hosts, then the optimizer.
   * `beforeWrite` runs after the sum and before the optimizer writes: the caller re-checks that its
   * attempt is still the current one, since the sum can outlast it.
   */
  updateAcrossHosts(task: UpdateTask, beforeWrite?: () => void): Promise<UpdateResult> {
    const t0 = performance.now();
    const { spec, chunk } = this.#prepare(task);
    return this.#hierarchical(task, spec, chunk, t0, beforeWrite);
  }

  #prepare(task: UpdateTask): { spec: OptimizerSpec; chunk: { layout: StateLayout; ranks: number; from: 0 | 1; start: number; end: number } } {
    if (task.slots < 1 || task.slots > this.layout.grads.length) {
      throw new ThreadfitError(ErrorCodes.INTERNAL, `update task names ${task.slots} gradient slots; the layout has ${this.layout.grads.length}`);
    }
    const { start, end } = chunkRanges(this.layout.paddedParamCount, task.chunks)[task.chunk];
    const spec = task.learningRate === undefined ? this.optimizer : { ...this.optimizer, learningRate: task.learningRate };
    return { spec, chunk: { layout: this.layout, ranks: task.slots, from: task.from, start, end } };
  }

  async #hierarchical(
    task: UpdateTask,
    spec: OptimizerSpec,
    chunk: { layout: StateLayout; ranks: number; from: 0 | 1; start: number; end: number },
    t0: number,
    beforeWrite?: () => void,
  ): Promise<UpdateResult> {
    const comm = task.comm!;
    if (this.layout.hostGrad.length === 0) throw new ThreadfitError(ErrorCodes.INTERNAL, 'a multi-host update task on a layout without hostGrad');
    // A non-finite local sum stays non-finite after the cross-host sum, on every host alike: the
    // fused kernel below counts it, so every host skips the same steps.
    this.#kernels.reduceInto(chunk, this.layout.hostGrad.byteOffset);
    const reduced = performance.now();
    const gloo = await this.#commModule();
    // The last chunk also carries the host flags (HostFlag: the stop vote) that follow P'.
    const flags = task.chunk === task.chunks - 1 ? HOST_FLAG_WORDS : 0;
    const range = new Float32Array(this.#memory.buffer, this.layout.hostGrad.byteOffset + chunk.start * 4, chunk.end - chunk.start + flags);
    await gloo.Group.attach(comm.group, comm.hostRank, comm.hosts).allreduce(range, { timeoutMs: comm.timeoutMs });
    const summed = performance.now();
    beforeWrite?.();
    const nonFinite = applyUpdate(this.#kernels, spec, { ...chunk, source: 'host' }, task.step);
    return { type: 'update', chunk: task.chunk, nonFinite, ms: reduced - t0 + (performance.now() - summed), commMs: summed - reduced };
  }

  #commModule(): Promise<CommModule> {
    if (this.commModule === undefined) throw new ThreadfitError(ErrorCodes.INTERNAL, 'a multi-host update task in a worker started without commModule');
    this.#comm ??= import(this.commModule) as Promise<CommModule>;
    return this.#comm;
  }
}
