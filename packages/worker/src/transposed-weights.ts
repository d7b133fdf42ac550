/**
 * The transposes of a replica's big 2-D weights, rebuilt whenever the weights are reloaded and
 * registered with the BatchMatMul fix (matmul-fix.ts `registerTransposedOperand`), so that the
 * forward matmul x·W of a Dense layer packs the small xᵀ instead of repacking W every step.
 * wasm backend only (with the fix installed); elsewhere `create` returns undefined.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { HeapTranspose } from './heap-transpose.js';
import { isWasmMatMulFixInstalled, registerTransposedOperand, unregisterTransposedOperand } from './matmul-fix.js';

type Tf = typeof tfTypes;

/**
 * Weights smaller than this (elements) are left alone: repacking them costs little. The seed
 * model's 784x512 kernel (401k) is transposed, its 512x10 one (5k) is not.
 */
export const TRANSPOSE_MIN_ELEMENTS = 16384;

export class TransposedWeights {
  #held: Array<{ weight: { dataId: object }; transposed: tfTypes.TensorInfo }> = [];

  private constructor(
    private readonly heap: HeapTranspose,
    private readonly minElements: number,
  ) {}

  static create(tf: Tf, minElements = TRANSPOSE_MIN_ELEMENTS): TransposedWeights | undefined {
    if (tf.getBackend() !== 'wasm' || !isWasmMatMulFixInstalled(tf)) return undefined;
    const heap = HeapTranspose.for(tf.backend());
    return heap === undefined ? undefined : new TransposedWeights(heap, minElements);
  }

  /** Frees the previous transposes and builds those of `weights`' current values. */
  refresh(weights: readonly tfTypes.Variable[]): void {
    this.release();
    for (const w of weights) {
      if (w.rank !== 2 || w.dtype !== 'float32' || w.size < this.minElements) continue;
      const transposed = this.heap.transposed(w);
      // The dataId of the variable's current value (a later assign gives it a new one).
      const weight = { dataId: w.dataId };
      registerTransposedOperand({ dataId: w.dataId, shape: w.shape }, transposed);
      this.#held.push({ weight, transposed });
    }
  }

  /** Unregisters and frees every transpose held. */
  release(): void {
    for (const { weight, transposed } of this.#held) {
      unregisterTransposedOperand(weight);
      this.heap.dispose(transposed);
    }
    this.#held = [];
  }
}
