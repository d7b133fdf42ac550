/**
 * The training state in shared memory: its layout (sized from the model, the optimizer, the
 * plan's gradient slots and the longest execution), the memory, the initial weights and optimizer
 * state, and the committed weights read back out.
 */
import {
  createStateMemory,
  initialState,
  stateLayout,
  stateSlotsOf,
  StateViews,
  type ModelSpec,
  type OptimizerSpec,
  type StateLayout,
} from '@threadfit/shared';
import { maxSlots } from './step-plan.js';

/** Batch indices an execution may hold in shared memory (4 MB): bounds stepsPerExecution x batch. */
const MAX_EXECUTION_INDICES = 1 << 20;

export interface StateSpec {
  workers: number;
  model: ModelSpec;
  optimizer: OptimizerSpec;
  /** Initial values of every weight, in model.getWeights() order. */
  initialWeights: Float32Array[];
  maxBatch: number;
  accumulate?: number;
  microBatches?: number;
  multiHost: boolean;
  /** The most steps one execution runs (1 across hosts: the cross-host sum is recovered per step). */
  stepsPerExecution?: number;
}

export interface TrainingState {
  memory: WebAssembly.Memory;
  layout: StateLayout;
  views: StateViews;
}

export function createTrainingState(s: StateSpec): TrainingState {
  const gradSlots = Math.max(s.workers, maxSlots({ workers: s.workers, accumulate: s.accumulate ?? 1, microBatches: s.microBatches }));
  const stepsPerExecution = s.multiHost ? 1 : Math.max(1, Math.min(s.stepsPerExecution ?? 1, Math.floor(MAX_EXECUTION_INDICES / Math.max(s.maxBatch, 1))));
  const layout = stateLayout({
    paramCount: s.model.paramCount,
    gradSlots,
    stateSlots: stateSlotsOf(s.optimizer).length,
    maxBatch: s.maxBatch,
    bufferCount: s.model.bufferCount,
    multiHost: s.multiHost,
    stepsPerExecution,
    metricCount: s.model.metricCount,
  });
  const memory = createStateMemory(layout);
  const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, layout);
  // Initial weights into buffer 0, which is the committed one (control words start zeroed).
  s.model.weights.forEach((w, i) => (w.trainable ? views.params(0) : views.buffers(0)).set(s.initialWeights[i], w.offset));
  // Optimizer state starts as tfjs starts it (zeros; Adagrad: initialAccumulatorValue). Step 1
  // reads buffer 0; buffer 1 gets it too so that both buffers always hold a valid state.
  initialState(s.optimizer).forEach((fill, slot) => {
    views.state(slot, 0).fill(fill);
    views.state(slot, 1).fill(fill);
  });
  return { memory, layout, views };
}

/** Copies of the committed weights, in model.getWeights() order. */
export function committedWeights(views: StateViews, model: ModelSpec): Float32Array[] {
  const c = views.committed;
  return model.weights.map((w) => (w.trainable ? views.params(c) : views.buffers(c)).slice(w.offset, w.offset + w.size));
}
