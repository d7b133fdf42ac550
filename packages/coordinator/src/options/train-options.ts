/**
 * Options of a training run (`threadfit train`, runTraining): the type, the defaults and the keys
 * come from the schema (schema.ts); this file adds the rules that relate two options, and runs
 * before any thread starts. The CLI maps its flags onto the same options and calls the same
 * validator, naming the flag as the source.
 */
import { ErrorCodes, MAX_RANKS, ThreadfitError, type BackendName } from '@threadfit/shared';
import { clusterFromEnv, type ClusterSpec } from '../cluster/env.js';
import type { FaultSpec } from '../engine/faults.js';
import { maxWorkers, where, workerCount, type OptionSource } from './kinds.js';
import { DEFAULT_STEPS_PER_EXECUTION, MAX_STEPS_PER_EXECUTION } from './schema.js';
import { defaultsOn, labelOf, resolveOn, type OptionsOn, type ResolvedOn } from './surfaces.js';

export { DEFAULT_STEPS_PER_EXECUTION, MAX_STEPS_PER_EXECUTION, maxWorkers, type OptionSource };

/** The former names of three options, still accepted (with a DeprecationWarning). */
export interface DeprecatedTrainOptions {
  /** @deprecated use stepTimeoutMs */
  stepTimeout?: number;
  /** @deprecated use lrWarmupEpochs */
  lrWarmup?: number;
  /** @deprecated use commTimeoutMs */
  commTimeout?: string | number;
}

export type TrainOptions = OptionsOn<'train'> & DeprecatedTrainOptions;

/** Checkpoints and fault tolerance: the same options for `threadfit train` and parallelFit. */
export type ReliabilityOptions = Pick<TrainOptions, 'checkpointDir' | 'checkpointEvery' | 'keepCheckpoints' | 'resume' | 'maxRestarts' | 'maxSkippedSteps'>;

export type ResolvedTrainOptions = Omit<ResolvedOn<'train'>, 'workers' | 'hosts' | 'hostRank' | 'rendezvous' | 'job' | 'iface' | 'commTimeoutMs'> & {
  /** Several hosts: who this host is and where the others meet (undefined: one host). */
  cluster?: ClusterSpec;
  workers: number;
  /** Elastic: the fewest workers (= workers when not elastic). */
  minWorkers: number;
  backend: BackendName | 'auto';
  injectFault?: FaultSpec;
};

export const TRAIN_DEFAULTS = defaultsOn('train');

const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);

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
    const a = labelOf(o.deterministic ? 'microBatches' : 'workers', source).name;
    const b = labelOf('accumulate', source).name;
    throw invalid(`${a} x ${b} must be at most ${MAX_RANKS} gradient slots, got ${per} x ${o.accumulate} = ${per * o.accumulate}`);
  }
}

/** A fault for a rank that does not exist would never fire: refused, naming the worker count. */
export function checkFaultRank(fault: FaultSpec | undefined, workers: number, source: OptionSource = 'options'): void {
  if (fault !== undefined && fault.rank >= workers) {
    throw invalid(
      `${where(labelOf('injectFault', source))} rank=${fault.rank} names no worker: there ${workers === 1 ? 'is 1 worker (rank 0)' : `are ${workers} workers (ranks 0..${workers - 1})`}`,
    );
  }
}

/**
 * A step takes batchSize x accumulate samples; more than the training set holds is refused once
 * the data is loaded (before any thread starts), naming both numbers.
 */
export function checkBatchFitsData(o: { batchSize: number; accumulate: number }, trainCount: number): void {
  const step = o.batchSize * o.accumulate;
  if (step <= trainCount) return;
  const batch = `--batch-size ${o.batchSize}${o.batchSize === TRAIN_DEFAULTS.batchSize ? ' (the default)' : ''}`;
  const what = o.accumulate > 1 ? `${batch} x --accumulate ${o.accumulate} = ${step} samples per step` : batch;
  throw invalid(
    `${what} is larger than the training set (${trainCount} samples): pass --batch-size ${Math.max(1, Math.floor(trainCount / o.accumulate))} or less`,
  );
}

export function resolveWorkers(v: unknown, source: OptionSource = 'options'): number {
  return workerCount().check(v ?? 'auto', labelOf('workers', source));
}

