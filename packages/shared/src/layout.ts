/**
 * The ONE declaration of every shared-memory region. Nobody computes an offset anywhere else.
 *
 * Training state lives in one shared WebAssembly.Memory, so the SIMD kernels (assembly/kernels.ts)
 * work on it in place and JS sees the same bytes through typed-array views:
 *
 *   byte 0            KERNEL_RESERVED_BYTES (the kernel module's own statics, never touched)
 *   control           Int32[CONTROL_WORDS]            committed buffer index, step, barriers, flags
 *   slotWeights       Float32[MAX_RANKS]              n_s / N of the current step, per grad slot
 *   batchIndices      Int32[maxBatch x K]             sample indices of each step of an execution
 *                                                     (step j at j x its batch size)
 *   stepRates         Float64[K]                      learning rate of each step (NaN: the optimizer's own)
 *   stepRecords       Float64[K x gradSlots x         what each rank did in each step of an execution
 *                     STEP_RECORD_WIDTH + metrics]    (StepRecord fields, then its metric sums)
 *   stepEnds          Float64[K]                      when each step was released (epoch ms)
 *   params[0|1]       Float32[P']                     double-buffered weights
 *   state[s][0|1]     Float32[P'] per optimizer slot  double-buffered optimizer state (Adam: m, v)
 *   grads[r]          Float32[P'] per grad slot       one gradient slot per micro-batch
 *   buffers[0|1]      Float32[Q']                     double-buffered non-trainable weights
 *                                                     (BatchNormalization moving mean/variance)
 *   bufferSlots[r]    Float32[Q'] per grad slot       each micro-batch's non-trainables after its pass
 *   unitWeight        Float32[4]                      1.0: the weight of hostGrad as a single slot
 *   hostGrad          Float32[P'] (multi-host)        this host's weighted gradient sum, summed in
 *                                                     place across hosts, then the optimizer's input
 *   hostFlags         Float32[HOST_FLAG_WORDS]        right after hostGrad, summed with the last
 *                     (multi-host)                    chunk (HostFlag): a vote per step
 *
 * K is the most steps one execution holds (`stepsPerExecution`; 1 across hosts).
 * P' is the parameter count padded to a multiple of PARAM_ALIGN so that every chunk bound is a
 * multiple of 4 floats (f32x4) and of a 64-byte cache line.
 *
 * The data set lives in a plain SharedArrayBuffer (`datasetLayout`), loaded once; workers gather
 * rows from it by index. A streamed data set (parallelFitDataset) lives in a ring of batch slots
 * instead (`batchRingLayout`): its 'train' split holds K slots of B rows, slot k being rows
 * [kB, kB + B); the coordinator writes each batch the dataset yields into the next free slot and
 * the step gathers that slot's rows, so a rerun after a fault reads the same batch.
 */

export const PAGE_BYTES = 65536;
export const KERNEL_RESERVED_BYTES = PAGE_BYTES;
export const PARAM_ALIGN = 16;
export const MAX_RANKS = 256;

/** Int32 control words, by index into `StateViews.control`. */
export const Control = {
  /** Which of the two buffers (0 or 1) holds the committed weights and optimizer state. */
  COMMITTED: 0,
  /** Number of committed optimizer steps (tfjs's `iterations`). */
  STEP: 1,
  /** Set to 1 by the coordinator when a step attempt failed: ranks waiting at the barrier give up. */
  ABORT: 2,
  /** Ranks of the current step that have written their gradients (the in-step barrier). */
  BARRIER: 3,
  /** The current step attempt: a task of an older (aborted) attempt must not touch the barrier or write an update. */
  ATTEMPT: 4,
  /**
   * Ranks that have updated their chunk of step j of the execution (the commit barrier, worker/src/
   * execution.ts; counts up through the execution, target parties x (j+1)). BARRIER counts up the same way.
   */
  COMMIT_BARRIER: 5,
  /** Steps of the current execution released by the rank that committed them (or skipped them). */
  RELEASED: 6,
  /** 1: the execution ends after the step just released (it was skipped: non-finite). */
  HALT: 7,
} as const;
export const CONTROL_WORDS = 16;

/**
 * BARRIER, COMMIT_BARRIER and RELEASED hold `attemptTag(attempt) | count`: the coordinator sets
 * them to the tag of each new attempt, and a rank counts or releases only by compare-and-swap
 * within its own attempt's tag. So a straggler of an abandoned attempt (a terminated worker that
 * has not stopped yet) can never count in a newer one. Counts fit in 20 bits (at most
 * 256 ranks x 1024 steps); attempts wrap at 1024 (a straggler is never that far behind).
 */
export const BARRIER_COUNT_MASK = (1 << 20) - 1;
export const attemptTag = (attempt: number): number => (attempt % 1024) << 20;

