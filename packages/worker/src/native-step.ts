/**
 * The native step (issue 20) of a Dense chain: the dense fast path's forward and backward, each
 * as one call, behind one binding (DenseStepBinding) with three implementations: on wasm,
 * threadfit's WebAssembly SIMD kernels for small chains (wasm-dense-step.ts); on tensorflow,
 * threadfit's AVX-512 kernels (cpu-kernels.ts) where the CPU has them, else ONE TF_SessionRun
 * per pass on a graph built once per worker
 * (native/src/graph_step.cc, on the libtensorflow tfjs-node uses). Per pass that is one call into
 * TensorFlow instead of ~14 eager kernels, each with tfjs-node's dispatch, and the two workers'
 * graphs run on their own thread pools, where their eager kernels slowed each other down by
 * 1.5-1.7x per row (docs/PERFORMANCE.md). The loss, the metrics and the output gradient stay in
 * JavaScript (output-loss.ts), as on the dense fast path, so the same losses and metrics are
 * supported and the result equals it to float32 rounding (tests: test/native-step.test.ts,
 * test/wasm-native-step.test.ts).
 *
 * The weights are read where they are committed (shared memory) and the gradients written into
 * the gradient slot: no tfjs variable is loaded on this path. The tensorflow addons are built by
 * scripts/setup-tensorflow.mjs; without them, for a larger chain on wasm, on cpu, or with
 * THREADFIT_NATIVE_STEP=0, the dense fast path runs.
 */
import { createRequire } from 'node:module';
import { switchValue, type NativeStepKind } from '@threadfit/shared/core';
import { cpuKernels } from './cpu-kernels.js';
import { outputLoss } from './output-loss.js';
import { WASM_STEP_MAX_MACS, wasmDenseStep, wasmStepFits } from './wasm-dense-step.js';
import type { DenseChainPlan } from './dense-chain.js';

/** The JS API of every native step: both addons (graph_step.cc and cpu_kernels.cc) and the wasm step (wasm-dense-step.ts). */
export interface DenseStepBinding {
  createDenseStep(stages: Array<{ units: number; bias: boolean; activation: string }>, inputWidth: number): unknown;
  forward(step: unknown, x: Float32Array, n: number, weights: Float32Array[]): Float32Array;
  backward(step: unknown, dz: Float32Array, grads: Float32Array[]): void;
}

/** Which kernels a native step runs on: threadfit's AVX-512 GEMM, TensorFlow's graph, or threadfit's WebAssembly SIMD. */
export type { NativeStepKind };

export interface NativeStepAddon {
  binding: DenseStepBinding;
  kind: NativeStepKind;
}

let loaded: NativeStepAddon | string | undefined;

/**
 * The native step's addon, or why there is none: the AVX-512 kernels where the CPU has them,
 * else the TF graph. THREADFIT_NATIVE_STEP=0 switches the native step off, =graph forces the TF graph.
 */
export function nativeStepBinding(): NativeStepAddon | string {
  if (loaded !== undefined) return loaded;
  const mode = switchValue('THREADFIT_NATIVE_STEP');
  if (mode === '0') return (loaded = 'THREADFIT_NATIVE_STEP=0');
  const own = mode === 'graph' ? 'THREADFIT_NATIVE_STEP=graph' : cpuKernels();
  if (typeof own !== 'string') return (loaded = { binding: own, kind: 'avx512' });
  try {
    const require = createRequire(import.meta.url);
    loaded = { binding: require('../native/build/Release/graph_step.node') as DenseStepBinding, kind: 'tf-graph' };
  } catch (err) {
    loaded = `the native step's addons are not built (npm run setup:tensorflow builds them): ${(err as Error).message.split('\n')[0]}; ${own}`;
  }
  return loaded;
}

/**
 * The native step for a Dense chain (`units` per stage, `inputWidth` floats per row) on `backend`,
 * or why it has none: on tensorflow the addons above; on wasm threadfit's WebAssembly kernels
 * where the chain is small enough (wasm-dense-step.ts); on cpu none (the reference backend).
 */
export function nativeStepFor(backend: string, units: readonly number[], inputWidth: number): NativeStepAddon | string {
  if (backend === 'tensorflow') return nativeStepBinding();
  if (backend !== 'wasm') return `no native step on backend '${backend}'`;
  if (switchValue('THREADFIT_NATIVE_STEP') === '0') return 'THREADFIT_NATIVE_STEP=0';
  if (!wasmStepFits(units, inputWidth)) return `a row costs more than ${WASM_STEP_MAX_MACS} multiply-adds: tfjs's kernels are faster there`;
  return { binding: wasmDenseStep, kind: 'wasm-simd' };
}

/** A trainable weight's place in the shared parameter vector, in the replica's variable order. */
export interface WeightPlace {
  offset: number;
  size: number;
}

export class NativeDenseStep {
  readonly #step: unknown;
  /** The variables in the order the addon takes them: per stage, its kernel then its bias. */
  readonly #order: number[];
  readonly #cache = new WeakMap<Float32Array, Float32Array[]>();

  constructor(
    private readonly binding: DenseStepBinding,
    private readonly plan: DenseChainPlan,
    private readonly places: readonly WeightPlace[],
    inputWidth: number,
    units: number[],
  ) {
    this.#order = plan.stages.flatMap((s) => (s.bias === undefined ? [s.kernel] : [s.kernel, s.bias]));
    this.#step = binding.createDenseStep(
      plan.stages.map((s, i) => ({ units: units[i], bias: s.bias !== undefined, activation: s.activation })),
      inputWidth,
    );
  }

  /**
   * Forward and backward of `n` rows `x` ([n, inputWidth] row-major) against targets `y` ([n, C]),
   * with the weights in `params` (a committed parameter buffer); the gradient of the mean loss goes
   * into `slot`.
   */
  grad(x: Float32Array, n: number, y: Float32Array, params: Float32Array, slot: Float32Array): { lossSum: number; metricSums: number[] } {
    const p = this.binding.forward(this.#step, x, n, this.#views(params));
    const dz = new Float32Array(p.length);
    const { stages, loss, metrics } = this.plan;
    const out = outputLoss(loss, stages[stages.length - 1].activation, metrics, p, y, n, dz);
    this.binding.backward(this.#step, dz, this.#views(slot));
    return { lossSum: out.lossSum, metricSums: out.metricSums };
  }

  /** Each variable's view into a shared buffer (a parameter buffer or a gradient slot), in the addon's order; made once per buffer. */
  #views(buffer: Float32Array): Float32Array[] {
    let views = this.#cache.get(buffer);
    if (views === undefined) {
      views = this.#order.map((i) => buffer.subarray(this.places[i].offset, this.places[i].offset + this.places[i].size));
      this.#cache.set(buffer, views);
    }
    return views;
  }
}
