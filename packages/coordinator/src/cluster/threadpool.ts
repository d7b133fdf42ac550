/**
 * Imported first by the CLI: in a multi-host run each worker's cross-host sum holds a thread of
 * libuv's pool (process-wide, 4 threads by default, sized once at its first use) for as long as
 * the collective runs, and the coordinator's control group needs one more. A pool smaller than the
 * collectives in flight would queue one while its peers' timeout clocks run. Grown here, before
 * anything has used the pool, only when the command line or a launcher asks for several hosts.
 */
import { availableParallelism } from 'node:os';

const env = process.env;
const multiHost =
  process.argv.includes('--hosts') ||
  process.argv.some((a) => a.startsWith('--hosts=')) ||
  env.WORLD_SIZE !== undefined ||
  env.SLURM_STEP_NUM_TASKS !== undefined;
if (multiHost && env.UV_THREADPOOL_SIZE === undefined) {
  // Workers go up to 4 x cores (options.ts maxWorkers), plus the control group and libuv's own 4.
  env.UV_THREADPOOL_SIZE = String(Math.min(1024, 8 + 4 * availableParallelism()));
}
