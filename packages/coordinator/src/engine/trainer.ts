/**
 * The data-parallel engine: shared state, the worker pool, and one optimizer step at a time.
 *
 *   coordinator (main thread)                       workers 0..W-1 (piscina), one task each
 *   ─────────────────────────                       ──────────────────────────────────────
 *   write batchIndices, rankWeights (per slot),
 *   BARRIER = 0, ABORT = 0          ──step(r)──▶    load params[c] -> replica; forward/backward of
 *                                                   each micro-batch s of rank r -> grads[s]
 *                                                   BARRIER += 1; wait until BARRIER = W (or ABORT)
 *                                                   chunk r: g = Σ_s w_s grads[s]; optimizer
 *                                                   params/state[c] -> params/state[1-c]
 *   wait for all W      ◀──── loss/metric sums, non-finite count
 *   commit: COMMITTED = 1-c, STEP += 1 (only if every task succeeded and all were finite)
 *
 * The committed buffer is never written during a step, so a failed or non-finite step leaves
 * the weights as they were and the step can simply run again. No rank waits on another for
 * long: the coordinator raises ABORT on the first failure (waiting ranks return within a 20 ms
 * wait slice) and terminates tasks still running past the step timeout.
 *
 * Several hosts (cluster/host-group.ts): each host takes its shard of the global batch, and rank r
 * sums chunk r of its host's gradient across the hosts in Gloo group r before the optimizer (the
 * hierarchical step). Any failed step re-forms the host group and runs again on the survivors.
 */
import {
  Control,
  HostFlag,
  ErrorCodes,
  ThreadfitError,
  StateViews,
  createStateMemory,
  initialState,
  shardRanges,
  stateLayout,
  stateSlotsOf,
  type OptimizerSpec,
  type BackendName,
  type EvaluateResult,
  type Logger,
  silentLogger,
  type ModelSpec,
  type StateLayout,
  type WorkerInit,
  type RunTask,
  RunRecord,
  RUN_RECORD_WIDTH,
  BARRIER_COUNT_MASK,
} from '@threadfit/shared';
import type { SharedDataset } from '../data/dataset.js';
import { WorkerPool } from './pool.js';
import { StepClock, isRetryable, type FaultSpec } from './faults.js';
import { maxSlots, planStep } from './step-plan.js';
import { runStepTasks, type StepFault } from './step-runner.js';
import { averageBuffers } from './buffers.js';
import { pinTensorflowThreads } from './backend-choice.js';
import type { HostGroup } from '../cluster/host-group.js';
import { commModuleUrl } from '../cluster/comm.js';

export interface TrainerConfig {
  workers: number;
  backend: BackendName;
  model: ModelSpec;
  /** Initial values of every weight, in model.getWeights() order. */
  initialWeights: Float32Array[];
  dataset: SharedDataset;
  maxBatch: number;
  optimizer: OptimizerSpec;
  threadsPerWorker?: number;
  /** 'tape': no dense fast path (WorkerInit.denseFastPath). Default 'auto'. */
  gradients?: 'auto' | 'tape';
  logLevel?: string;
  /** Run seed (dropout masks come from (seed, rank, step)). Default 0. */
  seed?: number;
  /** Module every worker imports before building its replica (custom layers). */
  workerSetup?: string;
  /** Reruns of failed steps allowed over the run (default 3). */
  maxRestarts?: number;
  /** Non-finite steps allowed in a row before training stops (default 5). */
  maxSkippedSteps?: number;
  /** Fixed step-phase timeout; default adaptive: max(30 s, 50 x median step). */
  stepTimeoutMs?: number;
  injectFault?: FaultSpec;
  logger?: Logger;
  /** Gradient accumulation: micro-batches per rank per step (default 1). */
  accumulate?: number;
  /** Deterministic mode: this many micro-batches per step whatever the worker count. */
  microBatches?: number;
  /** Elastic: the fewest workers a step may shrink to when a worker keeps failing (default: workers). */
  minWorkers?: number;
  /** Several hosts: the Gloo groups (joined before the trainer is made). */
  cluster?: HostGroup;
  /**
   * The most steps the workers run on their own in one execution (trainSteps; see
   * worker/src/step-run.ts). Default 1: every step is its own round trip.
   */
  stepsPerExecution?: number;
}

/** Batch indices an execution may hold in shared memory (4 MB): bounds stepsPerExecution x batch. */
const MAX_EXECUTION_INDICES = 1 << 20;

/** Wall-clock ms comparable across threads (each thread's performance.now() has its own origin). */
const epochMs = (): number => performance.timeOrigin + performance.now();

