/**
 * Loader for the wasm native step's kernels (assembly/dense-step.ts, built to build/dense-step.wasm):
 * a Dense chain's matmuls, bias + activation and their gradients in WebAssembly SIMD, bound to a
 * memory of the caller's own (packages/worker/src/wasm-dense-step.ts lays it out).
 */
import { readFileSync } from 'node:fs';

/** Activation codes of the kernels (assembly/dense-step.ts). */
export const DENSE_ACTIVATIONS = { linear: 0, relu: 1, sigmoid: 2, tanh: 3, softmax: 4 } as const;
export type DenseActivation = keyof typeof DENSE_ACTIVATIONS;

/** The kernels; every buffer argument is a byte offset into the bound memory, matrices row-major float32. */
export interface DenseStepKernels {
  /** c[n, m] = a[n, k] . b[k, m] */
  matmul(a: number, b: number, c: number, n: number, k: number, m: number): void;
  /** c[k, m] = a[n, k]^T . b[n, m], summed over the rows in order. */
  matmulTransposeA(a: number, b: number, c: number, n: number, k: number, m: number): void;
  /** c[n, k] = a[n, m] . b[k, m]^T */
  matmulTransposeB(a: number, b: number, c: number, n: number, m: number, k: number): void;
  /** z[n, units] += bias (unless bias is 0), then the activation (DENSE_ACTIVATIONS), in place. */
  biasActivate(z: number, bias: number, n: number, units: number, activation: number): void;
  /** out[units] = the column sums of dz[n, units], rows in order. */
  columnSums(dz: number, n: number, units: number, out: number): void;
  /** da *= the activation's derivative, taken from its output `out` (count elements). */
  activationGrad(activation: number, out: number, da: number, count: number): void;
  /** The first byte offset the caller may use (16-aligned); below it are the module's static data. */
  heapBase(): number;
}

let compiled: WebAssembly.Module | undefined;

/** Instantiates the kernels against `memory` (a non-shared memory the caller owns). */
export function loadDenseStepKernels(memory: WebAssembly.Memory): DenseStepKernels {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('../build/dense-step.wasm', import.meta.url)));
  return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as DenseStepKernels;
}
