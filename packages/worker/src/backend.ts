/**
 * Backend set-up: the one place that knows how each tfjs backend is loaded in a worker.
 * 'wasm' (default, pure npm) gets the BatchMatMul fix; 'cpu' is the reference; 'tensorflow'
 * needs @tensorflow/tfjs-node built by `npm run setup:tensorflow` (optional).
 */
import * as tf from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, type BackendName } from '@threadfit/shared';
import { installWasmMatMulFix } from './matmul-fix.js';

export interface BackendSetup {
  backend: BackendName;
  /** TensorFlow's intra/inter-op threads (tensorflow backend only). */
  threads?: number;
}

let active: BackendName | undefined;

export async function setupBackend(opts: BackendSetup): Promise<typeof tf> {
  if (active === opts.backend) return tf;
  switch (opts.backend) {
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      installWasmMatMulFix(tf);
      // The wasm backend is single-threaded in Node anyway; say so explicitly so that W workers
      // map onto W cores without oversubscription.
      wasm.setThreadsCount?.(1);
      break;
    }
    case 'cpu':
      break;
    case 'tensorflow':
      throw new ThreadfitError(
        ErrorCodes.BACKEND,
        "backend 'tensorflow' is not available: @tensorflow/tfjs-node is not installed; run `npm run setup:tensorflow` (see docs/TENSORFLOW-SETUP.md) or use --backend wasm",
      );
  }
  const ok = await tf.setBackend(opts.backend);
  if (!ok) throw new ThreadfitError(ErrorCodes.BACKEND, `tfjs backend '${opts.backend}' failed to initialise`);
  await tf.ready();
  active = opts.backend;
  return tf;
}

/** Which backends load on this machine, fastest first (for --backend auto). */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  try {
    await import('@tensorflow/tfjs-node' as string);
    out.push('tensorflow');
  } catch {
    // not installed: fine, it is optional
  }
  out.push('wasm', 'cpu');
  return out;
}
