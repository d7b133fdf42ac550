/**
 * The data-parallel engine's public face: shared state, the worker pool, and optimizer steps in
 * executions of k >= 1 steps (step.ts; a single step is an execution of one).
 *
 *   Trainer.trainSteps(batches)
 *     │  cut into executions: same batch size, at most stepsPerExecution, ending where elastic
 *     │  growth is due (supervisor.ts); across hosts, one step each (cluster/host-sync.ts)
 *     ├─▶ runExecution (step.ts) ──P tasks──▶ worker/src/execution.ts: per step, grads -> slots,
 *     │                                       barrier, chunk update, commit by the last rank in
 *     ◀── released steps' stats, or a StepFault
 *     └─ on a fault: retryable? rerun from the last committed step (supervisor: restarts,
 *        elastic shrink; several hosts: re-form and sync from the most advanced host)
 *
 * The committed buffer is never written during a step, so a failed or non-finite step leaves
 * the weights as they were and the step can simply run again.
 */
import {
  Control,
  checkSwitches,
  ErrorCodes,
  Errors,
  ThreadfitError,
  silentLogger,
  type Logger,
  type NativeStepKind,
  type StateLayout,
  type StateViews,
  type WorkerInit,
} from '@threadfit/shared';
import { WorkerPool } from './pool.js';
import { isRetryable } from './faults.js';
import type { TrainerConfig } from './config.js';
import { evaluateSplit, type EvalStats } from './evaluation.js';
import { planStep, type StepPlan } from './step-plan.js';
import { runExecution, type ExecutionOutcome, type StepStats } from './step.js';
import { Supervisor } from './supervisor.js';
import { committedWeights, createTrainingState } from './state.js';
import { pinTensorflowThreads, preloadTensorflow, wantsOneDnn } from './backend-choice.js';
import { HostSync } from '../cluster/host-sync.js';
import { commModuleUrl } from '../cluster/comm.js';

export type { StepMs, StepStats } from './step.js';
export type { TrainerConfig } from './config.js';
export type { EvalStats } from './evaluation.js';

