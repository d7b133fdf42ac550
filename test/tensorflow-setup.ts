/**
 * The tensorflow backend's tests need @tensorflow/tfjs-node built by scripts/setup-tensorflow.mjs
 * (about 1-1.5 min the first time, a few seconds after; `npm install` removes the --no-save
 * package and the script restores it from .cache). Tests call this instead of skipping: a machine
 * where the set-up cannot run fails them with the script's own message.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
export const NATIVE_STEP_ADDON = join(ROOT, 'packages', 'worker', 'native', 'build', 'Release', 'graph_step.node');
export const CPU_KERNELS_ADDON = join(ROOT, 'packages', 'worker', 'native', 'build', 'Release', 'cpu_kernels.node');

export function tensorflowReady(): boolean {
  try {
    const pkg = createRequire(join(ROOT, 'package.json')).resolve('@tensorflow/tfjs-node/package.json');
    // tfjs-node's addon, and threadfit's native step built against the same libtensorflow.
    return existsSync(join(dirname(pkg), 'lib', 'napi-v8', 'tfjs_binding.node')) && existsSync(NATIVE_STEP_ADDON) && existsSync(CPU_KERNELS_ADDON);
  } catch {
    return false;
  }
}

export function ensureTensorflow(): void {
  if (tensorflowReady()) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'setup-tensorflow.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0 || !tensorflowReady()) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`the tensorflow backend is not set up and \`npm run setup:tensorflow\` failed (exit ${r.status}):\n${tail}`);
  }
}
