/**
 * The update half of a step for one chunk of the parameter vector: the weighted reduce of the
 * step's gradient slots fused with the optimizer, by the SIMD kernel of the spec's kind, from the
 * committed buffer into the other one. Needs no tfjs.
 *
 * Multi-host (request.comm): the chunk's slots are reduced into layout.hostGrad, that range is
 * summed in place across the hosts by the chunk's Gloo group, and the optimizer reads it as one slot.
 */
import {
  applyUpdate,
  chunkRanges,
  hostSumRegion,
  loadKernels,
  stateSlotsOf,
  Errors,
  type CommModule,
  type OptimizerSpec,
  type StateLayout,
  type UpdateKernels,
} from '@threadfit/shared/core';
import { nativeUpdateKernels } from './cpu-kernels.js';
import type { UpdateRequest, UpdateResult } from './step-parts.js';

type Chunk = { layout: StateLayout; slots: number; from: 0 | 1; start: number; end: number };

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
    // reason instead of on every update.
    const needed = stateSlotsOf(optimizer).length;
    if (layout.state.length < needed) throw Errors.internal(`optimizer ${optimizer.kind} needs ${needed} state slots; the layout has ${layout.state.length}`);
    this.#memory = memory;
    // Adam on the AVX-512 kernel where it is built (the same bits as the WebAssembly one, ~3x as fast).
    this.#kernels = loadKernels(memory, nativeUpdateKernels());
  }

  /** One host: the chunk's fused reduce + optimizer. */
  update(req: UpdateRequest): UpdateResult {
    const t0 = performance.now();
    const { spec, chunk } = this.#prepare(req);
    if (req.comm !== undefined) throw Errors.internal('a multi-host update must go through updateAcrossHosts');
    const nonFinite = applyUpdate(this.#kernels, spec, chunk, req.step);
    return { chunk: req.chunk, nonFinite, ms: performance.now() - t0 };
  }

  /**
   * Several hosts (req.comm): reduce into hostGrad, sum across the hosts, then the optimizer.
   * `beforeWrite` runs after the sum and before the optimizer writes: the caller re-checks that its
   * attempt is still the current one, since the sum can outlast it.
   */
  async updateAcrossHosts(req: UpdateRequest, beforeWrite?: () => void): Promise<UpdateResult> {
    const t0 = performance.now();
    const { spec, chunk } = this.#prepare(req);
    const comm = req.comm;
    if (comm === undefined || this.layout.hostGrad.length === 0) throw Errors.internal('a multi-host update needs req.comm and a layout with hostGrad');
    // A non-finite local sum stays non-finite after the cross-host sum, on every host alike: the
    // fused kernel below counts it, so every host skips the same steps.
    this.#kernels.reduceInto(chunk, this.layout.hostGrad.byteOffset);
    const reduced = performance.now();
    const gloo = await this.#commModule();
    // The last chunk also carries the host flags (HostFlag: the stop vote) that follow hostGrad.
    const region = hostSumRegion(this.layout, chunk.start, chunk.end, req.chunk === req.chunks - 1);
    const range = new Float32Array(this.#memory.buffer, region.byteOffset, region.length);
    await gloo.Group.attach(comm.group, comm.hostRank, comm.hosts).allreduce(range, { timeoutMs: comm.timeoutMs });
    const summed = performance.now();
    beforeWrite?.();
    const nonFinite = applyUpdate(this.#kernels, spec, { ...chunk, source: 'host' }, req.step);
    return { chunk: req.chunk, nonFinite, ms: reduced - t0 + (performance.now() - summed), commMs: summed - reduced };
  }

  #prepare(req: UpdateRequest): { spec: OptimizerSpec; chunk: Chunk } {
    if (req.slots < 1 || req.slots > this.layout.grads.length) {
      throw Errors.internal(`an update names ${req.slots} gradient slots; the layout has ${this.layout.grads.length}`);
    }
    const { start, end } = chunkRanges(this.layout.paddedParamCount, req.chunks)[req.chunk];
    const spec = req.learningRate === undefined ? this.optimizer : { ...this.optimizer, learningRate: req.learningRate };
    return { spec, chunk: { layout: this.layout, slots: req.slots, from: req.from, start, end } };
  }

  #commModule(): Promise<CommModule> {
    if (this.commModule === undefined) throw Errors.internal('a multi-host update in a worker started without commModule');
    this.#comm ??= import(this.commModule) as Promise<CommModule>;
    return this.#comm;
  }
}
