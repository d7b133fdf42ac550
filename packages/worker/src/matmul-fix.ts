/**
 * The wasm backend's BatchMatMul runs 10-20x slower when an operand is transposed (1.8-3.6
 * GFLOP/s against 44 untransposed, DESIGN.md), and the backward pass of every Dense layer uses
 * both transposes. This re-registers the kernel so that a transposed operand is first materialised
 * by the wasm Transpose kernel and the fast untransposed matmul does the work.
 *
 * Exported for single-thread tfjs users too: call `installWasmMatMulFix(tf)` before
 * `tf.setBackend('wasm')` (or after: the original kernel's setup is reused either way).
 *
 * Registered transposes (opt-in, used by the worker's replica): XNNPACK packs the right operand b
 * of an untransposed a[M,K]·b[K,N] and caches the packed copy by b's tensor id. A replica loads
 * new weights (new tensor ids) every step, so the forward matmul of a big Dense layer repacked
 * its whole kernel every step (784x512: 5.3 ms instead of 2.1 ms at M=64). When the caller has
 * registered bᵀ for b (`registerTransposedOperand`) and M is small against N, the kernel computes
 * (bᵀ·aᵀ)ᵀ instead: the packed operand is then aᵀ ([K,M], small), and the transposes are done in
 * the wasm heap by a SIMD kernel (heap-transpose.ts). Each output element is the same sum over k
 * in the same order; only the kernel changes, so tfjs still records a·b for the backward pass.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { HeapTranspose } from './heap-transpose.js';

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

/**
 * bᵀ by b's dataId (weak: a disposed b's entry goes with it). The registrant owns bᵀ. A reshape
 * of b shares its dataId, so the kernel also checks b's shape against bᵀ's.
 */
const transposedOperands = new WeakMap<object, TensorInfo>();

/**
 * Registers `transposed` ([N,K], a float32 wasm backend tensor) as the transpose of the 2-D tensor
 * `b` ([K,N]), identified by its dataId. Until `unregisterTransposedOperand`, an untransposed
 * BatchMatMul a·b with a small M may run as (bᵀ·aᵀ)ᵀ (see the top of this file). The caller keeps
 * ownership of `transposed` (unregister before freeing it) and must never change b's bytes in
 * place while registered (tfjs itself never does: assign gives a new dataId).
 */
export function registerTransposedOperand(b: { dataId: object; shape: readonly number[] }, transposed: TensorInfo): void {
  const [k, n] = b.shape;
  if (b.shape.length !== 2 || transposed.shape.length !== 2 || transposed.shape[0] !== n || transposed.shape[1] !== k || transposed.dtype !== 'float32') {
    throw new Error(`registerTransposedOperand: a [${transposed.shape}] ${transposed.dtype} tensor is not the float32 transpose of a [${b.shape}] one`);
  }
  transposedOperands.set(b.dataId, transposed);
}

export function unregisterTransposedOperand(b: { dataId: object }): void {
  transposedOperands.delete(b.dataId);
}

/**
 * Whether (bᵀ·aᵀ)ᵀ beats a·b with an uncached b, for a[M,K]·b[K,N]: the swap packs aᵀ (K·M
 * floats) instead of b (K·N) and adds two transposes of M·K and M·N floats, so it wins while M is
 * small against N. Measured at K=784, N=512 on wasm with new weights every call
 * (scripts/bench-matmul-swap.mjs): M=64 2.2 ms instead of 3.9, M=128 4.4 instead of 6.2,
 * M=256 about even, M=512 loses.
 */
function swapPays(m: number, n: number): boolean {
  return 2 * m <= n;
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
    const wasm = backend as unknown as WasmBackendLike;
    if (!transposeA && !transposeB) {
      const bt = transposedOperands.get(b.dataId);
      if (
        bt === undefined ||
        a.shape.length !== 2 ||
        b.shape.length !== 2 ||
        a.dtype !== 'float32' ||
        b.shape[0] !== bt.shape[1] ||
        b.shape[1] !== bt.shape[0] ||
        !swapPays(a.shape[0], b.shape[1])
      ) {
        return original.kernelFunc({ inputs, backend, attrs });
      }
      const heap = HeapTranspose.for(backend);
      if (heap === undefined) return original.kernelFunc({ inputs, backend, attrs });
      // (bᵀ·aᵀ)ᵀ: [N,K]·[K,M] = [N,M], transposed back to [M,N]. Intermediates are ours.
      const at = heap.transposed(a);
      let r: TensorInfo;
      try {
        r = original.kernelFunc({ inputs: { a: bt, b: at }, backend, attrs }) as TensorInfo;
      } finally {
        // Freeing aᵀ also deletes the XNNPACK operator cached on its id.
        wasm.disposeData(at.dataId);
      }
      try {
        return heap.transposed(r);
      } finally {
        wasm.disposeData(r.dataId);
      }
    }
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
