/** Resolves --backend auto in the coordinator: tensorflow when @tensorflow/tfjs-node is installed, else wasm. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
 *
 * oneDNN (TF_ENABLE_ONEDNN_OPTS), also read once per process, depends on the model:
 * - off for a model of plain matmuls (Dense chains, the seed): on the dense fast path's ~20 ops
 *   per step Eigen's matmul was faster (tensorflow W=2: 24.5k against 22.0k samples/s, mean of 3
 *   alternating pairs);
 * - on for anything else (conv, recurrent, embedding layers), where its kernels win by far:
 *   mnist-node's CNN at W=2, batch 128: 1,298 samples/s with oneDNN against 969 without
 *   (and stock tfjs-node model.fit, which has it on, 1,089; one run of each on 2 cores).
 * A value the user set explicitly wins, and the first trainer of a process decides for the rest.
 */
export function pinTensorflowThreads(threads: number, oneDnn = false): void {
  process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
  process.env.TF_NUM_INTEROP_THREADS ??= String(threads);
  process.env.TF_ENABLE_ONEDNN_OPTS ??= oneDnn ? '1' : '0';
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
}

/** Layers whose work is a matmul or nothing: a model of only these is a 'plain matmul' model. */
const MATMUL_ONLY_LAYERS = new Set(['InputLayer', 'Dense', 'Flatten', 'Dropout', 'Activation', 'Reshape']);

/** Whether a model (its Layers topology, as model.toJSON gives it) has layers oneDNN speeds up. */
export function wantsOneDnn(topology: object): boolean {
  const layers: Array<{ class_name?: string; config?: { layers?: unknown } }> = [];
  const walk = (t: unknown) => {
    const config = (t as { config?: { layers?: unknown } } | undefined)?.config;
    const list = Array.isArray(config) ? config : Array.isArray(config?.layers) ? config.layers : [];
    for (const l of list as Array<{ class_name?: string; config?: { layers?: unknown } }>) {
      layers.push(l);
      if (l.class_name === 'Sequential' || l.class_name === 'Model' || l.class_name === 'Functional') walk(l);
    }
  };
  walk((topology as { model_config?: unknown }).model_config ?? topology);
  return layers.some(
    (l) => l.class_name !== 'Sequential' && l.class_name !== 'Model' && l.class_name !== 'Functional' && !MATMUL_ONLY_LAYERS.has(l.class_name ?? ''),
  );
}

let preloaded = false;

/**
 * Loads tfjs-node's native binding in this thread (not tfjs-node's JavaScript: no backend is
 * registered here), so that libtensorflow's static initialisers (thousands of ops and kernels,
 * ~120 ms of `dlopen` in each worker's start-up profile) run once, while the workers load their
 * JavaScript, instead of in the first worker that gets there with the others queued behind the
 * loader's lock. Best effort: any failure leaves the workers to load it as before. Call after
 * pinTensorflowThreads (TensorFlow reads its environment when it starts).
 */
export function preloadTensorflow(): void {
  if (preloaded) return;
  preloaded = true;
  try {
    const load = createRequire(import.meta.url);
    const pkgFile = load.resolve('@tensorflow/tfjs-node/package.json');
    // The file tfjs-node itself loads: node-pre-gyp's choice, the highest of the package's
    // binary.napi_versions this Node supports (module_path ./lib/napi-v{napi_build_version}).
    const pkg = load(pkgFile) as { binary?: { napi_versions?: number[] } };
    const napi = Number(process.versions.napi ?? 0);
    const v = Math.max(...(pkg.binary?.napi_versions ?? []).filter((n) => n <= napi));
    const binding = join(dirname(pkgFile), 'lib', `napi-v${v}`, 'tfjs_binding.node');
    if (Number.isFinite(v) && existsSync(binding)) load(binding);
  } catch {
    // The workers report a missing or broken tfjs-node with the set-up command.
  }
}