/** Worker start-up (backend, replica, probe pass) must finish within this. */
const INIT_TIMEOUT_MS = 300_000;

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ThreadfitError(ErrorCodes.WORKER_FAILED, message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The epoch-end gather across hosts follows validation, whose time differs per host. */
const EPOCH_GATHER_TIMEOUT_MS = 120_000;

/** Successful steps after which an elastic trainer that shrank tries one more worker. */
const GROW_BACK_AFTER_STEPS = 50;

export interface StepMs {
  /** Slowest rank's forward/backward plus copy of its gradients out (worker time). */
  grad: number;
  /** Slowest chunk's reduce + optimizer (worker time). */
  update: number;
  /** Everything else in the step's wall time: dispatch, waiting, commit. */
  coord: number;
  /** Slowest rank's gather of its rows from the shared data set. */
  data: number;
  /** Slowest chunk's sum across hosts (several hosts only). */
  comm?: number;
}

export interface StepStats {
  count: number;
  lossSum: number;
  metricSums: number[];
  /** True when a non-finite gradient made the step a no-op for every rank. */
  skipped: boolean;
  wallMs: number;
  ms: StepMs;
}

export interface EvalStats {
  count: number;
  loss: number;
  metrics: number[];
}

export class Trainer {
  readonly layout: StateLayout;
  readonly views: StateViews;
  readonly #pool: WorkerPool;
  readonly #cfg: TrainerConfig;
  readonly #log: Logger;
  readonly #clock = new StepClock(30_000);
  readonly #maxRestarts: number;
  readonly #maxSkipped: number;
  #restarts = 0;
  #skippedInARow = 0;
  /** trainStep calls so far (1-based during a call): what `injectFault.step` counts. */
  #calls = 0;
  /** Workers a step uses now (elastic: between minWorkers and #target). */
  #active: number;
  /** Workers a step should use: the pool's size, or what resize() asked for; elastic growth stops there. */
  #target: number;
  readonly #minWorkers: number;
  #healthySteps = 0;
  /** trainStep calls that returned (steps committed or skipped): what hosts compare after a failure. */
  #completed = 0;
  readonly #cluster: HostGroup | undefined;
  /** Several hosts: this host was asked to stop; and every host's vote, summed with the last step. */
  #stopRequested = false;
  #stopAgreed = false;

  private constructor(cfg: TrainerConfig, layout: StateLayout, views: StateViews, pool: WorkerPool) {
    this.#cfg = cfg;
    this.layout = layout;
    this.views = views;
    this.#pool = pool;
    this.#log = (cfg.logger ?? silentLogger).child({ component: 'trainer' });
    this.#maxRestarts = cfg.maxRestarts ?? 3;
    this.#maxSkipped = cfg.maxSkippedSteps ?? 5;
    this.#active = cfg.workers;
    this.#target = cfg.workers;
    this.#minWorkers = cfg.minWorkers ?? cfg.workers;
    this.#cluster = cfg.cluster;
  }

  static async create(cfg: TrainerConfig): Promise<Trainer> {
    const gradSlots = Math.max(cfg.workers, maxSlots({ workers: cfg.workers, accumulate: cfg.accumulate ?? 1, microBatches: cfg.microBatches }));
    // Worker-driven executions need one host (the cross-host sum is a collective the coordinator
    // recovers) and no non-trainable weights (their moving statistics are averaged at commit here).
    const executions = cfg.cluster === undefined && cfg.model.bufferCount === 0;
    const runSteps = executions ? Math.max(1, Math.min(cfg.stepsPerExecution ?? 1, Math.floor(MAX_EXECUTION_INDICES / Math.max(cfg.maxBatch, 1)))) : 1;
    const layout = stateLayout({
      paramCount: cfg.model.paramCount,
      gradSlots,
      stateSlots: stateSlotsOf(cfg.optimizer).length,
      maxBatch: cfg.maxBatch,
      bufferCount: cfg.model.bufferCount,
      multiHost: cfg.cluster !== undefined,
      runSteps,
      metricCount: cfg.model.metricCount,
    });
    if (cfg.cluster !== undefined && cfg.model.bufferCount > 0) {
      // Moving statistics are averaged per host at commit and would drift apart across hosts.
      throw new ThreadfitError(
        ErrorCodes.UNSUPPORTED,
        'models with non-trainable weights (BatchNormalization moving statistics, frozen layers) are not supported across hosts yet',
      );
    }
    const memory = createStateMemory(layout);
    const views = new StateViews(memory.buffer as unknown as SharedArrayBuffer, layout);
    // Initial weights into buffer 0, which is the committed one (control words start zeroed).
    cfg.model.weights.forEach((w, i) => (w.trainable ? views.params(0) : views.buffers(0)).set(cfg.initialWeights[i], w.offset));
    // Optimizer state starts as tfjs starts it (zeros; Adagrad: initialAccumulatorValue). Step 1
    // reads buffer 0; buffer 1 gets it too so that both buffers always hold a valid state.
    initialState(cfg.optimizer).forEach((fill, slot) => {
      views.state(slot, 0).fill(fill);
      views.state(slot, 1).fill(fill);
    });
    const init: WorkerInit = {
      backend: cfg.backend,
      threadsPerWorker: cfg.threadsPerWorker ?? 1,
      denseFastPath: cfg.gradients !== 'tape',
      stateMemory: memory,
      stateLayout: layout,
      dataset: cfg.dataset.buffer,
      datasetLayout: cfg.dataset.layout,
      decode: cfg.dataset.decode,
      model: cfg.model,
      optimizer: cfg.optimizer,
      logLevel: cfg.logLevel ?? 'info',
      seed: cfg.seed ?? 0,
      workerSetup: cfg.workerSetup,
      commModule: cfg.cluster === undefined ? undefined : commModuleUrl.href,
    };
    if (cfg.backend === 'tensorflow') pinTensorflowThreads(cfg.threadsPerWorker ?? 1);
    const poolLog = (cfg.logger ?? silentLogger).child({ component: 'pool' });
    const pool = new WorkerPool(init, cfg.workers, (err) => poolLog.warn({ cause: (err as Error)?.message }, 'a worker failed outside a task'));
    const trainer = new Trainer(cfg, layout, views, pool);
    try {
      // One init task per worker: each builds its backend and replica now, and a set-up error
      // (missing backend, bad topology) surfaces here rather than in the first step.
      const inits = await withTimeout(
        Promise.all(Array.from({ length: cfg.workers }, () => pool.run({ type: 'init' }))),
        INIT_TIMEOUT_MS,
        `worker set-up (backend ${cfg.backend}, model, workerSetup) took longer than ${INIT_TIMEOUT_MS / 1000} s`,
      );
      trainer.#gradPath = inits[0].gradPath;
    } catch (err) {
      await pool.close();
      throw err;
    }
    return trainer;
  }

  get workers(): number {
    return this.#cfg.workers;
  }

  #gradPath = '';

  /** How the replicas compute gradients: 'dense' (the dense fast path) or 'tape (why)'. */
  get gradPath(): string {
    return this.#gradPath;
  }

  /** Number of committed optimizer steps. */
  get step(): number {
    return Atomics.load(this.views.control, Control.STEP);
  }

  /** One optimizer step on the global batch `indices` (rows of the train split). */
  async trainStep(indices: ArrayLike<number>, opts: { learningRate?: number } = {}): Promise<StepStats> {
    // Faults are injected by step of this run (a skipped step does not advance STEP).
    this.#calls++;
    this.#checkIndices(indices);
    for (let attempt = 0; ; attempt++) {
      let stats: StepStats;
      try {
        stats = await this.#attemptStep(indices, attempt, opts.learningRate);
      } catch (err) {
        const fault = err as StepFault;
        if (!isRetryable(fault.cause ?? err)) throw fault.cause ?? err;
        if (this.#cluster !== undefined) {
          // Every host fails this step (its own fault, or the collective times out waiting for
          // it): re-form on the survivors, take the most advanced state, and run it again.
          const caughtUp = await this.#recover(fault);
          if (caughtUp !== undefined) return caughtUp;
          continue;
        }
        this.#onFailedStep(fault, err, attempt);
        continue;
      }
      this.#afterStep(stats);
      return stats;
    }
  }

  #checkIndices(indices: ArrayLike<number>): void {
    const n = indices.length;
    const trainCount = this.#cfg.dataset.layout.splits.train.count;
    if (n < 1 || n > this.#cfg.maxBatch) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `a step takes 1..${this.#cfg.maxBatch} samples, got ${n}`);
    }
    for (let i = 0; i < n; i++) {
      const row = indices[i];
      if (!(row >= 0 && row < trainCount && Number.isInteger(row))) {
        throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `sample index ${row} at position ${i} is outside the train split (0..${trainCount - 1})`);
      }
    }
  }

  /**
   * A step attempt failed with a retryable error on one host: counts the restart, and either lets
   * the step run again (possibly on one worker fewer) or ends training past maxRestarts.
   */
  #onFailedStep(fault: StepFault, err: unknown, attempt: number): void {
    this.#restarts++;
    const cause = (fault.cause as Error | undefined)?.message ?? (err as Error).message;
    this.#log.warn(
      { step: this.step + 1, rank: fault.rank, phase: fault.phase, cause, restart: this.#restarts },
      'a worker failed mid-step; the step runs again',
    );
    // Elastic: a step that keeps failing with this many workers runs with one fewer (a
    // worker that cannot come back is what this survives); they grow back after a while.
    if (attempt >= 1 && this.#active > this.#minWorkers) {
      this.#active--;
      this.#healthySteps = 0;
      this.#log.warn({ step: this.step + 1, workers: this.#active }, 'a step keeps failing: continuing with one worker fewer');
      return;
    }
    if (this.#restarts > this.#maxRestarts) {
      throw new ThreadfitError(
        ErrorCodes.WORKER_FAILED,
        `training stopped: workers failed ${this.#restarts} times (more than maxRestarts ${this.#maxRestarts}); last: rank ${fault.rank} in the ${fault.phase} phase of step ${this.step + 1}: ${cause}`,
        { cause: fault.cause ?? err },
      );
    }
  }

  /** Book-keeping after a committed or skipped step: the clock, the skip streak, elastic growth. */
  #afterStep(stats: StepStats): void {
    this.#clock.record(stats.wallMs);
    this.#cluster?.setMedianStep(this.#clock.medianMs ?? stats.wallMs);
    this.#completed++;
    this.#checkSkipped(stats.skipped);
    if (this.#active < this.#target && ++this.#healthySteps >= GROW_BACK_AFTER_STEPS) {
      this.#active++;
      this.#healthySteps = 0;
      this.#log.info({ step: this.step, workers: this.#active }, 'growing back by one worker');
    }
  }

  /** The most steps one execution of trainSteps runs on the workers alone (1: executions are off). */
  get stepsPerExecution(): number {
    return this.layout.runSteps;
  }

  /**
   * Several optimizer steps, one per batch of `batches`, each exactly as trainStep would make it,
   * but run by the workers on their own in executions of up to `stepsPerExecution` steps of the
   * same batch size (worker/src/step-run.ts): the coordinator posts one task per rank per
   * execution instead of one per step. `onStep` sees each step's stats as soon as the execution
   * that made it returns, in order, also when a later step fails. A failed step runs again, as in
   * trainStep, from the last committed one.
   */
  async trainSteps(
    batches: ReadonlyArray<ArrayLike<number>>,
    opts: { learningRates?: ReadonlyArray<number | undefined>; onStep?: (stats: StepStats, index: number) => void } = {},
  ): Promise<StepStats[]> {
    const out: StepStats[] = [];
    const report = (s: StepStats) => {
      opts.onStep?.(s, out.length);
      out.push(s);
    };
    if (this.stepsPerExecution === 1) {
      for (let i = 0; i < batches.length; i++) report(await this.trainStep(batches[i], { learningRate: opts.learningRates?.[i] }));
      return out;
    }
    const done = (s: StepStats) => {
      this.#afterStep(s);
      report(s);
    };
    for (const b of batches) this.#checkIndices(b);
    const callsBase = this.#calls;
    this.#calls += batches.length;
    let attempt = 0;
    while (out.length < batches.length) {
      const first = out.length;
      const n = batches[first].length;
      // An elastic trainer below its size grows back after GROW_BACK_AFTER_STEPS healthy steps,
      // between two steps: an execution ends there, as one step per round trip would.
      const growing = this.#active < this.#target;
      const limit = Math.min(this.stepsPerExecution, growing ? Math.max(1, GROW_BACK_AFTER_STEPS - this.#healthySteps) : Infinity);
      let end = first + 1;
      while (end < batches.length && end - first < limit && batches[end].length === n) end++;
      const r = await this.#attemptExecution(batches.slice(first, end), opts.learningRates?.slice(first, end) ?? [], attempt, callsBase + first);
      for (const s of r.stats) done(s);
      if (r.stats.length > 0) attempt = 0;
      if (r.fault === undefined) continue;
      if (out.length === batches.length) {
        // Every step was committed; a rank failed after that (e.g. it timed out at the last
        // release): nothing to run again.
        this.#log.warn({ cause: (r.fault.cause as Error | undefined)?.message }, 'a worker failed after the last step of an execution committed');
        break;
      }
      const cause = r.fault.cause ?? r.fault;
      if (!isRetryable(cause)) throw cause;
      this.#onFailedStep(r.fault, r.fault, attempt);
      attempt++;
    }
    return out;
  }

  /**
   * One execution: batches (all of one size) written into batchIndices at a stride of their size,
   * one run task per rank. Returns the stats of the steps the workers released (committed or
   * skipped), and the failure that ended it early, if any.
   */
  async #attemptExecution(
    batches: ReadonlyArray<ArrayLike<number>>,
    rates: ReadonlyArray<number | undefined>,
    attempt: number,
    callsBefore: number,
  ): Promise<{ stats: StepStats[]; fault?: StepFault }> {
    const t0 = epochMs();
    const { views } = this;
    const stepBefore = this.step;
    const n = batches[0].length;
    batches.forEach((b, j) => {
      views.batchIndices.set(b, j * n);
      views.runRates[j] = rates[j] ?? Number.NaN;
    });
    const plan = planStep(n, { workers: this.#active, accumulate: this.#cfg.accumulate ?? 1, microBatches: this.#cfg.microBatches });
    plan.weights.forEach((w, slot) => (views.rankWeights[slot] = w));
    const parties = plan.tasks.length;
    const fault = this.#cfg.injectFault;
    const at = fault === undefined || attempt >= (fault.times ?? 1) ? -1 : fault.step - callsBefore - 1;
    const timeoutMs = this.#cfg.stepTimeoutMs ?? this.#clock.timeoutMs;
    const tasks: RunTask[] = plan.tasks.map((t, chunk) => ({
      type: 'run',
      rank: t.rank,
      micro: t.micro,
      chunk,
      parties,
      slots: plan.slots,
      steps: batches.length,
      batchSize: n,
      barrierTimeoutMs: timeoutMs,
      attempt: 0, // set by runStepTasks
      ...(fault !== undefined && fault.rank === t.rank && at >= 0 && at < batches.length && { fault: { kind: fault.kind, at } }),
    }));
    let failed: StepFault | undefined;
    try {
      await runStepTasks(this.#pool, views.control, tasks, timeoutMs);
    } catch (err) {
      failed = err as StepFault;
    }
    // Every task has settled: the records of the released steps are final.
    let released = Atomics.load(views.control, Control.RELEASED) & BARRIER_COUNT_MASK;
    const committed = Atomics.load(views.control, Control.STEP) - stepBefore;
    // The last released step was skipped (non-finite): HALT was raised and it was not committed.
    const halted = Atomics.load(views.control, Control.HALT) !== 0 && released === committed + 1;
    // A committer stopped between its flip and its release (terminated after a timeout) leaves a
    // committed step unreleased: STEP is the truth (every rank's record of it is written, since
    // the committer is the last one in). Its end time is unknown: now. (One stopped between a HALT
    // and its release leaves the skipped step to run again, which skips it again.)
    if (!halted && committed > released) {
      for (let j = released; j < committed; j++) views.runStepEnds[j] = epochMs();
      released = committed;
    }
    const stats: StepStats[] = [];
    for (let j = 0; j < released; j++) {
      const recs = plan.tasks.map((_, r) => views.runRecord(j, r));
      const max = (f: (rec: Float64Array) => number) => Math.max(...recs.map(f));
      const wallMs = Math.max(0, views.runStepEnds[j] - (j === 0 ? t0 : views.runStepEnds[j - 1]));
      const grad = max((r) => r[RunRecord.COMPUTE_MS] + r[RunRecord.COPY_MS]);
      const data = max((r) => r[RunRecord.GATHER_MS]);
      const update = max((r) => r[RunRecord.UPDATE_MS]);
      const metricCount = recs[0][RunRecord.METRIC_COUNT];
      stats.push({
        count: recs.reduce((a, r) => a + r[RunRecord.COUNT], 0),
        lossSum: recs.reduce((a, r) => a + r[RunRecord.LOSS_SUM], 0),
        metricSums: Array.from({ length: metricCount }, (_, i) => recs.reduce((a, r) => a + r[RUN_RECORD_WIDTH + i], 0)),
        skipped: halted && j === released - 1,
        wallMs,
        ms: { grad, update, data, coord: Math.max(0, wallMs - grad - update - data) },
      });
    }
    return { stats, ...(failed !== undefined && { fault: failed }) };
  }

  /**
   * One attempt at a step. Its inputs (committed buffers, batchIndices, rankWeights) are never
   * written by it, so a failed attempt can simply be made again.
   */
  async #attemptStep(indices: ArrayLike<number>, attempt: number, learningRate: number | undefined): Promise<StepStats> {
    const t0 = performance.now();
    const { views } = this;
    const from = views.committed;
    const step = this.step;
    // This host's rows: all of them on one host, its shard of the global batch on several (the
    // shards change when the host group shrinks).
    const cluster = this.#cluster;
    const mine = cluster === undefined ? { start: 0, end: indices.length } : shardRanges(indices.length, cluster.hosts)[cluster.hostRank];
    const n = mine.end - mine.start;
    for (let i = 0; i < n; i++) views.batchIndices[i] = indices[mine.start + i];
    const plan = planStep(n, { workers: this.#active, accumulate: this.#cfg.accumulate ?? 1, microBatches: this.#cfg.microBatches });
    if (cluster !== undefined && plan.tasks.length !== this.#active) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `host ${cluster.hostRank}'s share of the batch (${n} of ${indices.length} rows) is smaller than its ${this.#active} workers: use a larger batch or fewer workers`,
      );
    }
    // The stop vote rides on the last chunk's sum (HostFlag): every host learns it at the same step.
    if (cluster !== undefined) views.hostFlags[HostFlag.STOP] = this.#stopRequested ? 1 : 0;
    // Each slot's weight is its share of the GLOBAL batch, so the sum across hosts is the mean.
    plan.weights.forEach((w, slot) => (views.rankWeights[slot] = (w * n) / indices.length));
    const fault = this.#cfg.injectFault;
    const faultFor = (rank: number) =>
      fault !== undefined && attempt < (fault.times ?? 1) && fault.step === this.#calls && fault.rank === rank ? fault.kind : undefined;

    // One round trip: each rank computes its micro-batches, meets the others at the in-step
    // barrier (every slot written), then reduces and updates its chunk into params/state[1-from].
    const parties = plan.tasks.length;
    // Across hosts a rank may wait for a collective up to the comm timeout: the step timeout (which
    // terminates workers) stays above it, so a dead peer surfaces as ERR_THREADFIT_COMM.
    const timeoutMs = Math.max(this.#cfg.stepTimeoutMs ?? this.#clock.timeoutMs, 2 * (cluster?.commTimeoutMs ?? 0));
    const results = await runStepTasks(
      this.#pool,
      this.views.control,
      plan.tasks.map((t, chunk) => ({
        type: 'step' as const,
        grad: { type: 'grad' as const, rank: t.rank, micro: t.micro, step, from, fault: faultFor(t.rank) },
        update: {
          type: 'update' as const,
          chunk,
          chunks: parties,
          slots: plan.slots,
          from,
          step: step + 1,
          learningRate,
          comm: cluster && { group: cluster.chunkGroup(chunk).handle, hostRank: cluster.hostRank, hosts: cluster.hosts, timeoutMs: cluster.commTimeoutMs },
        },
        parties,
        barrierTimeoutMs: timeoutMs,
        attempt: 0, // set by #runStep
      })),
      timeoutMs,
    );
    const grads = results.map((r) => r.grad);
    const updates = results.map((r) => r.update);
    const nonFinite = updates.reduce((a, u) => a + u.nonFinite, 0);
    // Non-finite gradients, weights, optimizer state or averaged moving statistics: the step
    // is skipped for every rank (nothing is flipped), so nothing non-finite is ever committed.
    const badBuffers = nonFinite === 0 && this.layout.paddedBufferCount > 0 ? averageBuffers(views, from, plan.slots) : 0;
    const skipped = nonFinite + badBuffers > 0;
    if (cluster !== undefined && views.hostFlags[HostFlag.STOP] > 0) this.#stopAgreed = true;
    if (!skipped) {
      // Commit: the flip is the single write that publishes the new weights to every replica.
      Atomics.store(views.control, Control.COMMITTED, 1 - from);
      Atomics.add(views.control, Control.STEP, 1);
    }
    const wallMs = performance.now() - t0;
    const grad = Math.max(...grads.map((g) => g.ms.compute + g.ms.copy));
    const data = Math.max(...grads.map((g) => g.ms.gather));
    const update = Math.max(...updates.map((u) => u.ms));
    const comm = Math.max(...updates.map((u) => u.commMs ?? 0));
    return {
      count: n,
      lossSum: grads.reduce((a, g) => a + g.lossSum, 0),
      metricSums: grads.reduce<number[]>((acc, g) => (acc.length === 0 ? [...g.metricSums] : acc.map((s, i) => s + g.metricSums[i])), []),
      skipped,
      wallMs,
      ms: { grad, update, data, coord: Math.max(0, wallMs - grad - update - data - comm), ...(cluster && { comm }) },
    };
  }

  /**
   * Multi-host recovery after a failed step: re-form the host group on the survivors, then make
   * every host's state that of the most advanced one (a peer may have completed the step this host
   * failed: a ring can finish on some ranks and not on others). Returns stats when this host's
   * pending step turns out completed elsewhere (it then moves on); undefined: run the step again.
   */
  async #recover(fault: StepFault, phaseTimeoutMs = 0): Promise<StepStats | undefined> {
    const cluster = this.#cluster!;
    const cause = (fault.cause as Error | undefined)?.message ?? fault.message;
    for (;;) {
      this.#restarts++;
      if (this.#restarts > this.#maxRestarts) {
        throw new ThreadfitError(
          ErrorCodes.COMM,
          `training stopped: steps failed ${this.#restarts} times (more than maxRestarts ${this.#maxRestarts}); last at step ${this.step + 1}: ${cause}`,
          { cause: fault.cause },
        );
      }
      try {
        await cluster.reform(`step ${this.step + 1}: ${cause}`, phaseTimeoutMs);
        const ahead = await this.#syncFromMostAdvanced();
        if (!ahead) return undefined;
        this.#log.warn({ step: this.step }, 'another host had completed this step: taking its result and moving on');
        const ms = { grad: 0, update: 0, data: 0, comm: 0, coord: 0 };
        return { count: 0, lossSum: 0, metricSums: [], skipped: false, wallMs: 0, ms };
      } catch (err) {
        if ((err as { code?: string }).code !== ErrorCodes.COMM || /was dropped|fewer than the minimum|could not re-form/.test((err as Error).message))
          throw err;
        // Another host failed during the recovery itself: re-form again.
      }
    }
  }

  /**
   * Every host takes the committed weights, optimizer state, step and stop vote of the host that
   * completed the most steps (the lowest rank among equals). True when that is ahead of this host.
   * (Non-trainable buffers are refused across hosts, so there are none to send.)
   */
  async #syncFromMostAdvanced(): Promise<boolean> {
    const cluster = this.#cluster!;
    // The stop vote too: a host that completed the step others failed may have read it.
    const rows = await cluster.allgather([this.#completed, this.step, this.#stopAgreed ? 1 : 0]);
    if (rows.some((r) => r[2] > 0)) this.#stopAgreed = true;
    const best = Math.max(...rows.map((r) => r[0]));
    const root = rows.findIndex((r) => r[0] === best);
    const { views } = this;
    const c = views.committed;
    // The root sends its committed buffers; the others receive into their UNcommitted ones and flip
    // only when every part has arrived, so a root dying mid-sync leaves nothing half-written.
    const isRoot = cluster.hostRank === root;
    const into = isRoot ? c : ((1 - c) as 0 | 1);
    await cluster.broadcast(views.params(into), root);
    for (let s = 0; s < this.layout.state.length; s++) await cluster.broadcast(views.state(s, into), root);
    if (!isRoot) {
      Atomics.store(views.control, Control.COMMITTED, into);
      Atomics.store(views.control, Control.STEP, rows[root][1]);
    }
    const ahead = best > this.#completed;
    this.#completed = best;
    this.#log.info(
      { generation: cluster.generation, hostRank: cluster.hostRank, hosts: cluster.hosts, from: root, step: rows[root][1] },
      'state synced across hosts',
    );
    return ahead;
  }

  /**
   * Each host's `values`, in host-rank order (one row per host; a single row on one host). A
   * failure re-forms the group and returns this host's own row only.
   */
  async acrossHosts(values: readonly number[]): Promise<number[][]> {
    const cluster = this.#cluster;
    if (cluster === undefined) return [[...values]];
    try {
      // Once an epoch, after work that differs per host (validation): a long timeout.
      return await cluster.allgather(values, EPOCH_GATHER_TIMEOUT_MS);
    } catch (err) {
      if ((err as { code?: string }).code !== ErrorCodes.COMM) throw err;
      // Not gathered again: a host may have completed this gather before the failure and moved
      // on to the next step; after the re-form every host is at the same point again.
      await this.#recover(Object.assign(new Error('gather failed'), { cause: err, rank: -1, phase: 'step' as const }), EPOCH_GATHER_TIMEOUT_MS);
      this.#log.warn("a host failed at the epoch end: this epoch's figures are this host's own");
      return [[...values]];
    }
  }

  /**
   * Several hosts: waits for every host after uneven work (worker start-up, a checkpoint only rank
   * 0 writes), so that the next collective's short timeout does not count it. A no-op on one host.
   */
  async hostBarrier(timeoutMs: number): Promise<void> {
    const cluster = this.#cluster;
    if (cluster === undefined) return;
    try {
      await cluster.barrier(timeoutMs);
    } catch (err) {
      if ((err as { code?: string }).code !== ErrorCodes.COMM) throw err;
      // The re-form itself lines the survivors up: the barrier is not tried again (a host may
      // have passed it before the failure).
      await this.#recover(Object.assign(new Error('barrier failed'), { cause: err, rank: -1, phase: 'step' as const }), timeoutMs);
    }
  }

  /** Asks every host to stop after the step in flight (a signal on this host). One host: only this one. */
  requestStop(): void {
    this.#stopRequested = true;
  }

  /** Several hosts: some host asked to stop, and every host learnt it at the same step. */
  get stopAgreed(): boolean {
    return this.#stopAgreed;
  }

  /** Several hosts: the others re-formed without this host (it must stop, and not checkpoint). */
  get dropped(): boolean {
    return this.#cluster?.dropped ?? false;
  }

  /** Several hosts: this host's rank now (0 writes checkpoints and reports) and the host count. */
  get hostRank(): number {
    return this.#cluster?.hostRank ?? 0;
  }
  get hosts(): number {
    return this.#cluster?.hosts ?? 1;
  }

  #checkSkipped(skipped: boolean): void {
    if (!skipped) {
      this.#skippedInARow = 0;
      return;
    }
    this.#skippedInARow++;
    this.#log.warn(
      { step: this.step + 1, inARow: this.#skippedInARow },
      'non-finite gradients after the reduce: the step was skipped for every rank (weights and optimizer state unchanged)',
    );
    if (this.#skippedInARow > this.#maxSkipped) {
      throw new ThreadfitError(
        ErrorCodes.NON_FINITE,
        `training stopped: non-finite gradients ${this.#skippedInARow} steps in a row (more than maxSkippedSteps ${this.#maxSkipped}); the last at step ${this.step + 1} (the weights are those of step ${this.step})`,
      );
    }
  }

  /** Loss and metrics over a whole split with the committed weights, split across the workers. */
  async evaluate(split = 'test'): Promise<EvalStats> {
    const count = this.#cfg.dataset.layout.splits[split]?.count ?? 0;
    const from = this.views.committed;
    const step = this.step;
    const parts = shardRanges(count, this.#active).filter((r) => r.end > r.start);
    // Read-only, so safe to repeat: a failed or hung evaluation is run again, within maxRestarts.
    const timeoutMs = Math.max(this.#clock.timeoutMs, (this.#cfg.stepTimeoutMs ?? 0) * Math.ceil(count / this.#cfg.maxBatch));
    let results: EvaluateResult[];
    for (let attempt = 0; ; attempt++) {
      const aborts = parts.map(() => new AbortController());
      const timer = setTimeout(() => aborts.forEach((a) => a.abort()), timeoutMs);
      const settled = await Promise.allSettled(
        parts.map((r, i) => this.#pool.run({ type: 'evaluate', split, step, from, start: r.start, end: r.end }, aborts[i].signal)),
      );
      clearTimeout(timer);
      const failed = settled.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed === undefined) {
        results = settled.map((x) => (x as PromiseFulfilledResult<EvaluateResult>).value);
        break;
      }
      if (!isRetryable(failed.reason)) throw failed.reason;
      this.#restarts++;
      this.#log.warn({ split, cause: (failed.reason as Error)?.message, restart: this.#restarts }, 'evaluation failed; it runs again');
      if (this.#restarts > this.#maxRestarts) {
        throw new ThreadfitError(
          ErrorCodes.WORKER_FAILED,
          `evaluation of '${split}' failed (restarts ${this.#restarts} > maxRestarts ${this.#maxRestarts}): ${(failed.reason as Error)?.message}`,
          {
            cause: failed.reason,
          },
        );
      }
    }
    const lossSum = results.reduce((a, r) => a + r.lossSum, 0);
    const metricSums = results.reduce<number[]>((acc, r) => (acc.length === 0 ? [...r.metricSums] : acc.map((s, i) => s + r.metricSums[i])), []);
    return { count, loss: lossSum / count, metrics: metricSums.map((s) => s / count) };
  }

  /** Copies of the committed weights, in model.getWeights() order. */
  committedWeights(): Float32Array[] {
    const c = this.views.committed;
    return this.#cfg.model.weights.map((w) => (w.trainable ? this.views.params(c) : this.views.buffers(c)).slice(w.offset, w.offset + w.size));
  }

  /** Workers the next step uses (elastic trainers shrink and grow between steps). */
  get activeWorkers(): number {
    return this.#active;
  }

  /**
   * Uses `workers` of the pool from the next step on (1..the pool's size): the elastic resize
   * parallelFit offers at an epoch boundary. In deterministic mode the result does not change.
   */
  resize(workers: number): void {
    if (!Number.isInteger(workers) || workers < 1 || workers > this.workers) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `resize: workers must be an integer in 1..${this.workers} (the pool's size), got ${workers}`);
    }
    this.#active = workers;
    this.#target = workers;
    this.#healthySteps = 0;
  }

  /** Worker restarts so far (failed attempts that were run again). */
  get restarts(): number {
    return this.#restarts;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
