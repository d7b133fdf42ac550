/**
 * Whether a checkpoint fits the caller's model and data: the first difference is named
 * (ERR_THREADFIT_INVALID_OPTION), so that a checkpoint made for another model is refused rather
 * than skipped (an older one would not fit either).
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import type { CheckpointExpectation, LoadedCheckpoint } from './store.js';

const dims = (shape: number[]): string => (shape.length === 0 ? 'a scalar' : shape.join('x'));

/** Layer class and config with what may differ between runs of the same model stripped. */
function layerSignature(topology: object): Array<{ cls: string; config: Record<string, unknown> }> {
  const layers = ((topology as { config?: { layers?: unknown[] } }).config?.layers ?? []) as Array<{ class_name: string; config: Record<string, unknown> }>;
  return layers.map((l) => ({
    cls: l.class_name,
    config: Object.fromEntries(Object.entries(l.config ?? {}).filter(([k]) => k !== 'name' && !k.endsWith('initializer') && k !== 'inbound_nodes')),
  }));
}

/** Throws ERR_THREADFIT_INVALID_OPTION naming the first difference between a checkpoint and the expectation. */
export function checkCompatible(ckpt: LoadedCheckpoint, expect: CheckpointExpectation): void {
  const refuse = (what: string) => {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `checkpoint ${ckpt.name} was made for ${what}`);
  };
  if (expect.weights) {
    const ours = expect.weights;
    if (ours.length !== ckpt.weightSpecs.length) refuse(`a model with ${ckpt.weightSpecs.length} weights, this model has ${ours.length}`);
    ckpt.weightSpecs.forEach((w, i) => {
      if (dims(w.shape) !== dims(ours[i].shape))
        refuse(
          `weight ${w.name} of shape ${dims(w.shape)}, this model has ${dims(ours[i].shape)}${ours[i].name && ours[i].name !== w.name ? ` (${ours[i].name})` : ''}`,
        );
    });
  }
  if (expect.topology) {
    const a = layerSignature(ckpt.modelTopology);
    const b = layerSignature(expect.topology);
    if (a.map((l) => l.cls).join() !== b.map((l) => l.cls).join())
      refuse(`a model with layers ${a.map((l) => l.cls).join(', ')}, this model has ${b.map((l) => l.cls).join(', ')}`);
    a.forEach((l, i) => {
      for (const k of new Set([...Object.keys(l.config), ...Object.keys(b[i].config)])) {
        const [x, y] = [JSON.stringify(l.config[k]), JSON.stringify(b[i].config[k])];
        if (x !== y) refuse(`a model whose layer ${i} (${l.cls}) has ${k} ${x}, this model has ${y}`);
      }
    });
  }
  const d = expect.dataShape;
  if (d) {
    const c = ckpt.dataShape;
    if (d.inputShape && dims(d.inputShape) !== dims(c.inputShape)) refuse(`data of input shape ${dims(c.inputShape)}, this data has ${dims(d.inputShape)}`);
    if (d.classes !== undefined && d.classes !== c.classes) refuse(`data with ${c.classes} classes, this data has ${d.classes}`);
    if (d.trainCount !== undefined && d.trainCount !== c.trainCount) refuse(`a training set of ${c.trainCount} samples, this one has ${d.trainCount}`);
  }
}