/**
 * Float32 words after the P' gradient values of hostGrad, summed across hosts with the last chunk
 * (so every step carries them at no extra collective). Each host writes 0 or 1; after the step the
 * word holds how many hosts voted.
 */
export const HostFlag = {
  /** This host was asked to stop (a signal): every host stops after the same step. */
  STOP: 0,
} as const;
export const HOST_FLAG_WORDS = 16;

/**
 * Float64 fields of one rank's record of one step of an execution (`stepRecords`), followed by the
 * model's metric sums. Written by the rank before the commit barrier; read by the committing
 * rank (nonFinite) and by the coordinator after the execution.
 */
export const StepRecord = {
  COUNT: 0,
  LOSS_SUM: 1,
  GATHER_MS: 2,
  COMPUTE_MS: 3,
  COPY_MS: 4,
  UPDATE_MS: 5,
  NON_FINITE: 6,
  WAIT_MS: 7,
  /** How many metric sums follow the fields. */
  METRIC_COUNT: 8,
  /** Time in the sum across hosts (several hosts only). */
  COMM_MS: 9,
} as const;
export const STEP_RECORD_WIDTH = 10;

export interface Region {
  /** Byte offset from the start of the memory. */
  byteOffset: number;
  /** Number of elements (not bytes). */
  length: number;
}

export interface StateLayoutSpec {
  /** Number of trainable parameters (all weights flattened in the model's trainableWeights order). */
  paramCount: number;
  /** Number of gradient slots (one per rank of a step). */
  gradSlots: number;
  /** Number of optimizer state vectors per parameter (Adam: 2, m and v). */
  stateSlots: number;
  /** The largest global batch a step can have. */
  maxBatch: number;
  /** Number of non-trainable weight values (default 0). */
  bufferCount?: number;
  /** Several hosts (Gloo): the host-level gradient region is allocated (default false). */
  multiHost?: boolean;
  /** The most steps one execution holds (default 1: every step is its own round trip). */
  stepsPerExecution?: number;
  /** The most metric sums a step reports (the room for them in a step record). */
  metricCount?: number;
}

export interface StateLayout {
  spec: StateLayoutSpec;
  paddedParamCount: number;
  control: Region;
  slotWeights: Region;
  batchIndices: Region;
  /** The most steps an execution holds, and the Float64 width of one rank's record (fields + metrics). */
  stepsPerExecution: number;
  stepRecordWidth: number;
  stepRates: Region;
  stepRecords: Region;
  stepEnds: Region;
  params: readonly [Region, Region];
  state: ReadonlyArray<readonly [Region, Region]>;
  grads: readonly Region[];
  /** Bytes from one gradient slot to the next (the kernels' slot stride). */
  gradSlotStrideBytes: number;
  paddedBufferCount: number;
  buffers: readonly [Region, Region];
  bufferSlots: readonly Region[];
  /** Float32[4] holding 1.0 (written by `createStateMemory`): hostGrad's weight as a one-slot reduce. */
  unitWeight: Region;
  /** This host's reduced gradient, all-reduced across hosts (length 0 on one host). */
  hostGrad: Region;
  /** HOST_FLAG_WORDS Float32 flags right after hostGrad, all-reduced with its last chunk (length 0 on one host). */
  hostFlags: Region;
  bytes: number;
  pages: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

export function stateLayout(spec: StateLayoutSpec): StateLayout {
  if (spec.gradSlots < 1 || spec.gradSlots > MAX_RANKS) {
    throw new RangeError(`stateLayout: gradSlots must be in 1..${MAX_RANKS}, got ${spec.gradSlots}`);
  }
  const padded = alignUp(Math.max(spec.paramCount, 1), PARAM_ALIGN);
  let cursor = KERNEL_RESERVED_BYTES;
  const take = (length: number, elementBytes: number): Region => {
    const region = { byteOffset: cursor, length };
    cursor = alignUp(cursor + length * elementBytes, 64);
    return region;
  };
  const control = take(CONTROL_WORDS, 4);
  const slotWeights = take(MAX_RANKS, 4);
  const stepsPerExecution = Math.max(1, Math.floor(spec.stepsPerExecution ?? 1));
  const stepRecordWidth = STEP_RECORD_WIDTH + (spec.metricCount ?? 0);
  const batchIndices = take(Math.max(spec.maxBatch, 1) * stepsPerExecution, 4);
  const stepRates = take(stepsPerExecution, 8);
  const stepRecords = take(stepsPerExecution * spec.gradSlots * stepRecordWidth, 8);
  const stepEnds = take(stepsPerExecution, 8);
  const params = [take(padded, 4), take(padded, 4)] as const;
  const state = Array.from({ length: spec.stateSlots }, () => [take(padded, 4), take(padded, 4)] as const);
  const grads = Array.from({ length: spec.gradSlots }, () => take(padded, 4));
  const paddedBuffers = alignUp(spec.bufferCount ?? 0, PARAM_ALIGN);
  const buffers = [take(paddedBuffers, 4), take(paddedBuffers, 4)] as const;
  const bufferSlots = Array.from({ length: spec.gradSlots }, () => take(paddedBuffers, 4));
  const unitWeight = take(4, 4);
  // hostFlags follows hostGrad with no gap: the last chunk's all-reduce covers both in one call.
  const multiHost = spec.multiHost === true;
  const hostGrad = { byteOffset: cursor, length: multiHost ? padded : 0 };
  const hostFlags = { byteOffset: cursor + hostGrad.length * 4, length: multiHost ? HOST_FLAG_WORDS : 0 };
  take(hostGrad.length + hostFlags.length, 4);
  const pages = Math.ceil(cursor / PAGE_BYTES);
  return {
    spec,
    paddedParamCount: padded,
    control,
    slotWeights,
    batchIndices,
    stepsPerExecution,
    stepRecordWidth,
    stepRates,
    stepRecords,
    stepEnds,
    params,
    state,
    grads,
    gradSlotStrideBytes: grads.length > 1 ? grads[1].byteOffset - grads[0].byteOffset : padded * 4,
    paddedBufferCount: paddedBuffers,
    buffers,
    bufferSlots,
    unitWeight,
    hostGrad,
    hostFlags,
    bytes: cursor,
    pages,
  };
}

/**
 * The range of hostGrad that chunk [start, end) sums across hosts; the last chunk's range also
 * covers hostFlags (they follow hostGrad directly), so the vote rides on the same collective.
 */
export function hostSumRegion(layout: StateLayout, start: number, end: number, withFlags: boolean): Region {
  return { byteOffset: layout.hostGrad.byteOffset + start * 4, length: end - start + (withFlags ? layout.hostFlags.length : 0) };
}

/** The shared memory for a layout: fixed size (initial = maximum), so views never detach. */
export function createStateMemory(layout: StateLayout): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages, shared: true });
  new Float32Array(memory.buffer, layout.unitWeight.byteOffset, layout.unitWeight.length).fill(1);
  return memory;
}

