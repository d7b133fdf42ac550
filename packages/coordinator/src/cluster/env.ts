/**
 * Where a multi-host run learns who it is: threadfit's own flags first, then the conventions that
 * launchers already set (torchrun --no-python and Kubeflow's PyTorchJob: RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT; Slurm's srun: SLURM_PROCID, SLURM_STEP_NUM_TASKS). No launcher of our own.
 *
 * The rendezvous store is Redis (Debian's redis-server) or a directory on shared storage (Gloo's
 * FileStore). Default: Redis on MASTER_ADDR at MASTER_PORT + 1, because torchrun's own TCPStore
 * holds MASTER_PORT.
 */
import { ErrorCodes, ThreadfitError, type StoreSpec } from '@threadfit/shared';

export interface ClusterFlags {
  /** `--hosts N` or `--hosts MIN:N`: hosts at launch (and the fewest to continue with). */
  hosts?: string;
  /** `--host-rank R`: this host's rank at launch, 0..N-1. */
  hostRank?: string;
  /** `--rendezvous redis://HOST:PORT | file:///shared/dir`. */
  rendezvous?: string;
  /** `--job ID`: the rendezvous namespace; unique per run (like torchrun's --rdzv-id). */
  job?: string;
  /** `--iface NAME`: the network interface to advertise (default: the one routing to the store). */
  iface?: string;
  /** `--comm-timeout MS`: per-collective timeout (default adaptive: max(5 s, 10 x median step)). */
  commTimeout?: string;
}

export interface ClusterSpec {
  /** This host's rank at launch: its identity across re-rendezvous. */
  launchRank: number;
  /** Hosts at launch. */
  worldSize: number;
  /** Training stops when fewer hosts than this are left (default 1). */
  minHosts: number;
  store: StoreSpec;
  /** The host the store lives on (the interface that routes to it is advertised). */
  storeHost: string;
  job: string;
  iface?: string;
  commTimeoutMs?: number;
  /** Where rank and world size came from, for messages ('flags', 'torchrun/PyTorchJob', 'Slurm'). */
  source: string;
}

type Env = Record<string, string | undefined>;

function bad(what: string, value: unknown, expected: string): ThreadfitError {
  return new ThreadfitError(ErrorCodes.INVALID_OPTION, `${what} must be ${expected}, got ${JSON.stringify(value)}`);
}

