/** Resolves --backend auto in the coordinator: tensorflow when @tensorflow/tfjs-node is installed, else wasm. */
import { createRequire } from 'node:module';
import type { BackendName } from '@threadfit/shared';

export function tensorflowInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

export function resolveBackend(requested: BackendName | 'auto'): BackendName {
  if (requested !== 'auto') return requested;
  return tensorflowInstalled() ? 'tensorflow' : 'wasm';
}

/**
 * TensorFlow sizes its thread pools from the PROCESS environment, read once when the first thread
 * loads tfjs-node (setting it inside a worker has no effect): W workers x 1 intra-op thread map
 * onto W cores without oversubscription (measured: 21.5k samples/s pinned vs 17.3k default).
 * oneDNN's matmul is off by default too: on the dense fast path's ~20 ops per step, Eigen's was
 * faster (tensorflow W=2: 24.5k against 22.0k samples/s, mean of 3 alternating pairs; the tape's
 * ~107 ops per step hid the difference). A value the user set explicitly wins.
 */
export function pinTensorflowThreads(threads: number): void {
  process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
  process.env.TF_NUM_INTEROP_THREADS ??= String(threads);
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '0';
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
}
