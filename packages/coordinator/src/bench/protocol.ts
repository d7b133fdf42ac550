/**
 * The whole wire format between the bench/scale driver and the child process that measures one
 * configuration: a config goes down, progress lines and one result (or one error) come up.
 */
import type { BackendName, NativeStepKind, SerializedError } from '@threadfit/shared';
import type { StepMs } from '../engine/trainer.js';
import type { ZooModelName } from '../zoo/models.js';

/** The work of one configuration, the same for every kind of run. */
export interface Workload {
  backend: BackendName;
  /** GLOBAL batch size. */
  batchSize: number;
  warmup: number;
  /** Timed steps per repeat (ignored when `epochs` is set). */
  steps: number;
  /** Time whole epochs per repeat instead of `steps`. */
  epochs?: number;
  repeats: number;
  seed: number;
  dataDir?: string;
}

export const RunKinds = { STOCK: 'stock', THREADFIT: 'threadfit', ZOO: 'zoo' } as const;

/** Stock `model.fit` in the child's main thread, with or without the wasm BatchMatMul fix. */
export interface StockRun extends Workload {
  kind: typeof RunKinds.STOCK;
  matMulFix: boolean;
}

/** threadfit's Trainer with `workers` worker threads. */
export interface ThreadfitRun extends Workload {
  kind: typeof RunKinds.THREADFIT;
  workers: number;
  /** 'tape' turns the dense fast path off (TrainerConfig.gradients). */
  gradients: 'auto' | 'tape';
  /** Steps the workers run per execution (TrainerConfig.stepsPerExecution). */
  stepsPerExecution: number;
  /** 'dataset': batches from a tf.data generator through parallelFitDataset's ring of slots. */
  input: 'memory' | 'dataset';
}

/**
 * A zoo model (`bench --model NAME`): 'stock' model.fit as tfjs sets the backend up, 'stock-fixed'
 * with threadfit's exported wasm kernels installed, or parallelFit at `workers`; each repeat one
 * whole call from a fresh model, `epochs` passes over `samples` samples.
 */
export interface ZooRun {
  kind: typeof RunKinds.ZOO;
  model: ZooModelName;
  mode: 'stock' | 'stock-fixed' | 'threadfit';
  backend: BackendName;
  workers: number;
  batchSize: number;
  epochs: number;
  samples: number;
  repeats: number;
  seed: number;
}

export type RunConfig = StockRun | ThreadfitRun | ZooRun;

/** What one configuration measured: medians over the repeats, warm-up excluded. */
export interface Measurement {
  samplesPerSec: number;
  /** Median over the repeats of each repeat's mean per step; null for stock fit (one opaque call). */
  stepMs: StepMs | null;
  /** The child's peak resident set size (getrusage maxRSS), MiB. */
  peakRssMb: number;
  /** Each repeat's samples/s, in order (for the progress lines and a look at the noise). */
  repeatSamplesPerSec: number[];
  /** threadfit: how the replicas computed gradients ('dense' or 'tape (why)'). */
  gradPath?: string;
  /** threadfit on the native step: its kernels. */
  nativeKind?: NativeStepKind;
  /** Zoo runs: median wall time of the whole fit call, ms (parallelFit: worker start-up included). */
  totalMs?: number;
  /** Zoo runs: median time from the call to onTrainBegin, ms (0 for stock fit). */
  startupMs?: number;
  /** Zoo runs, parallelFit: the workers' notices (which row counts run as a traced graph, or why not). */
  notices?: string[];
  /** threadfit: the steps per execution the trainer used (it caps the asked-for value). */
  stepsPerExecution?: number;
}

export const ChildMessageTypes = { PROGRESS: 'progress', RESULT: 'result', ERROR: 'error' } as const;

export type ChildMessage =
  | { type: typeof ChildMessageTypes.PROGRESS; text: string }
  | { type: typeof ChildMessageTypes.RESULT; measurement: Measurement }
  | { type: typeof ChildMessageTypes.ERROR; error: SerializedError };