/** Worker start-up (backend, replica) must finish within this. */
const INIT_TIMEOUT_MS = 300_000;

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ThreadfitError(ErrorCodes.WORKER_FAILED, message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class Trainer {
  readonly layout: StateLayout;
  readonly views: StateViews;
  /** How the replicas compute gradients: 'dense' (the dense fast path) or 'tape (why)'. */
  readonly gradPath: string;
  /** On the native step: its kernels ('avx512', 'tf-graph' or 'wasm-simd'). */
  readonly nativeKind: NativeStepKind | undefined;
  readonly #pool: WorkerPool;
  readonly #cfg: TrainerConfig;
  readonly #supervisor: Supervisor;
  readonly #hosts: HostSync | undefined;
  readonly #log: Logger;
  /** The workers' notices logged so far (traced graph step). */
  readonly #notices = new Set<string>();
  /** What the traced graph step decided in this trainer's workers, in order, each once. */
  get notices(): readonly string[] {
    return [...this.#notices];
  }

  private constructor(
    cfg: TrainerConfig,
    state: { layout: StateLayout; views: StateViews },
    pool: WorkerPool,
    gradPath: string,
    nativeKind: NativeStepKind | undefined,
  ) {
    this.#cfg = cfg;
    this.layout = state.layout;
    this.views = state.views;
    this.#pool = pool;
    this.gradPath = gradPath;
    this.nativeKind = nativeKind;
    this.#log = (cfg.logger ?? silentLogger).child({ component: 'trainer' });
    this.#supervisor = new Supervisor(cfg, this.#log);
    this.#hosts = cfg.cluster && new HostSync(cfg.cluster, state.views, state.layout, this.#supervisor, this.#log);
  }

  static async create(cfg: TrainerConfig): Promise<Trainer> {
    // The workers read the performance switches from this process's environment: a bad value is
    // the caller's error, here, not a worker's.
    checkSwitches();
    if (cfg.cluster !== undefined && cfg.model.bufferCount > 0) {
      // Moving statistics are averaged per host at commit and would drift apart across hosts.
      throw new ThreadfitError(
        ErrorCodes.UNSUPPORTED,
        'models with non-trainable weights (BatchNormalization moving statistics, frozen layers) are not supported across hosts yet',
      );
    }
    const state = createTrainingState({ ...cfg, multiHost: cfg.cluster !== undefined });
    const init: WorkerInit = {
      backend: cfg.backend,
      threadsPerWorker: cfg.threadsPerWorker ?? 1,
      denseFastPath: cfg.gradients !== 'tape',
      stateMemory: state.memory,
      stateLayout: state.layout,
      dataset: cfg.dataset.buffer,
      datasetLayout: cfg.dataset.layout,
      decode: cfg.dataset.decode,
      model: cfg.model,
      optimizer: cfg.optimizer,
      logLevel: cfg.logLevel ?? 'info',
      seed: cfg.seed ?? 0,
      workerSetup: cfg.workerSetup,
      classWeights: cfg.classWeights,
      commModule: cfg.cluster === undefined ? undefined : commModuleUrl.href,
    };
    if (cfg.backend === 'tensorflow') pinTensorflowThreads(cfg.threadsPerWorker ?? 1, wantsOneDnn(cfg.model.topology));
    const poolLog = (cfg.logger ?? silentLogger).child({ component: 'pool' });
    const pool = new WorkerPool(init, cfg.workers, (err) => poolLog.warn({ cause: (err as Error)?.message }, 'a worker failed outside a task'));
    // libtensorflow's start-up in this thread while the workers load their JavaScript (backend-choice.ts).
    if (cfg.backend === 'tensorflow') preloadTensorflow();
    try {
      // One init task per worker: each builds its backend and replica now, and a set-up error
      // (missing backend, bad topology) surfaces here rather than in the first step.
      const inits = await withTimeout(
        Promise.all(Array.from({ length: cfg.workers }, () => pool.run({ type: 'init' }))),
        INIT_TIMEOUT_MS,
        `worker set-up (backend ${cfg.backend}, model, workerSetup) took longer than ${INIT_TIMEOUT_MS / 1000} s`,
      );
      return new Trainer(cfg, state, pool, inits[0].gradPath, inits[0].nativeKind);
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  get workers(): number {
    return this.#cfg.workers;
  }

  /** Number of committed optimizer steps. */
  get step(): number {
    return Atomics.load(this.views.control, Control.STEP);
  }

  /** The most steps one execution runs on the workers alone (1 across hosts). */
  get stepsPerExecution(): number {
    return this.layout.stepsPerExecution;
  }

  /** One optimizer step on the global batch `indices` (rows of the train split): an execution of one. */
  async trainStep(indices: ArrayLike<number>, opts: { learningRate?: number } = {}): Promise<StepStats> {
    return (await this.trainSteps([indices], { learningRates: [opts.learningRate] }))[0];
  }

  /**
   * Optimizer steps, one per global batch of `batches`, run by the workers in executions of up to
   * `stepsPerExecution` steps of the same batch size. `onStep` sees each step's stats as soon as
   * the execution that made it returns, in order, also when a later step fails. A failed step
   * runs again from the last committed one; a skipped (non-finite) step is not run again.
   */
  async trainSteps(
    batches: ReadonlyArray<ArrayLike<number>>,
    opts: { learningRates?: ReadonlyArray<number | undefined>; onStep?: (stats: StepStats, index: number) => void } = {},
  ): Promise<StepStats[]> {
    for (const b of batches) this.#checkIndices(b);
    const out: StepStats[] = [];
    const report = (s: StepStats) => {
      opts.onStep?.(s, out.length);
      out.push(s);
    };
    // Failed attempts of the step at out.length (0 after any progress).
    let attempt = 0;
    while (out.length < batches.length) {
      const first = out.length;
      const n = batches[first].length;
      let end = first + 1;
      const limit = this.#supervisor.executionLimit(this.stepsPerExecution);
      while (end < batches.length && end - first < limit && batches[end].length === n) end++;
      const r = await this.#execute(batches.slice(first, end), opts.learningRates?.slice(first, end) ?? []);
      for (const s of r.stats) {
        this.#supervisor.afterStep(s.wallMs, s.skipped, this.step);
        this.#hosts?.afterStep(this.#supervisor.clock.medianMs ?? s.wallMs);
        report(s);
      }
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
      if (this.#hosts !== undefined) {
        // Every host fails this step (its own fault, or the collective times out waiting for
        // it): re-form on the survivors, take the most advanced state, and run it again unless
        // another host had completed it.
        // (The sync already counted a step taken over from another host.)
        if (await this.#hosts.recover((cause as Error)?.message ?? String(cause), cause)) report(emptyStep());
        continue;
      }
      this.#supervisor.onFailedStep(r.fault, attempt, this.step + 1);
      attempt++;
    }
    return out;
  }

  /** One execution of these batches (one size): this host's rows, the plan, the fault, the timeout. */
  async #execute(batches: ReadonlyArray<ArrayLike<number>>, rates: ReadonlyArray<number | undefined>): Promise<ExecutionOutcome> {
    const hosts = this.#hosts;
    const share = hosts?.shareOf(batches[0]);
    const rows = share === undefined ? batches : [share.rows];
    const plan = this.#plan(rows[0].length, share?.scale ?? 1, batches[0].length);
    const sup = this.#supervisor;
    const fault = sup.faultFor(this.step, rows.length, plan.tasks.length);
    // Across hosts a rank may wait for a collective up to the comm timeout: the step timeout (which
    // terminates workers) stays above it, so a dead peer surfaces as ERR_THREADFIT_COMM.
    const group = hosts?.group;
    const timeoutMs = Math.max(sup.stepTimeoutMs, 2 * (group?.commTimeoutMs ?? 0));
    const comm =
      group && ((chunk: number) => ({ group: group.chunkGroup(chunk).handle, hostRank: group.hostRank, hosts: group.hosts, timeoutMs: group.commTimeoutMs }));
    const r = await runExecution(this.#pool, this.views, { plan, batches: rows, rates, timeoutMs, fault, comm, reportComm: hosts !== undefined });
    // The traced graph step's decisions, once each (every worker makes the same ones).
    for (const n of r.notices) {
      if (this.#notices.has(n)) continue;
      this.#notices.add(n);
      this.#log.info({ gradients: 'traced' }, `gradients: ${n}`);
    }
    if (fault !== undefined && (r.stats.length > fault.at || (r.stats.length === fault.at && r.fault !== undefined))) sup.faultStruck();
    return r;
  }

  /** The step's micro-batches over the active workers, each slot weighted by its share of the global batch. */
  #plan(n: number, scale: number, global: number): StepPlan {
    const active = this.#supervisor.activeWorkers;
    const plan = planStep(n, { workers: active, accumulate: this.#cfg.accumulate ?? 1, microBatches: this.#cfg.microBatches });
    if (this.#hosts !== undefined && plan.tasks.length !== active) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `host ${this.#hosts.hostRank}'s share of the batch (${n} of ${global} rows) is smaller than its ${active} workers: use a larger batch or fewer workers`,
      );
    }
    plan.weights.forEach((w, slot) => (this.views.slotWeights[slot] = w * scale));
    return plan;
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
   * Loss and metrics over a whole split (or its first `rows` rows: a validation ring) with the
   * committed weights, split across the workers.
   * Read-only, so safe to repeat: a failed or hung evaluation runs again, within maxRestarts.
   */
  async evaluate(split = 'test', rows?: number): Promise<EvalStats> {
    const count = Math.min(rows ?? Infinity, this.#cfg.dataset.layout.splits[split]?.count ?? 0);
    return evaluateSplit(this.#pool, this.#supervisor, { split, count, step: this.step, from: this.views.committed, maxBatch: this.#cfg.maxBatch });
  }

  /** Copies of the committed weights, in model.getWeights() order. */
  committedWeights(): Float32Array[] {
    return committedWeights(this.views, this.#cfg.model);
  }

  /** Workers the next step uses (elastic trainers shrink and grow between steps). */
  get activeWorkers(): number {
    return this.#supervisor.activeWorkers;
  }

  /**
   * Uses `workers` of the pool from the next step on (1..the pool's size): the elastic resize
   * parallelFit offers at an epoch boundary. In deterministic mode the result does not change.
   */
  resize(workers: number): void {
    if (!Number.isInteger(workers) || workers < 1 || workers > this.workers) {
      throw Errors.invalidOption('workers', workers, `an integer in 1..${this.workers} (the pool's size)`, 'resize:');
    }
    this.#supervisor.resize(workers);
  }

  /** Failed attempts (steps or evaluations) that were run again. */
  get restarts(): number {
    return this.#supervisor.restarts;
  }

  // ---- several hosts (one host: the neutral answers) --------------------------------------

  /** Each host's `values`, in host-rank order (one row on one host). */
  async acrossHosts(values: readonly number[]): Promise<number[][]> {
    return this.#hosts === undefined ? [[...values]] : this.#hosts.gather(values);
  }

  /** Several hosts: waits for every host after uneven work. A no-op on one host. */
  async hostBarrier(timeoutMs: number): Promise<void> {
    await this.#hosts?.barrier(timeoutMs);
  }

  /** Asks every host to stop after the step in flight (a signal on this host). One host: only this one. */
  requestStop(): void {
    this.#hosts?.requestStop();
  }

  /** Several hosts: some host asked to stop, and every host learnt it at the same step. */
  get stopAgreed(): boolean {
    return this.#hosts?.stopAgreed ?? false;
  }

  /** Several hosts: the others re-formed without this host (it must stop, and not checkpoint). */
  get dropped(): boolean {
    return this.#cfg.cluster?.dropped ?? false;
  }

  /** This host's rank (0 writes checkpoints and reports) and the host count. */
  get hostRank(): number {
    return this.#hosts?.hostRank ?? 0;
  }
  get hosts(): number {
    return this.#hosts?.hosts ?? 1;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** A step another host completed while this one failed it: taken over by the sync, no figures of its own. */
function emptyStep(): StepStats {
  return { count: 0, lossSum: 0, metricSums: [], skipped: false, wallMs: 0, ms: { grad: 0, update: 0, data: 0, comm: 0, coord: 0 } };
}