/** Typed views over a state memory. Cheap to build; each thread builds its own. */
export class StateViews {
  readonly control: Int32Array;
  readonly slotWeights: Float32Array;
  readonly batchIndices: Int32Array;
  readonly stepRates: Float64Array;
  readonly stepRecords: Float64Array;
  readonly stepEnds: Float64Array;
  readonly #params: [Float32Array, Float32Array];
  readonly #state: Array<[Float32Array, Float32Array]>;
  readonly #grads: Float32Array[];
  readonly #buffers: [Float32Array, Float32Array];
  readonly #bufferSlots: Float32Array[];
  /** This host's reduced gradient (multi-host; empty otherwise). */
  readonly hostGrad: Float32Array;
  /** The host flags after it (HostFlag indices; multi-host; empty otherwise). */
  readonly hostFlags: Float32Array;

  constructor(
    readonly buffer: SharedArrayBuffer | ArrayBuffer,
    readonly layout: StateLayout,
  ) {
    if (buffer.byteLength < layout.bytes) {
      throw new RangeError(`StateViews: buffer of ${buffer.byteLength} bytes is smaller than the layout's ${layout.bytes}`);
    }
    const f32 = (r: Region) => new Float32Array(buffer, r.byteOffset, r.length);
    this.control = new Int32Array(buffer, layout.control.byteOffset, layout.control.length);
    this.slotWeights = f32(layout.slotWeights);
    this.batchIndices = new Int32Array(buffer, layout.batchIndices.byteOffset, layout.batchIndices.length);
    const f64 = (r: Region) => new Float64Array(buffer, r.byteOffset, r.length);
    this.stepRates = f64(layout.stepRates);
    this.stepRecords = f64(layout.stepRecords);
    this.stepEnds = f64(layout.stepEnds);
    this.#params = [f32(layout.params[0]), f32(layout.params[1])];
    this.#state = layout.state.map(([a, b]) => [f32(a), f32(b)]);
    this.#grads = layout.grads.map(f32);
    this.#buffers = [f32(layout.buffers[0]), f32(layout.buffers[1])];
    this.#bufferSlots = layout.bufferSlots.map(f32);
    this.hostGrad = f32(layout.hostGrad);
    this.hostFlags = f32(layout.hostFlags);
  }

