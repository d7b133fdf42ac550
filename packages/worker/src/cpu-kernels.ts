/**
 * threadfit's own AVX-512 kernels (native/src/cpu_kernels.cc, issue 20): the native step of a Dense
 * chain on its own GEMM, and the fused reduce + Adam bit for bit as the WebAssembly kernel. The
 * addon needs no TensorFlow; scripts/setup-tensorflow.mjs builds it beside the TF graph addon.
 * Used only where the CPU has AVX-512F; `THREADFIT_NATIVE_UPDATE=0` keeps the WebAssembly Adam.
 */
import { createRequire } from 'node:module';
import { switchValue, type NativeKernels } from '@threadfit/shared/core';
import type { DenseStepBinding } from './native-step.js';

export interface CpuKernels extends DenseStepBinding, NativeKernels {
  readonly avx512: boolean;
}

let loaded: CpuKernels | string | undefined;

/** The addon where the CPU can run it, or why not. */
export function cpuKernels(): CpuKernels | string {
  if (loaded !== undefined) return loaded;
  try {
    const require = createRequire(import.meta.url);
    const k = require('../native/build/Release/cpu_kernels.node') as CpuKernels;
    loaded = k.avx512 ? k : 'the CPU has no AVX-512F';
  } catch (err) {
    loaded = `threadfit's AVX-512 kernels are not built (npm run setup:tensorflow builds them): ${(err as Error).message.split('\n')[0]}`;
  }
  return loaded;
}

/** The native Adam for the update kernels, unless switched off or unavailable. */
export function nativeUpdateKernels(): NativeKernels | undefined {
  if (switchValue('THREADFIT_NATIVE_UPDATE') === '0') return undefined;
  const k = cpuKernels();
  return typeof k === 'string' ? undefined : k;
}
