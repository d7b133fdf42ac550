/**
 * model.fit keeps the optimizer's state (Adam's moments, RMSProp's mean squares, the iteration
 * count) in `model.optimizer` between calls, so a loop of `model.fit(..., { epochs: 1 })` (as
 * addition-rnn trains) continues one trajectory. parallelFit does the same: it starts from the
 * state `model.optimizer` holds and writes the committed state back when it returns. tfjs keeps
 * that state per variable in getWeights() order: the iteration count, then each slot for every
 * trainable weight ('m' of all weights, then 'v' of all weights), as threadfit's slots are named.
 */
import * as tf from '@tensorflow/tfjs';
import { stateSlotsOf, type ModelSpec, type OptimizerSpec } from '@threadfit/shared';
import type { Trainer } from '../engine/trainer.js';
import type { OptimizerSlot } from '../checkpoint/format.js';
import { readOptimizerSlots } from '../checkpoint/optimizer-state.js';

/** tfjs 4.22's Adamax has no getWeights/setWeights: its state cannot be carried across calls. */
const carries = (spec: OptimizerSpec): boolean => spec.kind !== 'adamax';

/** The state model.optimizer holds from earlier fit calls, or undefined when it has taken no step. */
export async function optimizerStateOf(
  model: tf.LayersModel,
  spec: ModelSpec,
  optimizer: OptimizerSpec,
): Promise<{ step: number; slots: OptimizerSlot[] } | undefined> {
  const opt = model.optimizer as tf.Optimizer | undefined;
  if (opt === undefined || !carries(optimizer) || opt.iterations === 0) return undefined;
  const named = await opt.getWeights();
  const step = (await named[0].tensor.data())[0];
  named[0].tensor.dispose(); // a scalar made for the call; the rest are the optimizer's own variables
  const trainable = spec.weights.filter((w) => w.trainable).length;
  const names = stateSlotsOf(optimizer);
  if (named.length !== 1 + names.length * trainable) return undefined; // not this model's state (another model's optimizer object)
  const slots = names.map((name, s) => ({
    name,
    values: named.slice(1 + s * trainable, 1 + (s + 1) * trainable).map((n) => n.tensor.dataSync() as Float32Array),
  }));
  return { step, slots };
}

/** Puts the trainer's committed optimizer state into model.optimizer, as model.fit leaves it. */
export async function writeOptimizerState(model: tf.LayersModel, trainer: Trainer, spec: ModelSpec, optimizer: OptimizerSpec): Promise<void> {
  const opt = model.optimizer as tf.Optimizer | undefined;
  if (opt === undefined || !carries(optimizer)) return;
  const names = model.trainableWeights.map((w) => w.originalName);
  const slots = readOptimizerSlots(trainer.views, spec, stateSlotsOf(optimizer));
  const tensors: Array<{ name: string; tensor: tf.Tensor }> = [{ name: 'iter', tensor: tf.scalar(trainer.step, 'int32') }];
  for (const slot of slots) {
    slot.values.forEach((v, i) => tensors.push({ name: `${names[i]}/${slot.name}`, tensor: tf.tensor(v, model.trainableWeights[i].shape as number[]) }));
  }
  // setWeights makes new variables without disposing the ones it replaces (tfjs 4.22): dispose
  // them here, or each call would leak a copy of the state.
  const replaced = opt.iterations > 0 ? await opt.getWeights() : [];
  try {
    await opt.setWeights(tensors);
  } finally {
    tf.dispose([...tensors, ...replaced].map((t) => t.tensor));
  }
}
