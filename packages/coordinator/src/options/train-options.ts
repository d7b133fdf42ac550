/**
 * Options of a training run: one all-optional type, one frozen defaults object, one validator
 * that runs before any thread starts and rejects unknown keys. The CLI maps its flags onto the
 * same options and calls the same validator, naming the flag as the source.
 */
import { availableParallelism } from 'node:os';
import { parseFault, type FaultSpec } from '../engine/faults.js';
import { parseLrDecay, type LrDecay } from '../fit/lr-schedule.js';
import { clusterFromEnv, type ClusterSpec } from '../cluster/env.js';
import { BackendNames, ErrorCodes, MAX_RANKS, ThreadfitError, invalidOption, type BackendName, type LevelWithSilent, type LogFormat } from '@threadfit/shared';

/** Checkpoints and fault tolerance: the same options for `threadfit train` and parallelFit. */
export interface ReliabilityOptions {
  /** Write checkpoints of the committed state here (atomic, the newest `keepCheckpoints` kept). */
  checkpointDir?: string;
  /** Every N steps, or 'epoch' (default when a dir is given). */
  checkpointEvery?: number | 'epoch';
  /** Default 2. */
  keepCheckpoints?: number;
  /** Continue from the newest valid checkpoint in checkpointDir (what is done is not done again). */
  resume?: boolean;
  /** Reruns of failed steps allowed over the run. Default 3. */
  maxRestarts?: number;
  /** Non-finite steps allowed in a row. Default 5. */
  maxSkippedSteps?: number;
}

export interface TrainOptions extends ReliabilityOptions {
  /** Worker threads (data-parallel replicas). Default: 'auto' = all cores. */
  workers?: number | 'auto' | `${number}:${number}`;
  /** Default 10. */
  epochs?: number;
  /** GLOBAL batch size, split across the workers (as in Keras). Default 128. */
  batchSize?: number;
  /** Adam learning rate. Default 0.001. */
  learningRate?: number;
  /** Seeds weight init and the per-epoch shuffles. Default 42. */
  seed?: number;
  /** tfjs backend in the workers. Default 'auto': the fastest that loads (tensorflow, else wasm). */
  backend?: BackendName | 'auto';
  /** Directory of MNIST-shaped IDX files (raw or .gz). Default: the bundled MNIST. */
  dataDir?: string;
  /** Write the JSON report here. */
  report?: string;
  logLevel?: LevelWithSilent;
  logFormat?: LogFormat;
  /** No progress bar or epoch lines. */
  quiet?: boolean;
  /** Step-phase timeout in ms. Default adaptive: max(30 s, 50 x median step). */
  stepTimeout?: number;
  /** Testing aid: `crash|exit|hang|nan@step=S,rank=R[,times=T]`. */
  injectFault?: string;
  /** Bitwise-identical weights for any worker count: a fixed number of micro-batches per step. */
  deterministic?: boolean;
  /** Micro-batches per step in deterministic mode. Default 8. */
  microBatches?: number;
  /** Gradient accumulation: N x batchSize samples per optimizer step, N micro-batches per rank. Default 1. */
  accumulate?: number;
  /** Linear learning-rate warm-up over this many epochs. Default 0. */
  lrWarmup?: number;
  /** 'linear': the linear scaling rule, lr x effective batch / lrBaseBatch. Default 'none'. */
  lrScale?: 'none' | 'linear';
  /** Reference batch of the linear scaling rule. Default 128. */
  lrBaseBatch?: number;
  /** 'none', 'cosine[:MIN_LR]' or 'step:EVERY_EPOCHS:GAMMA'. Default 'none'. */
  lrDecay?: string;
  /** TensorFlow intra/inter-op threads per worker (tensorflow backend). Default 1. */
  threadsPerWorker?: number;
  /**
   * 'auto' (default): a chain of Dense layers computes its gradients with the backward pass written
   * out (the dense fast path, docs/ARCHITECTURE.md), any other model on tfjs's tape. 'tape': always
   * the tape (slower; results then follow model.fit's op order exactly).
   */
  gradients?: 'auto' | 'tape';
  /**
   * The most steps the workers run on their own, without a round trip to the coordinator
   * (Keras's steps_per_execution; docs/ARCHITECTURE.md). Executions end at epoch ends, at the
   * last partial batch and where a checkpoint is due; 1 makes every step a round trip. The
   * weights are the same bits either way. Default 32 (1 across hosts).
   */
  stepsPerExecution?: number;
  /** Several hosts (docs/MULTI-HOST.md): 'N' or 'MIN:N' hosts; default from WORLD_SIZE / SLURM_STEP_NUM_TASKS. */
  hosts?: string | number;
  /** This host's rank at launch; default from RANK / SLURM_PROCID. */
  hostRank?: string | number;
  /** redis://HOST:PORT or file:///DIR; default THREADFIT_RENDEZVOUS, else Redis at MASTER_ADDR:MASTER_PORT+1. */
  rendezvous?: string;
  /** Rendezvous namespace, new for every run. Default THREADFIT_JOB, torchrun's run id + restart count, Slurm's job.step; else required. */
  job?: string;
  /** Network interface to advertise; default the one routing to the rendezvous host. */
  iface?: string;
  /** Per-collective timeout in ms. Default adaptive: max(5 s, 10 x median step). */
  commTimeout?: number;
}

