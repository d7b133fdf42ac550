/**
 * The whole wire format between the coordinator and the workers: what a worker gets at start
 * (`WorkerInit`, piscina's workerData) and the task union keyed on `type` with its results.
 * Everything here is structured-clone data; shared memory travels as the Memory/SAB itself.
 */
import type { DatasetLayout, StateLayout } from './layout.js';
import type { OptimizerSpec } from './optimizers.js';
import type { SerializedError } from './errors.js';

export const BackendNames = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BackendNames)[number];

/** One weight of the model, in model.getWeights() order, and where it lives in the flat vector. */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** Element offset into the parameter vector (trainable) or into the buffers (non-trainable). */
  offset: number;
  size: number;
  trainable: boolean;
}

export interface ModelSpec {
  /** `model.toJSON(null, false)`: the topology only; weights travel through shared memory. */
  topology: object;
  /** Loss identifiers as given to model.compile (one per output). */
  loss: string[];
  /** Metric identifiers as given to model.compile. */
  metrics: string[];
  /**
   * Metric sums a step reports: model.metricsNames minus 'loss' (several outputs add one loss per
   * output, and each metric once per output).
   */
  metricCount: number;
  weights: WeightSpec[];
  paramCount: number;
  /** Total size of the non-trainable weights (BatchNormalization moving statistics, frozen layers). */
  bufferCount: number;
}

/** How a worker turns stored samples into float tensors. */
export interface DecodeSpec {
  /** Inputs: multiply by this (MNIST: 1/255). */
  inputScale: number;
  /** Targets: one-hot encode integer labels to this many classes (0 = use as stored). */
  oneHot: number;
}

export interface WorkerInit {
  backend: BackendName;
  /** TensorFlow intra/inter-op threads per worker (tensorflow backend only). */
  threadsPerWorker: number;
  /**
   * Compute the gradients of a chain of Dense layers with the backward pass written out instead
   * of on tfjs's tape (worker/src/dense-chain.ts); other models always use the tape. Default true.
   */
  denseFastPath?: boolean;
  stateMemory: WebAssembly.Memory;
  stateLayout: StateLayout;
  dataset: SharedArrayBuffer;
  datasetLayout: DatasetLayout;
  decode: DecodeSpec;
  model: ModelSpec;
  /** The optimizer the update tasks run (optimizerSpecOf of the compiled model's optimizer). */
  optimizer: OptimizerSpec;
  logLevel: string;
  /** Run seed: dropout masks are drawn from (seed, rank, step). */
  seed: number;
  /** Module (path or URL) every worker imports before building its replica (custom layers). */
  workerSetup?: string;
  /**
   * model.fit's classWeight, per output (null: unweighted): entry c weighs the training loss of a
   * sample of class c (its one-hot argmax, or its class id). Any entry takes the tape.
   */
  classWeights?: Array<number[] | null>;
  /** Multi-host: the URL of @threadfit/comm-gloo's entry, imported by a worker at its first comm task. */
  commModule?: string;
}

export const TaskTypes = { INIT: 'init', EXECUTE: 'execute', EVALUATE: 'evaluate' } as const;

/** Builds the replica and the backend; returns what the worker runs on. */
export interface InitTask {
  type: typeof TaskTypes.INIT;
}
export interface InitResult {
  type: typeof TaskTypes.INIT;
  backend: string;
  threadId: number;
  /** How the replica computes gradients: 'dense' (the fast path) or 'tape (why)'. */
  gradPath: string;
  /** On the native step: its kernels (NativeStepKind). */
  nativeKind?: NativeStepKind;
}

/**
 * The kernels a Dense chain's native step runs on: 'avx512' (threadfit's own GEMM, tensorflow
 * backend), 'tf-graph' (TensorFlow graph runs, tensorflow backend) or 'wasm-simd' (threadfit's
 * WebAssembly SIMD kernels, wasm backend, for chains too small for tfjs's kernels to pay).
 */
export type NativeStepKind = 'avx512' | 'tf-graph' | 'wasm-simd';