  /** The committed buffer index (0 or 1). Atomic: another thread flips it between steps. */
  get committed(): 0 | 1 {
    return Atomics.load(this.control, Control.COMMITTED) as 0 | 1;
  }
  params(buffer: 0 | 1): Float32Array {
    return this.#params[buffer];
  }
  state(slot: number, buffer: 0 | 1): Float32Array {
    return this.#state[slot][buffer];
  }
  gradSlot(rank: number): Float32Array {
    return this.#grads[rank];
  }
  /** Rank `rank`'s record of step `j` of an execution (StepRecord fields, then its metric sums). */
  stepRecord(j: number, rank: number): Float64Array {
    const w = this.layout.stepRecordWidth;
    const at = (j * this.layout.spec.gradSlots + rank) * w;
    return this.stepRecords.subarray(at, at + w);
  }
  /** Non-trainable weights (double-buffered like params, committed together). */
  buffers(buffer: 0 | 1): Float32Array {
    return this.#buffers[buffer];
  }
  bufferSlot(rank: number): Float32Array {
    return this.#bufferSlots[rank];
  }
}

// ---------------------------------------------------------------------------------------------
// Data set

export type ElementType = 'uint8' | 'int32' | 'float32';

export interface TensorSpec {
  dtype: ElementType;
  /** Shape of ONE sample (without the batch dimension). */
  shape: number[];
}

export interface SplitSpec {
  count: number;
  inputs: TensorSpec[];
  targets: TensorSpec[];
}

export interface TensorRegion extends Region {
  dtype: ElementType;
  shape: number[];
  /** Elements per sample. */
  sampleSize: number;
}

export interface SplitLayout {
  count: number;
  inputs: TensorRegion[];
  targets: TensorRegion[];
}

export interface DatasetLayout {
  splits: Record<string, SplitLayout>;
  bytes: number;
}

const ELEMENT_BYTES: Record<ElementType, number> = { uint8: 1, int32: 4, float32: 4 };

export function sampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function datasetLayout(splits: Record<string, SplitSpec>): DatasetLayout {
  let cursor = 0;
  const place = (spec: TensorSpec, count: number): TensorRegion => {
    const size = sampleSize(spec.shape);
    const region = { byteOffset: cursor, length: size * count, dtype: spec.dtype, shape: [...spec.shape], sampleSize: size };
    cursor = alignUp(cursor + region.length * ELEMENT_BYTES[spec.dtype], 64);
    return region;
  };
  const out: Record<string, SplitLayout> = {};
  for (const [name, s] of Object.entries(splits)) {
    out[name] = { count: s.count, inputs: s.inputs.map((t) => place(t, s.count)), targets: s.targets.map((t) => place(t, s.count)) };
  }
  return { splits: out, bytes: Math.max(cursor, 8) };
}

export type ElementArray = Uint8Array | Int32Array | Float32Array;

export function tensorView(buffer: SharedArrayBuffer | ArrayBuffer, r: TensorRegion): ElementArray {
  switch (r.dtype) {
    case 'uint8':
      return new Uint8Array(buffer, r.byteOffset, r.length);
    case 'int32':
      return new Int32Array(buffer, r.byteOffset, r.length);
    case 'float32':
      return new Float32Array(buffer, r.byteOffset, r.length);
  }
}

/** The shape of a ring of batch slots (`batchRingLayout`). */
export interface BatchRingSpec {
  /** Slots in the ring (K): a batch in flight, the ones fetched ahead of it. */
  slots: number;
  /** Rows per slot (B): the largest batch a step takes. */
  slotRows: number;
  inputs: TensorSpec[];
  targets: TensorSpec[];
  /** A validation ring of this many rows ('val'), for a validation dataset; or a whole split. */
  val?: { rows: number; inputs: TensorSpec[]; targets: TensorSpec[] };
}

export interface BatchRingLayout extends DatasetLayout {
  slots: number;
  slotRows: number;
}

/** The data set layout of a ring of batch slots: split 'train' = K x B rows, optional 'val'. */
export function batchRingLayout(r: BatchRingSpec): BatchRingLayout {
  if (!(r.slots >= 1 && r.slotRows >= 1)) throw new RangeError(`batchRingLayout: slots and slotRows must be >= 1, got ${r.slots} and ${r.slotRows}`);
  const splits: Record<string, SplitSpec> = { train: { count: r.slots * r.slotRows, inputs: r.inputs, targets: r.targets } };
  if (r.val) splits.val = { count: r.val.rows, inputs: r.val.inputs, targets: r.val.targets };
  return { ...datasetLayout(splits), slots: r.slots, slotRows: r.slotRows };
}

/** The first row of ring slot `slot` (rows [slotStart, slotStart + slotRows) are the slot). */
export function ringSlotStart(layout: BatchRingLayout, slot: number): number {
  return slot * layout.slotRows;
}