export type ResolvedTrainOptions = Required<
  Omit<
    TrainOptions,
    | 'dataDir'
    | 'report'
    | 'workers'
    | 'backend'
    | 'checkpointDir'
    | 'stepTimeout'
    | 'injectFault'
    | 'lrDecay'
    | 'hosts'
    | 'hostRank'
    | 'rendezvous'
    | 'job'
    | 'iface'
    | 'commTimeout'
  >
> & {
  /** Several hosts: who this host is and where the others meet (undefined: one host). */
  cluster?: ClusterSpec;
  workers: number;
  /** Elastic: the fewest workers (= workers when not elastic). */
  minWorkers: number;
  lrDecay: LrDecay;
  backend: BackendName | 'auto';
  dataDir?: string;
  report?: string;
  checkpointDir?: string;
  stepTimeout?: number;
  injectFault?: FaultSpec;
};

/** Steps the workers run on their own per execution: the default, and the most accepted (each
 * execution's step and rank counts must fit layout.ts's barrier counters). */
export const DEFAULT_STEPS_PER_EXECUTION = 32;
export const MAX_STEPS_PER_EXECUTION = 1024;

export const TRAIN_DEFAULTS = Object.freeze({
  workers: 'auto' as const,
  epochs: 10,
  batchSize: 128,
  learningRate: 0.001,
  seed: 42,
  backend: 'auto' as const,
  logLevel: 'info' as const,
  logFormat: 'pretty' as const,
  quiet: false,
  checkpointEvery: 'epoch' as const,
  keepCheckpoints: 2,
  resume: false,
  maxRestarts: 3,
  maxSkippedSteps: 5,
  deterministic: false,
  microBatches: 8,
  accumulate: 1,
  lrWarmup: 0,
  lrScale: 'none' as const,
  lrBaseBatch: 128,
  threadsPerWorker: 1,
  gradients: 'auto' as const,
  stepsPerExecution: DEFAULT_STEPS_PER_EXECUTION,
});

/** More workers than this is a typo, not a plan (each holds a replica and a gradient slot). */
export const maxWorkers = (): number => Math.max(16, 4 * availableParallelism());

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Where a value came from, for messages: 'options' (library) or 'flag' (CLI). */
export type OptionSource = 'options' | 'flag';

/** CLI flags whose name is not the option name in kebab case. */
const FLAG_NAMES: Record<string, string> = { learningRate: 'lr' };

function label(name: string, source: OptionSource): [string, string] {
  if (source === 'flag') return ['--' + (FLAG_NAMES[name] ?? name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())), 'flag'];
  return [name, 'options'];
}

