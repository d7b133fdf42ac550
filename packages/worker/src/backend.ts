/**
 * Backend set-up: the one place that knows how each tfjs backend is loaded in a worker.
 * 'wasm' (default, pure npm) gets the BatchMatMul fix; 'cpu' is the reference; 'tensorflow'
 * needs @tensorflow/tfjs-node built by `npm run setup:tensorflow` (optional).
 */
import { createRequire } from 'node:module';
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, switchValue, type BackendName } from '@threadfit/shared/core';
import { installWasmMatMulFix } from './matmul-fix.js';
import { registerChainedOps } from './chained-ops.js';
import { installWasmGradientKernels } from './wasm-grad-kernels.js';
import { installTensorflowReluGrad } from './tensorflow-grads.js';

export interface BackendSetup {
  backend: BackendName;
  /** TensorFlow's intra/inter-op threads (tensorflow backend only). */
  threads?: number;
  /** tfjs-node as a user gets it, without threadfit's Relu gradient (the bench's stock baseline). */
  stock?: boolean;
}

let active: BackendName | undefined;

/**
 * tfjs's packages are CommonJS bundles of 0.5-3 MB. Imported from ES modules, Node runs its CJS
 * export lexer and its module-format detection over each in every worker: measured in a worker's
 * CPU profile, ~290 ms of a ~850 ms start-up, and 2 workers loading tfjs-core, tfjs-layers and
 * tfjs-node took 640-660 ms by `import` against 320-380 ms by `require` (same run, 2 cores).
 * Loaded with require, as what they are.
 */
const load = createRequire(import.meta.url);
const core = load('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
const layers = load('@tensorflow/tfjs-layers') as typeof import('@tensorflow/tfjs-layers');

/**
 * What a worker runs tfjs with: tfjs-core (ops, engine, gradients) and tfjs-layers (the model),
 * the two halves of @tensorflow/tfjs a replica uses. Loading the union package would also load
 * the converter, tfjs-data and the cpu and webgl backends into every worker isolate: ~20 MB of
 * RSS per worker for nothing. The object has the union's shape for the parts a worker touches.
 */
const tf = { ...core, ...layers } as unknown as typeof tfTypes;
// Without the union, tensors lack the chained methods (t.flatten(), t.add(b)) that tfjs-layers
// and custom layers call: define them once, for every backend (chained-ops.ts).
registerChainedOps(tf);

export async function setupBackend(opts: BackendSetup): Promise<typeof tf> {
  if (active === opts.backend) return tf;
  switch (opts.backend) {
    case 'wasm': {
      const wasm = load('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
      installWasmMatMulFix(tf);
      // Conv2DBackpropFilter, the depthwise gradients, UnsortedSegmentSum (wasm-grad-kernels.ts).
      installWasmGradientKernels(tf);
      // The wasm backend is single-threaded in Node anyway; say so explicitly so that W workers
      // map onto W cores without oversubscription.
      wasm.setThreadsCount?.(1);
      break;
    }
    case 'cpu':
      load('@tensorflow/tfjs-backend-cpu');
      break;
    case 'tensorflow':
      // Registers backend 'tensorflow' on the same tfjs-core instance (all @tensorflow/* are
      // pinned to 4.22.0, so there is one copy) and switches to it. TensorFlow's thread pools
      // are sized from TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, which the coordinator
      // sets before any worker starts (they are read once per process).
      try {
        load('@tensorflow/tfjs-node');
      } catch (err) {
        throw new ThreadfitError(
          ErrorCodes.BACKEND,
          `backend 'tensorflow' is not available: @tensorflow/tfjs-node did not load (${(err as Error).message.split('\n')[0]}); run \`npm run setup:tensorflow\` (see docs/TENSORFLOW-SETUP.md) or use --backend wasm`,
          { cause: err },
        );
      }
      // Relu's gradient as TensorFlow's one ReluGrad kernel instead of tfjs-node's ~8
      // (tensorflow-grads.ts); THREADFIT_TF_RELU_GRAD=0 keeps tfjs's, for comparisons.
      if (opts.stock !== true && switchValue('THREADFIT_TF_RELU_GRAD') !== '0') installTensorflowReluGrad(tf);
      break;
  }
  const ok = await tf.setBackend(opts.backend);
  if (!ok) throw new ThreadfitError(ErrorCodes.BACKEND, `tfjs backend '${opts.backend}' failed to initialise`);
  await tf.ready();
  active = opts.backend;
  return tf;
}