function intIn(what: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(what, raw, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`);
  }
  return n;
}

/** `redis://host:port` or `file:///dir` (or a bare absolute path). */
export function parseRendezvous(raw: string, what: string): { store: StoreSpec; host: string } {
  if (raw.startsWith('redis://')) {
    const m = /^redis:\/\/([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d+)\/?$/.exec(raw);
    if (!m) throw bad(what, raw, 'redis://HOST:PORT or file:///DIR');
    const host = m[1].replace(/^\[|\]$/g, '');
    return { store: { type: 'redis', host, port: intIn(`${what} port`, m[2], 1, 65535) }, host };
  }
  const path = raw.startsWith('file://') ? decodeURIComponent(raw.slice('file://'.length)) : raw;
  if (!path.startsWith('/')) throw bad(what, raw, 'redis://HOST:PORT or file:///DIR (an absolute directory on storage every host shares)');
  return { store: { type: 'file', path }, host: '' };
}

/**
 * The cluster this process belongs to, or undefined for a single-host run (no flags, no launcher
 * variables, or a world of one). Every bad value names its flag or variable.
 */
export function clusterFromEnv(env: Env, flags: ClusterFlags = {}): ClusterSpec | undefined {
  let worldSize: number | undefined;
  let minHosts = 1;
  let launchRank: number | undefined;
  let source: string;
  if (flags.hosts !== undefined) {
    const m = /^(?:(\d+):)?(\d+)$/.exec(flags.hosts.trim());
    if (!m) throw bad('--hosts', flags.hosts, 'N or MIN:N (hosts at launch, and the fewest to continue with)');
    worldSize = intIn('--hosts', m[2], 1);
    minHosts = m[1] === undefined ? 1 : intIn('--hosts MIN', m[1], 1, worldSize);
    if (flags.hostRank === undefined && env.RANK === undefined && env.SLURM_PROCID === undefined) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `--hosts ${flags.hosts} needs this host's rank: --host-rank R (0..${worldSize - 1}), or RANK / SLURM_PROCID from a launcher`,
      );
    }
    source = 'flags';
  } else if (env.WORLD_SIZE !== undefined) {
    worldSize = intIn('WORLD_SIZE (environment)', env.WORLD_SIZE, 1);
    source = 'torchrun/PyTorchJob';
  } else if (env.SLURM_STEP_NUM_TASKS !== undefined) {
    // Set inside an srun step only: a plain run in an sbatch/salloc shell (SLURM_NTASKS set) is
    // a single-host run.
    worldSize = intIn('SLURM_STEP_NUM_TASKS (environment)', env.SLURM_STEP_NUM_TASKS, 1);
    source = 'Slurm';
  } else {
    if (flags.hostRank !== undefined || flags.rendezvous !== undefined) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, '--host-rank and --rendezvous need --hosts N (or WORLD_SIZE / SLURM_STEP_NUM_TASKS from a launcher)');
    }
    return undefined;
  }
  if (flags.hostRank !== undefined) launchRank = intIn('--host-rank', flags.hostRank, 0, worldSize - 1);
  else if (env.RANK !== undefined) launchRank = intIn('RANK (environment)', env.RANK, 0, worldSize - 1);
  else if (env.SLURM_PROCID !== undefined) launchRank = intIn('SLURM_PROCID (environment)', env.SLURM_PROCID, 0, worldSize - 1);
  else
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `a world of ${worldSize} hosts (${source}) needs this host's rank: RANK, SLURM_PROCID or --host-rank`);
  if (worldSize === 1) return undefined;

  const rdzvRaw = flags.rendezvous ?? env.THREADFIT_RENDEZVOUS;
  let rendezvous: { store: StoreSpec; host: string };
  if (rdzvRaw !== undefined) {
    rendezvous = parseRendezvous(rdzvRaw, flags.rendezvous !== undefined ? '--rendezvous' : 'THREADFIT_RENDEZVOUS (environment)');
  } else if (env.MASTER_ADDR !== undefined) {
    const port = env.MASTER_PORT === undefined ? 29500 : intIn('MASTER_PORT (environment)', env.MASTER_PORT, 1, 65534);
    rendezvous = { store: { type: 'redis', host: env.MASTER_ADDR, port: port + 1 }, host: env.MASTER_ADDR };
  } else {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `a world of ${worldSize} hosts needs a rendezvous store: --rendezvous redis://HOST:PORT | file:///DIR, THREADFIT_RENDEZVOUS, or MASTER_ADDR[/MASTER_PORT] (Redis at MASTER_PORT + 1)`,
    );
  }
  const job = flags.job ?? env.THREADFIT_JOB ?? launcherJob(env);
  if (job === undefined) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `a world of ${worldSize} hosts needs a job name, new for every run (rendezvous keys are write-once): --job ID or THREADFIT_JOB (torchrun's --rdzv-id and Slurm's job and step ids are used when set)`,
    );
  }
  if (!/^[\w.-]{1,128}$/.test(job)) throw bad('--job', job, 'a name of letters, digits, "_", "." or "-"');
  const commTimeoutMs = flags.commTimeout === undefined ? undefined : intIn('--comm-timeout', flags.commTimeout, 100);
  const iface = flags.iface ?? env.THREADFIT_IFACE ?? env.GLOO_SOCKET_IFNAME;
  return { launchRank, worldSize, minHosts, store: rendezvous.store, storeHost: rendezvous.host, job, iface, commTimeoutMs, source };
}

/**
 * A job name a launcher gives, new for every run: torchrun's run id (not its default 'none') with
 * its restart count, or Slurm's job and step ids.
 */
function launcherJob(env: Env): string | undefined {
  const run = env.TORCHELASTIC_RUN_ID;
  if (run !== undefined && run !== 'none' && run !== '') return `${run}-r${env.TORCHELASTIC_RESTART_COUNT ?? 0}`;
  if (env.SLURM_JOB_ID !== undefined) return `${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID ?? 0}`;
  return undefined;
}
