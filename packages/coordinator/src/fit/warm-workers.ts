/**
 * Warm workers between parallelFit calls. A loop of `model.fit(x, y, { epochs: 1 })` (addition-rnn
 * trains that way, 100 calls) would pay the workers' start-up on every call: ~0.3 s on wasm, ~0.6 s
 * on tensorflow, as long as the call itself for a small model. So a trainer stays up for
 * WARM_IDLE_MS after a call and the next call on the same model takes it over when nothing it was
 * built from has changed: the same model object with the weights and optimizer step it left, the
 * same x, y and validation tensors (tfjs tensors are immutable; typed arrays, which a caller can
 * change in place, are never reused), and the same options that reach the workers. Anything else
 * closes it and starts afresh. The result is the same bits either way (tested). Idle workers do
 * not keep the process alive (piscina unrefs them; the timer is unref'd).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import type { SharedDataset } from '../data/dataset.js';
import type { Trainer } from '../engine/trainer.js';

/** How long an idle trainer waits for the next call on its model. */
export const WARM_IDLE_MS = 10_000;

export interface WarmKey {
  /** Everything the workers were built from that is not a tensor: options, spec, optimizer. */
  config: string;
  /** x, y and validation tensors, by identity. */
  tensors: readonly unknown[];
}

interface Warm {
  model: tfTypes.LayersModel;
  trainer: Trainer;
  dataset: SharedDataset;
  key: WarmKey;
  timer: NodeJS.Timeout;
}

const warm = new WeakMap<tfTypes.LayersModel, Warm>();
/** Every idle trainer, so that releaseWarmWorkers can close them all. */
const idle = new Set<Warm>();
let takenOver = 0;

/** How many calls have taken over warm workers in this process (a diagnostic; tests read it). */
export const warmTakeovers = (): number => takenOver;

/** Forgets an idle trainer (its timer, its place in the map and the set). */
function forget(entry: Warm): void {
  clearTimeout(entry.timer);
  idle.delete(entry);
  if (warm.get(entry.model) === entry) warm.delete(entry.model);
}

function drop(entry: Warm): Promise<void> {
  forget(entry);
  return entry.trainer.close();
}

const sameKey = (a: WarmKey, b: WarmKey): boolean =>
  a.config === b.config && a.tensors.length === b.tensors.length && a.tensors.every((t, i) => t === b.tensors[i]);

const sameBits = (a: Float32Array[], b: Float32Array[]): boolean =>
  a.length === b.length &&
  a.every(
    (w, i) =>
      w.length === b[i].length &&
      Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength)) === 0,
  );

/**
 * The model's idle trainer if it was built from `key` and still holds `weights` at optimizer step
 * `step` (else it is closed here, and undefined returned).
 */
export async function takeWarm(
  model: tfTypes.LayersModel,
  key: WarmKey,
  weights: Float32Array[],
  step: number,
): Promise<{ trainer: Trainer; dataset: SharedDataset } | undefined> {
  const entry = warm.get(model);
  if (entry === undefined) return undefined;
  forget(entry);
  if (sameKey(entry.key, key) && entry.trainer.step === step && sameBits(entry.trainer.committedWeights(), weights)) {
    takenOver++;
    return { trainer: entry.trainer, dataset: entry.dataset };
  }
  await entry.trainer.close();
  return undefined;
}

/** Keeps `trainer` up for the next call on `model`, closing it after WARM_IDLE_MS unused. */
export function keepWarm(model: tfTypes.LayersModel, trainer: Trainer, dataset: SharedDataset, key: WarmKey): void {
  const entry: Warm = { model, trainer, dataset, key, timer: setTimeout(() => void drop(entry), WARM_IDLE_MS) };
  entry.timer.unref();
  warm.set(model, entry);
  idle.add(entry);
}

/**
 * Closes every idle trainer now (their worker threads end), for a caller that wants the memory
 * back before WARM_IDLE_MS; resolves to how many it closed.
 */
export async function releaseWarmWorkers(): Promise<number> {
  const entries = [...idle];
  await Promise.all(entries.map((e) => drop(e)));
  return entries.length;
}
