/**
 * The gradient kernels tfjs-backend-wasm 4.22 lacks, registered for 'wasm': without them Conv2D,
 * Conv1D, SeparableConv2D and Conv2DTranspose (Conv2DBackpropFilter), DepthwiseConv2D
 * (DepthwiseConv2dNativeBackpropFilter/Input) and Embedding (UnsortedSegmentSum, the gradient of
 * Gather) cannot train on wasm. Each one is composed from the backend's own fast kernels
 * (conv-grad-kernels.ts, below) and tested against the cpu backend's.
 *
 * Exported for single-thread tfjs users: call `installWasmGradientKernels(tf)` after importing
 * '@tensorflow/tfjs-backend-wasm' (before or after tf.setBackend('wasm')). Kernels the wasm backend
 * already has (a later tfjs) are left alone.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { conv2DBackpropFilterKernel, conv2DBackpropInputKernel, depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './conv-grad-kernels.js';
import { inScope, type TensorInfo } from './wasm-kernel-scope.js';
import { maxPoolGradKernel } from './max-pool-grad.js';

type Tf = typeof tfTypes;

const OURS = Symbol.for('threadfit.wasmGradientKernel');

/**
 * UnsortedSegmentSum as the wasm ScatterNd (which adds duplicate indices). Ids outside
 * [0, numSegments) are dropped, as in tfjs and TensorFlow.
 */
function unsortedSegmentSumKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as tfTypes.UnsortedSegmentSumAttrs;
    const rest = x.shape.slice(segmentIds.shape.length);
    const outShape = [numSegments, ...rest];
    const sliceSize = rest.reduce((a, b) => a * b, 1);
    return inScope(tf, backend, (s) => {
      const ids = s.backend.readSync(segmentIds.dataId);
      const valid: number[] = [];
      for (let i = 0; i < ids.length; i++) if (ids[i] >= 0 && ids[i] < numSegments) valid.push(i);
      if (valid.length === 0) return s.upload(new Float32Array(numSegments * sliceSize), outShape);
      let updates = s.view(x, [ids.length, sliceSize]);
      let indices = s.upload(Int32Array.from(ids), [ids.length, 1]);
      if (valid.length < ids.length) {
        updates = s.run('GatherV2', { x: updates, indices: s.upload(Int32Array.from(valid), [valid.length]) }, { axis: 0, batchDims: 0 });
        indices = s.upload(
          Int32Array.from(valid, (i) => ids[i]),
          [valid.length, 1],
        );
      }
      const out = s.run('ScatterNd', { indices, updates }, { shape: [numSegments, sliceSize] });
      return s.view(out, outShape);
    });
  };
}

/** The kernels, by name. */
function gradientKernels(tf: Tf): Record<string, tfTypes.KernelFunc> {
  return {
    Conv2DBackpropFilter: conv2DBackpropFilterKernel(tf),
    Conv2DBackpropInput: conv2DBackpropInputKernel(tf),
    DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilterKernel(tf),
    DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInputKernel(tf),
    UnsortedSegmentSum: unsortedSegmentSumKernel(tf),
    MaxPoolGrad: maxPoolGradKernel(tf),
  };
}

/**
 * Kernels the wasm backend has but gets wrong (MaxPoolGrad, max-pool-grad.ts) or computes in a
 * scalar loop (Conv2DBackpropInput, ~12x slower than this composition): replaced.
 */
const REPLACED = new Set(['MaxPoolGrad', 'Conv2DBackpropInput']);

/** The kernel names installWasmGradientKernels provides. */
export const WASM_GRADIENT_KERNELS: readonly string[] = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'MaxPoolGrad',
];

/** True when threadfit's kernel `name` is the one registered for wasm. */
export function isWasmGradientKernelInstalled(tf: Tf, name: string): boolean {
  const k = tf.getKernel(name, 'wasm') as unknown as Record<symbol, boolean> | undefined;
  return k?.[OURS] === true;
}

/**
 * Registers each missing kernel for 'wasm' (and replaces the stock MaxPoolGrad); returns the
 * names it registered. Idempotent.
 */
export function installWasmGradientKernels(tf: Tf): string[] {
  if (tf.getKernel('BatchMatMul', 'wasm') === undefined) {
    throw new Error("installWasmGradientKernels: no 'wasm' kernels registered; import '@tensorflow/tfjs-backend-wasm' first");
  }
  const registered: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(gradientKernels(tf))) {
    if (isWasmGradientKernelInstalled(tf, kernelName)) continue;
    if (tf.getKernel(kernelName, 'wasm') !== undefined) {
      if (!REPLACED.has(kernelName)) continue;
      tf.unregisterKernel(kernelName, 'wasm');
    }
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, [OURS]: true } as tfTypes.KernelConfig);
    registered.push(kernelName);
  }
  return registered;
}
