/** What the workers need to rebuild a compiled model: topology, loss, metrics and the weight map. */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, type ModelSpec, type WeightSpec } from '@threadfit/shared';

function identifiers(x: unknown, what: string): string[] {
  const list = x === undefined || x === null ? [] : Array.isArray(x) ? x : typeof x === 'object' ? Object.values(x as object) : [x];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    const name = (v as { name?: string } | undefined)?.name;
    throw new ThreadfitError(
      ErrorCodes.UNSUPPORTED,
      `model.compile's ${what} must be given by name to train across threads; got a function${name ? ` (${name})` : ''}`,
    );
  });
}

/**
 * Reads the spec from a compiled model. Trainable weights are packed in model.trainableWeights order
 * (the order tfjs hands to the optimizer) into the parameter vector; non-trainable ones, in
 * model.weights order, into the buffers.
 */
export function modelSpecOf(model: tfTypes.LayersModel): ModelSpec {
  const compiled = model as unknown as { loss?: unknown; metrics?: unknown; isTraining?: boolean; optimizer?: unknown };
  if (compiled.optimizer == null || compiled.loss == null) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, 'the model must be compiled first: call model.compile({ loss, optimizer, metrics })');
  }
  const trainable = new Set(model.trainableWeights.map((w) => w.name));
  const offsets = new Map<string, number>();
  const size = (shape: ReadonlyArray<number | null>) => shape.reduce<number>((a, b) => a * (b ?? 1), 1);
  let cursor = 0;
  for (const w of model.trainableWeights) {
    offsets.set(w.name, cursor);
    cursor += size(w.shape);
  }
  let buffers = 0;
  for (const w of model.weights) {
    if (trainable.has(w.name)) continue;
    offsets.set(w.name, buffers);
    buffers += size(w.shape);
  }
  const weights: WeightSpec[] = model.weights.map((w) => {
    const shape = w.shape.map((d) => d ?? 1);
    return { name: w.name, shape, size: size(shape), trainable: trainable.has(w.name), offset: offsets.get(w.name)! };
  });
  return {
    topology: model.toJSON(null, false) as object,
    loss: identifiers(compiled.loss, 'loss'),
    metrics: identifiers(compiled.metrics, 'metrics'),
    metricCount: Math.max(0, (model.metricsNames?.length ?? 1) - 1),
    weights,
    paramCount: cursor,
    bufferCount: buffers,
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
