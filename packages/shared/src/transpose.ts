/**
 * Loader for the SIMD float32 transpose (assembly/transpose.ts, built to build/transpose.wasm).
 * Unlike the update kernels it imports a NON-shared memory: the worker binds it to the tfjs wasm
 * backend's heap, so it transposes one tensor's bytes into another's in place of tfjs's
 * Transpose kernel (~3.5x faster on 784x512) or a JS loop (~9x).
 */
import { readFileSync } from 'node:fs';

export interface TransposeKernel {
  /**
   * dst = transpose(src) for a row-major `rows` x `cols` float32 matrix; both are byte offsets
   * into the bound memory, 4-byte aligned, not overlapping.
   */
  transpose2d(srcByteOffset: number, dstByteOffset: number, rows: number, cols: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** Instantiates the transpose against `memory` (any non-shared memory; the module has no data of its own). */
export function loadTransposeKernel(memory: WebAssembly.Memory): TransposeKernel {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('../build/transpose.wasm', import.meta.url)));
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  const transpose2d = instance.exports.transpose2d as (src: number, dst: number, rows: number, cols: number) => void;
  return { transpose2d };
}

/** Plain-JS reference of transpose2d on Float32Arrays (tests). */
export function referenceTranspose(src: Float32Array, rows: number, cols: number): Float32Array {
  const dst = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return dst;
}
