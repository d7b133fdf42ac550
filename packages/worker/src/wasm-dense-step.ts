/**
 * The native step on the wasm backend: a Dense chain's forward and backward on threadfit's own
 * WebAssembly SIMD kernels (@threadfit/shared's assembly/dense-step.ts), behind the same
 * DenseStepBinding as the AVX-512 and TF-graph steps of the tensorflow backend (native-step.ts),
 * so the loss, metrics and output gradient stay in output-loss.ts and the weights and gradients
 * go straight between the shared buffers and this worker's own memory.
 *
 * Why: on tfjs kernels a step of a small chain is ~20 kernel dispatches of a few hundred flops
 * each. For iris's 4-10-3 MLP that is ~0.2-0.4 ms a step, all of it dispatch, and two ranks
 * waiting on each other's dispatch jitter at every barrier; here it is a few microseconds.
 * Larger chains stay on tfjs's kernels, whose GEMM (XNNPACK) outruns these plain SIMD loops from
 * ~8k multiply-adds per row: `wasmStepFits` draws the line.
 *
 * One memory per step, laid out when the step is created and grown when a step has more rows:
 * [static data | weights | gradients | x | each stage's output | dz of the output | two da buffers].
 */
import { DENSE_ACTIVATIONS, loadDenseStepKernels, type DenseActivation, type DenseStepKernels } from '@threadfit/shared/core';
import type { DenseStepBinding } from './native-step.js';

interface Stage {
  units: number;
  bias: boolean;
  activation: string;
}

/**
 * A chain takes the wasm step when a row costs at most this many multiply-adds (the sum of its
 * kernels' sizes). Measured against the dense fast path on tfjs's wasm kernels, per step, warm
 * (docs/PERFORMANCE.md, "The wasm native step"): 4.4-4.7k per row, 1.3-1.8x faster at 32-64 rows;
 * 8.5-8.8k, even (0.97-1.12x); 17k and up, tfjs is faster (XNNPACK's GEMM against these plain SIMD
 * loops). iris (70) and abalone (~3k) take it; the seed (407k) keeps tfjs's kernels.
 */
export const WASM_STEP_MAX_MACS = 6144;

/** Whether a chain of these stages (kernel [in, units] each, `inputWidth` floats in) is small enough for the wasm step. */
export function wasmStepFits(units: readonly number[], inputWidth: number): boolean {
  let macs = 0;
  let width = inputWidth;
  for (const u of units) {
    macs += width * u;
    width = u;
  }
  return macs <= WASM_STEP_MAX_MACS;
}

class Step {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  readonly kernels: DenseStepKernels;
  /** Per stage: input width, units, bias, activation code. */
  readonly stages: Array<{ in: number; units: number; bias: boolean; activation: number }>;
  /** Byte offsets of each weight (kernel, then bias) and its gradient, in the binding's order. */
  readonly weightAt: number[] = [];
  readonly gradAt: number[] = [];
  readonly weightSizes: number[] = [];
  /** Where the per-row buffers start, and the rows they are laid out for. */
  readonly rowsBase: number;
  rows = 0;
  n = 0;
  xAt = 0;
  actAt: number[] = [];
  dzAt = 0;
  daAt: [number, number] = [0, 0];
  f32 = new Float32Array(0);

  constructor(stages: readonly Stage[], inputWidth: number) {
    this.kernels = loadDenseStepKernels(this.memory);
    let width = inputWidth;
    this.stages = stages.map((s) => {
      if (!Object.hasOwn(DENSE_ACTIVATIONS, s.activation)) throw new Error(`the wasm native step has no activation '${s.activation}'`);
      const code = DENSE_ACTIVATIONS[s.activation as DenseActivation];
      const st = { in: width, units: s.units, bias: s.bias, activation: code };
      width = s.units;
      return st;
    });
    for (const s of this.stages) {
      this.weightSizes.push(s.in * s.units);
      if (s.bias) this.weightSizes.push(s.units);
    }
    let at = this.kernels.heapBase();
    for (const size of this.weightSizes) {
      this.weightAt.push(at);
      at += align(size * 4);
    }
    for (const size of this.weightSizes) {
      this.gradAt.push(at);
      at += align(size * 4);
    }
    this.rowsBase = at;
  }

  /** Lays out the per-row buffers for `n` rows (growing the memory when needed). */
  reserve(n: number): void {
    if (n <= this.rows) return;
    let at = this.rowsBase;
    const take = (floats: number): number => {
      const start = at;
      at += align(floats * 4);
      return start;
    };
    this.xAt = take(n * this.stages[0].in);
    this.actAt = this.stages.map((s) => take(n * s.units));
    this.dzAt = take(n * this.stages[this.stages.length - 1].units);
    const widest = Math.max(...this.stages.map((s) => s.in));
    this.daAt = [take(n * widest), take(n * widest)];
    const pages = Math.ceil(at / 65536) - this.memory.buffer.byteLength / 65536;
    if (pages > 0) this.memory.grow(pages);
    this.rows = n;
    this.f32 = new Float32Array(this.memory.buffer);
  }

  floats(byteOffset: number, count: number): Float32Array {
    return this.f32.subarray(byteOffset >> 2, (byteOffset >> 2) + count);
  }
}

const align = (bytes: number): number => (bytes + 15) & ~15;

/** The wasm native step's binding (one memory and kernel instance per created step). */
export const wasmDenseStep: DenseStepBinding = {
  createDenseStep(stages, inputWidth) {
    return new Step(stages, inputWidth);
  },

  forward(handle, x, n, weights) {
    const s = handle as Step;
    s.reserve(n);
    s.n = n;
    weights.forEach((w, i) => s.floats(s.weightAt[i], s.weightSizes[i]).set(w));
    s.floats(s.xAt, n * s.stages[0].in).set(x.subarray(0, n * s.stages[0].in));
    const k = s.kernels;
    let a = s.xAt;
    let w = 0;
    s.stages.forEach((st, l) => {
      const kernel = s.weightAt[w++];
      const bias = st.bias ? s.weightAt[w++] : 0;
      k.matmul(a, kernel, s.actAt[l], n, st.in, st.units);
      k.biasActivate(s.actAt[l], bias, n, st.units, st.activation);
      a = s.actAt[l];
    });
    const last = s.stages[s.stages.length - 1];
    return s.floats(a, n * last.units);
  },

  backward(handle, dz, grads) {
    const s = handle as Step;
    const k = s.kernels;
    const n = s.n;
    const last = s.stages.length - 1;
    s.floats(s.dzAt, n * s.stages[last].units).set(dz.subarray(0, n * s.stages[last].units));
    let d = s.dzAt;
    let g = s.weightSizes.length;
    for (let l = last; l >= 0; l--) {
      const st = s.stages[l];
      const input = l === 0 ? s.xAt : s.actAt[l - 1];
      const biasGrad = st.bias ? --g : -1;
      const kernelGrad = --g;
      k.matmulTransposeA(input, d, s.gradAt[kernelGrad], n, st.in, st.units);
      if (biasGrad >= 0) k.columnSums(d, n, st.units, s.gradAt[biasGrad]);
      if (l === 0) break;
      const da = s.daAt[l % 2];
      k.matmulTransposeB(d, s.weightAt[kernelGrad], da, n, st.units, st.in);
      k.activationGrad(s.stages[l - 1].activation, s.actAt[l - 1], da, n * st.in);
      d = da;
    }
    grads.forEach((out, i) => out.set(s.floats(s.gradAt[i], s.weightSizes[i])));
  },
};
