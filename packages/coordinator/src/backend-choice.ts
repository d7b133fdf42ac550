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
