export { installWasmMatMulFix, isWasmMatMulFixInstalled, registerTransposedOperand, unregisterTransposedOperand } from './matmul-fix.js';
export { installWasmGradientKernels, isWasmGradientKernelInstalled, WASM_GRADIENT_KERNELS } from './wasm-grad-kernels.js';
export { installTensorflowReluGrad, isTensorflowReluGradInstalled } from './tensorflow-grads.js';
export { registerChainedOps } from './chained-ops.js';
export { withSeededMathRandom } from './seeded-random.js';
export { TransposedWeights, TRANSPOSE_MIN_ELEMENTS } from './transposed-weights.js';
export { HeapTranspose } from './heap-transpose.js';
export { setupBackend, type BackendSetup } from './backend.js';
export { Replica } from './replica.js';
export { wasmDenseStep, wasmStepFits, WASM_STEP_MAX_MACS } from './wasm-dense-step.js';
export { ChunkUpdater } from './updater.js';
export { TensorIO } from './heap-io.js';

/** Absolute URL of the worker entry, for piscina's `filename`. */
export const workerEntryUrl: URL = new URL('./entry.js', import.meta.url);
