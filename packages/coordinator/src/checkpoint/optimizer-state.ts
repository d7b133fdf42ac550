/**
 * Between a model / a Trainer's shared state and a checkpoint. The optimizer state lives flat in
 * shared memory (`StateViews.state(slot, buffer)`, one slot per Adam vector, at each trainable
 * weight's `offset`); a checkpoint keeps it per weight, in tfjs's names and order.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { Control, ErrorCodes, ThreadfitError, type ModelSpec, type StateViews } from '@threadfit/shared';
import type { CheckpointState, CheckpointWeightSpec, OptimizerSlot } from './format.js';

/**
 * The weight specs to checkpoint a model with: tfjs's save names (`originalName`, which
 * tf.loadLayersModel matches; `name` may carry a `_1` suffix when a name was taken), shapes, trainable.
 */
export function checkpointWeightSpecs(model: tfTypes.LayersModel): CheckpointWeightSpec[] {
  const trainable = new Set(model.trainableWeights.map((w) => w.name));
  return model.weights.map((w) => ({ name: w.originalName, shape: w.shape.map((d) => d ?? 1), trainable: trainable.has(w.name) }));
}

const trainableOf = (spec: ModelSpec) => spec.weights.filter((w) => w.trainable);

/**
 * Copies of the committed optimizer state, per trainable weight. `slotNames` are the state slots in
 * StateViews.state(slot, ...) order: stateSlotsOf(optimizerSpec) (Adam: ['m', 'v']). Read between
 * steps only: the committed buffer does not change until the next commit.
 */
export function readOptimizerSlots(views: StateViews, spec: ModelSpec, slotNames: readonly string[]): OptimizerSlot[] {
  const from = views.committed;
  return slotNames.map((name, slot) => {
    const flat = views.state(slot, from);
    return { name, values: trainableOf(spec).map((w) => flat.slice(w.offset, w.offset + w.size)) };
  });
}

/**
 * Puts a checkpoint's optimizer state into the committed buffer and sets Control.STEP (Adam's
 * bias correction depends on it). `slotNames` as for readOptimizerSlots. Call after Trainer.create
 * (which put the checkpoint's weights in) and before any task: replicas cache weights by
 * (step, buffer), and no task may be running.
 */
export function restoreOptimizerState(
  views: StateViews,
  spec: ModelSpec,
  optimizer: Pick<CheckpointState['optimizer'], 'step' | 'slots'>,
  slotNames: readonly string[],
): void {
  const trainable = trainableOf(spec);
  const from = views.committed;
  slotNames.forEach((name, slot) => {
    const saved = optimizer.slots.find((s) => s.name === name);
    if (saved === undefined)
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `the checkpoint has no optimizer slot '${name}' (it has ${optimizer.slots.map((s) => s.name).join(', ') || 'none'})`,
      );
    if (saved.values.length !== trainable.length) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `the checkpoint's optimizer slot '${name}' holds ${saved.values.length} weights, this model has ${trainable.length} trainable`,
      );
    }
    const flat = views.state(slot, from);
    trainable.forEach((w, i) => {
      if (saved.values[i].length !== w.size)
        throw new ThreadfitError(
          ErrorCodes.INVALID_OPTION,
          `the checkpoint's ${w.name}/${name} has ${saved.values[i].length} values, this model needs ${w.size}`,
        );
      flat.set(saved.values[i], w.offset);
    });
  });
  // Published with the step counter: the next trainStep reads it to make step + 1.
  Atomics.store(views.control, Control.STEP, optimizer.step);
}