/** Faults a task can be told to simulate (testing aid: `--inject-fault`). */
export type FaultKind = 'crash' | 'exit' | 'hang' | 'nan';

/**
 * One micro-batch of a step: rows batchIndices[start, end) of the train split, whose mean-loss
 * gradient goes into gradSlot(slot) (and, with non-trainable weights, its moving statistics into
 * bufferSlot(slot)). Dropout masks come from (seed, slot, step).
 */
export interface MicroBatch {
  slot: number;
  start: number;
  end: number;
}

/**
 * The hierarchical step's cross-host part for one chunk: the rank reduces its host's slots over
 * the chunk into layout.hostGrad (slotWeights already hold n_s / global batch), sums that range
 * in place across the hosts in Gloo group `group` (one group per chunk: W rings in parallel),
 * then runs the optimizer on it.
 */
export interface CommTask {
  /** Native handle of the chunk's Gloo group, created by the coordinator in this process. */
  group: number;
  hostRank: number;
  hosts: number;
  /** The collective fails (ERR_THREADFIT_COMM) after this long. */
  timeoutMs: number;
}

/**
 * An execution: k >= 1 optimizer steps of the same batch size for one rank, driven by the workers
 * themselves (worker/src/execution.ts). Per step j, the rank computes its micro-batches of rows
 * batchIndices[j x batchSize + start, j x batchSize + end), meets the others at the in-step
 * barrier, updates its chunk with learning rate stepRates[j], writes its record, and meets them at
 * the commit barrier, where the last rank in commits the step (or skips it and halts the
 * execution) and releases the others. The coordinator reads the records when the tasks settle.
 */
export interface ExecutionTask {
  type: typeof TaskTypes.EXECUTE;
  rank: number;
  /** This rank's micro-batches of one step, rows relative to the step's first index. */
  micro: MicroBatch[];
  /** The chunk this rank updates, of `parties`. */
  chunk: number;
  /** Ranks taking part (the barriers' count per step). */
  parties: number;
  /** Gradient slots of a step (slots 0..slots-1). */
  slots: number;
  /** Steps in the execution, and the rows of each (the stride in batchIndices). */
  steps: number;
  batchSize: number;
  /** Give up waiting at a barrier after this long (the step timeout). */
  barrierTimeoutMs: number;
  /** Control.ATTEMPT when the task was sent: a task of an abandoned attempt stops before it writes. */
  attempt: number;
  /** Simulate this fault at step `at` of the execution (testing aid: `--inject-fault`). */
  fault?: { kind: FaultKind; at: number };
  /** Several hosts (executions of one step): sum this rank's chunk across the hosts before its optimizer. */
  comm?: CommTask;
}
export interface ExecutionResult {
  type: typeof TaskTypes.EXECUTE;
  rank: number;
  /** Steps this rank went through (the rest of the execution was halted). */
  steps: number;
  /** What the worker's gradient path decided since its last execution (the traced graph step: which row counts run as a graph, which stay on the tape and why). */
  notices?: string[];
}

/** Loss and metrics of rows [start, end) of a split with the committed weights. */
export interface EvaluateTask {
  type: typeof TaskTypes.EVALUATE;
  split: string;
  step: number;
  from: 0 | 1;
  start: number;
  end: number;
}
export interface EvaluateResult {
  type: typeof TaskTypes.EVALUATE;
  count: number;
  lossSum: number;
  metricSums: number[];
}

/** A task that failed in the worker: the error, serialized with its code (structured clone would drop it). */
export interface ErrorResult {
  type: 'error';
  error: SerializedError;
}

/** What travels to a worker. */
export type Task = InitTask | ExecutionTask | EvaluateTask;
export type TaskResult = InitResult | ExecutionResult | EvaluateResult | ErrorResult;
export type ResultOf<T extends Task> = T extends ExecutionTask ? ExecutionResult : T extends EvaluateTask ? EvaluateResult : InitResult;

/** A worker never throws across the thread boundary raw: errors come back serialized. */
export type { SerializedError };