export function validateTrainOptions(input: TrainOptions = {}, source: OptionSource = 'options'): ResolvedTrainOptions {
  const { options: resolved, given } = resolveOn('train', input, source);
  const { workers: w, hosts, hostRank, rendezvous, job, iface, commTimeoutMs, ...rest } = resolved;
  const r: ResolvedTrainOptions = { ...rest, workers: w.workers, minWorkers: w.minWorkers };
  const name = (key: Parameters<typeof labelOf>[0]) => labelOf(key, source).name;
  checkSlotCount(r, source);
  checkFaultRank(r.injectFault, r.workers, source);
  const cluster = clusterFromEnv(process.env, { hosts, hostRank, rendezvous, job, iface, commTimeout: commTimeoutMs });
  if (cluster !== undefined) {
    r.cluster = cluster;
    const why = 'is not supported across hosts yet (docs/MULTI-HOST.md)';
    if (r.minWorkers !== r.workers) throw invalid(`${name('workers')} ${String(given.workers)} (elastic workers) ${why}`);
    if (r.deterministic) throw invalid(`${name('deterministic')} ${why}`);
    if (given.stepsPerExecution !== undefined && r.stepsPerExecution > 1) {
      throw invalid(`${name('stepsPerExecution')} ${r.stepsPerExecution} ${why}: every step is a round trip there`);
    }
    r.stepsPerExecution = 1;
    if (r.batchSize < cluster.worldSize * r.workers) {
      throw invalid(
        `${name('batchSize')} ${r.batchSize} is smaller than ${cluster.worldSize} hosts x ${r.workers} workers: every worker needs a row of every batch`,
      );
    }
  } else if (commTimeoutMs !== undefined || iface !== undefined || job !== undefined) {
    throw invalid(`--comm-timeout, --iface and --job need several hosts (--hosts N, or WORLD_SIZE from a launcher)`);
  }
  // Options that would be silently ignored are refused, naming what they need.
  const needs = (key: keyof typeof given, ok: boolean, what: string) => {
    if (given[key] !== undefined && !ok) throw invalid(`${name(key)} has no effect without ${what}`);
  };
  needs('microBatches', r.deterministic, name('deterministic'));
  needs('lrBaseBatch', r.lrScale === 'linear', `${name('lrScale')} linear`);
  needs('keepCheckpoints', r.checkpointDir !== undefined, name('checkpointDir'));
  checkModelFlags(r, given, name);
  if (r.checkpointDir === undefined) {
    if (r.resume) throw invalid(`${name('resume')} needs ${name('checkpointDir')}: the directory to resume from`);
    if (given.checkpointEvery !== undefined) throw invalid(`${name('checkpointEvery')} needs ${name('checkpointDir')}`);
  }
  return r;
}

/** --model's flags: each needs --model (or --data), and the seed's own flags do not apply to it. */
function checkModelFlags(r: ResolvedTrainOptions, given: Record<string, unknown>, name: (key: never) => string): void {
  const n = name as (key: string) => string;
  const model = r.model !== undefined;
  for (const key of ['data', 'loss', 'optimizer', 'metrics', 'saveModel'] as const) {
    if (given[key] !== undefined && !model) throw invalid(`${n(key)} needs ${n('model')}: it is about your own model (the seed MLP is built in)`);
  }
  if (r.data !== undefined && r.labelColumn === undefined) throw invalid(`${n('data')} needs ${n('labelColumn')}: the name of the label column`);
  if (r.labelColumn !== undefined && r.data === undefined) throw invalid(`${n('labelColumn')} has no effect without ${n('data')}`);
  if (r.data !== undefined && r.dataDir !== undefined) throw invalid(`${n('data')} and ${n('dataDir')} are two sources of training data: give one`);
  if (!model) return;
  const refuse = (key: string, why: string) => {
    if (given[key] !== undefined) throw invalid(`${n(key)} does not apply with ${n('model')}: ${why}`);
  };
  refuse('learningRate', `it is the seed's Adam rate; give ${n('optimizer')} NAME:LR (e.g. adam:0.001)`);
  refuse('accumulate', 'the model trains through parallelFitDataset, whose batch is the step');
  if (r.minWorkers !== r.workers) throw invalid(`${n('workers')} MIN:MAX (elastic workers) does not apply with ${n('model')} yet: give a worker count`);
  if (r.cluster !== undefined) throw invalid(`${n('model')} trains on one host; several hosts (--hosts, WORLD_SIZE) train the seed MLP only so far`);
}
