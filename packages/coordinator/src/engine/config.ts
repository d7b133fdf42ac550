/** What a Trainer is made from: the model, its data, the optimizer, the pool and the reliability settings. */
import type { BackendName, Logger, ModelSpec, OptimizerSpec } from '@threadfit/shared';
import type { SharedDataset } from '../data/dataset.js';
import type { HostGroup } from '../cluster/host-group.js';
import type { FaultSpec } from './faults.js';

export interface TrainerConfig {
  workers: number;
  backend: BackendName;
  model: ModelSpec;
  /** Initial values of every weight, in model.getWeights() order. */
  initialWeights: Float32Array[];
  dataset: SharedDataset;
  maxBatch: number;
  optimizer: OptimizerSpec;
  threadsPerWorker?: number;
  /** 'tape': no dense fast path (WorkerInit.denseFastPath). Default 'auto'. */
  gradients?: 'auto' | 'tape';
  logLevel?: string;
  /** Run seed (dropout masks come from (seed, rank, step)). Default 0. */
  seed?: number;
  /** Module every worker imports before building its replica (custom layers). */
  workerSetup?: string;
  /** model.fit's classWeight, standardized per output (WorkerInit.classWeights). */
  classWeights?: Array<number[] | null>;
  /** Reruns of failed steps allowed over the run (default 3). */
  maxRestarts?: number;
  /** Non-finite steps allowed in a row before training stops (default 5). */
  maxSkippedSteps?: number;
  /** Fixed step timeout; default adaptive: max(30 s, 50 x median step). */
  stepTimeoutMs?: number;
  injectFault?: FaultSpec;
  logger?: Logger;
  /** Gradient accumulation: micro-batches per rank per step (default 1). */
  accumulate?: number;
  /** Deterministic mode: this many micro-batches per step whatever the worker count. */
  microBatches?: number;
  /** Elastic: the fewest workers a step may shrink to when a worker keeps failing (default: workers). */
  minWorkers?: number;
  /** Several hosts: the Gloo groups (joined before the trainer is made). */
  cluster?: HostGroup;
  /** The most steps the workers run on their own in one execution (default 1; 1 across hosts). */
  stepsPerExecution?: number;
}
