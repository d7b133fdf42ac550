/**
 * The wasm backend's BatchMatMul runs 10-20x slower when an operand is transposed (1.8-3.6
 * GFLOP/s against 44 untransposed, DESIGN.md), and the backward pass of every Dense layer uses
 * both transposes. This re-registers the kernel so that a transposed operand is first materialised
 * by the wasm Transpose kernel and the fast untransposed matmul does the work.
 *
 * Exported for single-thread tfjs users too: call `installWasmMatMulFix(tf)` before
 * `tf.setBackend('wasm')` (or after: the original kernel's setup is reused either way).
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;
type TensorInfo = tfTypes.TensorInfo;
interface WasmBackendLike {
  disposeData(dataId: object): boolean;
}

const FIXED = Symbol.for('threadfit.wasmMatMulFix');

/** True when the fix is registered in this tfjs instance. */
export function isWasmMatMulFixInstalled(tf: Tf): boolean {
  const k = tf.getKernel('BatchMatMul', 'wasm') as unknown as Record<symbol, boolean> | undefined;
  return k?.[FIXED] === true;
}

export function installWasmMatMulFix(tf: Tf): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (original === undefined) {
    throw new Error("installWasmMatMulFix: no 'wasm' BatchMatMul kernel registered; import '@tensorflow/tfjs-backend-wasm' first");
  }
  if (isWasmMatMulFixInstalled(tf)) return;
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (transpose === undefined) throw new Error("installWasmMatMulFix: no 'wasm' Transpose kernel registered");

  const swapLastTwo = (rank: number): number[] => {
    const perm = Array.from({ length: rank }, (_, i) => i);
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    return perm;
  };

  const kernelFunc: tfTypes.KernelFunc = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original.kernelFunc({ inputs, backend, attrs });
    const wasm = backend as unknown as WasmBackendLike;
    const materialise = (t: TensorInfo): TensorInfo =>
      transpose.kernelFunc({ inputs: { x: t }, backend, attrs: { perm: swapLastTwo(t.shape.length) } }) as TensorInfo;
    const a2 = transposeA ? materialise(a) : a;
    const b2 = transposeB ? materialise(b) : b;
    try {
      return original.kernelFunc({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    } finally {
      // The transposed copies are ours (never seen by the engine): free them here.
      if (a2 !== a) wasm.disposeData(a2.dataId);
      if (b2 !== b) wasm.disposeData(b2.dataId);
    }
  };

  tf.unregisterKernel('BatchMatMul', 'wasm');
  const config = { kernelName: 'BatchMatMul', backendName: 'wasm', setupFunc: original.setupFunc, kernelFunc, [FIXED]: true };
  tf.registerKernel(config as tfTypes.KernelConfig);
}