export function checkInt(name: string, v: unknown, min: number, max: number, source: OptionSource = 'options'): number {
  const [n, s] = label(name, source);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidOption(
      n,
      v,
      max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer in ${min}..${max}`,
      s,
    );
  }
  return v;
}

export function checkNumber(name: string, v: unknown, ok: (x: number) => boolean, expected: string, source: OptionSource = 'options'): number {
  const [n, s] = label(name, source);
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalidOption(n, v, expected, s);
  return v;
}

export function checkEnum<T extends string>(name: string, v: unknown, allowed: readonly T[], source: OptionSource = 'options'): T {
  const [n, s] = label(name, source);
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalidOption(n, v, `one of ${allowed.join(', ')}`, s);
  return v as T;
}

export function checkKnownKeys(opts: object, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `unknown option '${k}'; the known options are ${known.join(', ')}`);
    }
  }
}

const TRAIN_KEYS = [
  'workers',
  'epochs',
  'batchSize',
  'learningRate',
  'seed',
  'backend',
  'dataDir',
  'report',
  'logLevel',
  'logFormat',
  'quiet',
  'checkpointDir',
  'checkpointEvery',
  'keepCheckpoints',
  'resume',
  'maxRestarts',
  'maxSkippedSteps',
  'stepTimeout',
  'injectFault',
  'deterministic',
  'microBatches',
  'accumulate',
  'lrWarmup',
  'lrScale',
  'lrBaseBatch',
  'lrDecay',
  'threadsPerWorker',
  'gradients',
  'stepsPerExecution',
  'hosts',
  'hostRank',
  'rendezvous',
  'job',
  'iface',
  'commTimeout',
] as const;

/**
 * A step uses (deterministic ? microBatches : workers) x accumulate gradient slots; the layout has
 * MAX_RANKS. Checked up front, naming the options, instead of failing in the layout.
 */
export function checkSlotCount(
  o: { deterministic: boolean; microBatches: number; workers: number; accumulate: number },
  source: OptionSource = 'options',
): void {
  const per = o.deterministic ? o.microBatches : o.workers;
  if (per * o.accumulate > MAX_RANKS) {
    const [a] = label(o.deterministic ? 'microBatches' : 'workers', source);
    const [b] = label('accumulate', source);
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `${a} x ${b} must be at most ${MAX_RANKS} gradient slots, got ${per} x ${o.accumulate} = ${per * o.accumulate}`,
    );
  }
}

export function resolveWorkers(v: unknown, source: OptionSource = 'options'): number {
  if (v === 'auto' || v === undefined) return availableParallelism();
  return checkInt('workers', v, 1, maxWorkers(), source);
}

export function validateTrainOptions(input: TrainOptions = {}, source: OptionSource = 'options'): ResolvedTrainOptions {
  checkKnownKeys(input, TRAIN_KEYS);
  const o = { ...TRAIN_DEFAULTS, ...input };
  const str = (name: string, v: unknown): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length === 0) {
      const [n, s] = label(name, source);
      throw invalidOption(n, v, 'a non-empty path', s);
    }
    return v;
  };
  const elastic = typeof o.workers === 'string' ? /^(\d+):(\d+)$/.exec(o.workers) : null;
  const workers = elastic ? checkInt('workers', Number(elastic[2]), 1, maxWorkers(), source) : resolveWorkers(o.workers, source);
  const minWorkers = elastic ? Number(elastic[1]) : workers;
  if (elastic && (minWorkers < 1 || minWorkers > workers)) {
    const [name, where] = label('workers', source);
    throw invalidOption(name, o.workers, 'MIN:MAX with 1 <= MIN <= MAX', where);
  }
  const r: ResolvedTrainOptions = {
    workers,
    minWorkers,
    epochs: checkInt('epochs', o.epochs, 1, 1_000_000, source),
    batchSize: checkInt('batchSize', o.batchSize, 1, 1 << 20, source),
    learningRate: checkNumber('learningRate', o.learningRate, (x) => x > 0, 'a positive number', source),
    seed: checkInt('seed', o.seed, 0, 2 ** 32 - 1, source),
    backend: checkEnum('backend', o.backend, ['auto', ...BackendNames], source),
    dataDir: str('dataDir', o.dataDir),
    report: str('report', o.report),
    logLevel: checkEnum('logLevel', o.logLevel, LOG_LEVELS, source),
    logFormat: checkEnum('logFormat', o.logFormat, ['pretty', 'json'] as const, source),
    quiet: o.quiet === true,
    checkpointDir: str('checkpointDir', o.checkpointDir),
    checkpointEvery: o.checkpointEvery === 'epoch' ? 'epoch' : checkInt('checkpointEvery', o.checkpointEvery, 1, Number.MAX_SAFE_INTEGER, source),
    keepCheckpoints: checkInt('keepCheckpoints', o.keepCheckpoints, 1, 1000, source),
    resume: o.resume === true,
    maxRestarts: checkInt('maxRestarts', o.maxRestarts, 0, 1_000_000, source),
    maxSkippedSteps: checkInt('maxSkippedSteps', o.maxSkippedSteps, 0, 1_000_000, source),
    stepTimeout: o.stepTimeout === undefined ? undefined : checkInt('stepTimeout', o.stepTimeout, 1, 86_400_000, source),
    injectFault: o.injectFault === undefined ? undefined : parseFault(o.injectFault, source === 'flag' ? 'flag --inject-fault' : 'options.injectFault'),
    deterministic: o.deterministic === true,
    microBatches: checkInt('microBatches', o.microBatches, 1, 256, source),
    accumulate: checkInt('accumulate', o.accumulate, 1, 1024, source),
    lrWarmup: checkNumber('lrWarmup', o.lrWarmup, (x) => x >= 0, 'a number of epochs >= 0', source),
    lrScale: checkEnum('lrScale', o.lrScale, ['none', 'linear'] as const, source),
    lrBaseBatch: checkInt('lrBaseBatch', o.lrBaseBatch, 1, 1 << 24, source),
    lrDecay: parseLrDecay(o.lrDecay, source === 'flag' ? 'flag --lr-decay' : 'options.lrDecay'),
    threadsPerWorker: checkInt('threadsPerWorker', o.threadsPerWorker, 1, 256, source),
    gradients: checkEnum('gradients', o.gradients, ['auto', 'tape'] as const, source),
    stepsPerExecution: checkInt('stepsPerExecution', o.stepsPerExecution, 1, MAX_STEPS_PER_EXECUTION, source),
  };
  checkSlotCount(r, source);
  const text = (v: unknown) => (v === undefined ? undefined : String(v));
  const cluster = clusterFromEnv(process.env, {
    hosts: text(input.hosts),
    hostRank: text(input.hostRank),
    rendezvous: text(input.rendezvous),
    job: text(input.job),
    iface: text(input.iface),
    commTimeout: text(input.commTimeout),
  });
  if (cluster !== undefined) {
    r.cluster = cluster;
    const why = 'is not supported across hosts yet (docs/MULTI-HOST.md)';
    if (minWorkers !== workers) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label('workers', source)[0]} ${o.workers} (elastic workers) ${why}`);
    if (r.deterministic) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label('deterministic', source)[0]} ${why}`);
    if (input.stepsPerExecution !== undefined && r.stepsPerExecution > 1) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `${label('stepsPerExecution', source)[0]} ${o.stepsPerExecution} ${why}: every step is a round trip there`,
      );
    }
    r.stepsPerExecution = 1;
    if (r.batchSize < cluster.worldSize * workers) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `${label('batchSize', source)[0]} ${r.batchSize} is smaller than ${cluster.worldSize} hosts x ${workers} workers: every worker needs a row of every batch`,
      );
    }
  } else if (input.commTimeout !== undefined || input.iface !== undefined || input.job !== undefined) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `--comm-timeout, --iface and --job need several hosts (--hosts N, or WORLD_SIZE from a launcher)`);
  }
  // Options that would be silently ignored are refused, naming what they need.
  const needs = (given: keyof TrainOptions, ok: boolean, what: string) => {
    if (input[given] !== undefined && !ok) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label(given, source)[0]} has no effect without ${what}`);
  };
  needs('microBatches', r.deterministic, label('deterministic', source)[0]);
  needs('lrBaseBatch', r.lrScale === 'linear', `${label('lrScale', source)[0]} linear`);
  needs('keepCheckpoints', r.checkpointDir !== undefined, label('checkpointDir', source)[0]);
  if (r.checkpointDir === undefined) {
    const [flag] = label('checkpointDir', source);
    if (r.resume) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label('resume', source)[0]} needs ${flag}: the directory to resume from`);
    if (input.checkpointEvery !== undefined) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${label('checkpointEvery', source)[0]} needs ${flag}`);
  }
  return r;
}
