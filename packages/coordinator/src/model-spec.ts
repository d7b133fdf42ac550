/** What the workers need to rebuild a compiled model: topology, loss, metrics and the weight map. */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, type ModelSpec, type WeightSpec } from '@threadfit/shared';

function identifiers(x: unknown, what: string): string[] {
  const list = x === undefined || x === null ? [] : Array.isArray(x) ? x : typeof x === 'object' ? Object.values(x as object) : [x];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    const name = (v as { name?: string } | undefined)?.name;
    throw new ThreadfitError(ErrorCodes.UNSUPPORTED, `model.compile's ${what} must be given by name to train across threads; got a function${name ? ` (${name})` : ''}`);
  });
}

/**
 * Reads the spec from a compiled model. Trainable weights are packed in model.trainableWeights order
 * (the order tfjs hands to the optimizer); non-trainable ones are listed with offset -1.
 */
export function modelSpecOf(model: tfTypes.LayersModel): ModelSpec {
  const compiled = model as unknown as { loss?: unknown; metrics?: unknown; isTraining?: boolean; optimizer?: unknown };
  if (compiled.optimizer == null || compiled.loss == null) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'the model must be compiled first: call model.compile({ loss, optimizer, metrics })');
  }
  const trainable = new Set(model.trainableWeights.map((w) => w.name));
  const offsets = new Map<string, number>();
  let cursor = 0;
  for (const w of model.trainableWeights) {
    offsets.set(w.name, cursor);
    cursor += w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
  }
  const weights: WeightSpec[] = model.weights.map((w) => {
    const shape = w.shape.map((d) => d ?? 1);
    return { name: w.name, shape, size: shape.reduce((a, b) => a * b, 1), trainable: trainable.has(w.name), offset: offsets.get(w.name) ?? -1 };
  });
  return {
    topology: model.toJSON(null, false) as object,
    loss: identifiers(compiled.loss, 'loss'),
    metrics: identifiers(compiled.metrics, 'metrics'),
    weights,
    paramCount: cursor,
  };
}

/** SHA-256 (hex) of weights as little-endian float32, concatenated in model.getWeights() order. */
export async function weightsSha256(weights: Float32Array[]): Promise<string> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (const w of weights) {
    const bytes = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
    if (littleEndian) h.update(bytes);
    else {
      const copy = new DataView(new ArrayBuffer(w.byteLength));
      w.forEach((x, i) => copy.setFloat32(i * 4, x, true));
      h.update(new Uint8Array(copy.buffer));
    }
  }
  return h.digest('hex');
}
