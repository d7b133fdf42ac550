/**
 * One execution of k >= 1 optimizer steps: the only way a step runs (worker/src/execution.ts is
 * its worker half, and the only place a step is committed).
 *
 *   coordinator                                  ranks 0..P-1 (one task each)
 *   ───────────                                  ────────────────────────────
 *   write batchIndices (step j at j x batch),
 *   stepRates, slotWeights; ATTEMPT += 1;
 *   barrier words := the attempt's tag  ──P tasks──▶  for each step j: grads -> slots; in-step
 *                                                     barrier; chunk update; record; commit barrier
 *                                                     (the last rank in commits or halts, releases)
 *   wait for ALL tasks to settle    ◀──────────────   steps done
 *   read the released steps' records -> StepStats
 *
 * The first failure raises ABORT (ranks waiting at a barrier give up within a wait slice); an
 * execution in which no step is released for `timeoutMs` is hung: ABORT, and the tasks still
 * running after a grace period are aborted, which makes piscina terminate and replace their
 * workers. Waiting for every task means no straggler writes a slot during a rerun.
 */
import {
  BARRIER_COUNT_MASK,
  Control,
  ErrorCodes,
  Errors,
  STEP_RECORD_WIDTH,
  StepFault,
  StepRecord,
  attemptTag,
  epochMs,
  hasCode,
  type ExecutionTask,
  type FaultKind,
  type StateViews,
} from '@threadfit/shared';
import type { WorkerPool } from './pool.js';
import type { StepPlan } from './step-plan.js';

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

/** What one execution runs: its plan, its batches (all of one size) and how long a step may take. */
export interface ExecutionSpec {
  plan: StepPlan;
  /** This host's rows of each step (all of one length). */
  batches: ReadonlyArray<ArrayLike<number>>;
  /** Each step's learning rate (undefined: the optimizer's own). */
  rates: ReadonlyArray<number | undefined>;
  timeoutMs: number;
  /** The injected fault (testing aid): this rank fails at step `at` of the execution. */
  fault?: { kind: FaultKind; rank: number; at: number };
  /** Several hosts: the comm part of rank r's task (executions of one step). */
  comm?: (chunk: number) => ExecutionTask['comm'];
  /** Report the slowest chunk's comm time (several hosts). */
  reportComm: boolean;
}

export interface ExecutionOutcome {
  /** The steps the workers released (committed, or skipped as the last one), in order. */
  stats: StepStats[];
  /** The workers' notices (ExecutionResult.notices), each once. */
  notices: string[];
  /** The failure that ended the execution early, if any. */
  fault?: StepFault;
}

/** After the step timeout raises ABORT, how long ranks waiting at the barrier get to return. */
const ABORT_GRACE_MS = 200;

export async function runExecution(pool: WorkerPool, views: StateViews, spec: ExecutionSpec): Promise<ExecutionOutcome> {
  const t0 = epochMs();
  const stepBefore = Atomics.load(views.control, Control.STEP);
  const { plan, batches } = spec;
  const n = batches[0].length;
  batches.forEach((b, j) => {
    views.batchIndices.set(b, j * n);
    views.stepRates[j] = spec.rates[j] ?? Number.NaN;
  });
  const parties = plan.tasks.length;
  const tasks: ExecutionTask[] = plan.tasks.map((t, chunk) => ({
    type: 'execute',
    rank: t.rank,
    micro: t.micro,
    chunk,
    parties,
    slots: plan.slots,
    steps: batches.length,
    batchSize: n,
    barrierTimeoutMs: spec.timeoutMs,
    attempt: 0, // set by settleTasks
    ...(spec.fault !== undefined && spec.fault.rank === t.rank && { fault: { kind: spec.fault.kind, at: spec.fault.at } }),
    ...(spec.comm !== undefined && { comm: spec.comm(chunk) }),
  }));
  let fault: StepFault | undefined;
  const notices = new Set<string>();
  try {
    await settleTasks(pool, views.control, tasks, spec.timeoutMs, notices);
  } catch (err) {
    fault = err as StepFault;
  }
  return { stats: releasedSteps(views, stepBefore, parties, t0, spec.reportComm), notices: [...notices], ...(fault !== undefined && { fault }) };
}

/**
 * Runs the tasks under a fresh attempt and waits for ALL of them to settle. Throws a StepFault
 * naming the rank whose failure (not a consequence of another's) ended the attempt.
 */
async function settleTasks(pool: WorkerPool, control: Int32Array, tasks: ExecutionTask[], timeoutMs: number, notices: Set<string>): Promise<void> {
  // A new attempt number first: a straggler of an aborted attempt (terminated asynchronously)
  // sees it and stops before it can arrive at this attempt's barrier or write an update.
  const attempt = Atomics.add(control, Control.ATTEMPT, 1) + 1;
  for (const t of tasks) t.attempt = attempt;
  Atomics.store(control, Control.ABORT, 0);
  // The barrier words carry this attempt's tag: a straggler of an older one cannot count in them.
  for (const word of [Control.BARRIER, Control.COMMIT_BARRIER, Control.RELEASED]) Atomics.store(control, word, attemptTag(attempt));
  Atomics.store(control, Control.HALT, 0);
  const raiseAbort = () => {
    Atomics.store(control, Control.ABORT, 1);
    Atomics.notify(control, Control.BARRIER);
    Atomics.notify(control, Control.RELEASED);
  };
  const aborts = tasks.map(() => new AbortController());
  const settled = tasks.map(() => false);
  let timedOut = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  // The timeout is per step: an execution is hung when no step was released for that long.
  let released = Atomics.load(control, Control.RELEASED);
  const onTimeout = () => {
    const now = Atomics.load(control, Control.RELEASED);
    if (now !== released) {
      released = now;
      timer = setTimeout(onTimeout, timeoutMs);
      return;
    }
    timedOut = true;
    raiseAbort();
    grace = setTimeout(() => aborts.forEach((a, i) => settled[i] || a.abort()), ABORT_GRACE_MS);
  };
  let timer = setTimeout(onTimeout, timeoutMs);
  try {
    const results = await Promise.allSettled(
      tasks.map((t, i) =>
        pool.run(t, aborts[i].signal).then(
          (r) => {
            settled[i] = true;
            for (const n of r.notices ?? []) notices.add(n);
            return r;
          },
          (err: unknown) => {
            settled[i] = true;
            raiseAbort();
            throw err;
          },
        ),
      ),
    );
    // The cause is the first rank that failed on its own: the others gave up because of it.
    const own = results.findIndex((s) => s.status === 'rejected' && !hasCode(s.reason, ErrorCodes.STEP_ABANDONED));
    const first = own >= 0 ? own : results.findIndex((s) => s.status === 'rejected');
    if (first < 0) return;
    const hung = timedOut ? tasks.findIndex((_, i) => !settled[i]) : -1;
    const cause = timedOut ? Errors.stepTimeout(timeoutMs) : (results[first] as PromiseRejectedResult).reason;
    throw new StepFault(tasks[hung >= 0 ? hung : first].rank, cause);
  } finally {
    clearTimeout(timer);
    if (grace !== undefined) clearTimeout(grace);
  }
}

/** The stats of the steps released in the attempt that just settled (its records are final). */
function releasedSteps(views: StateViews, stepBefore: number, parties: number, t0: number, reportComm: boolean): StepStats[] {
  const { control } = views;
  let released = Atomics.load(control, Control.RELEASED) & BARRIER_COUNT_MASK;
  const committed = Atomics.load(control, Control.STEP) - stepBefore;
  // The last released step was skipped (non-finite): HALT was raised and it was not committed.
  const halted = Atomics.load(control, Control.HALT) !== 0 && released === committed + 1;
  // A committer stopped between its flip and its release (terminated after a timeout) leaves a
  // committed step unreleased: STEP is the truth (every rank's record of it is written, since
  // the committer is the last one in). Its end time is unknown: now. (One stopped between a HALT
  // and its release leaves the skipped step to run again, which skips it again.)
  if (!halted && committed > released) {
    for (let j = released; j < committed; j++) views.stepEnds[j] = epochMs();
    released = committed;
  }
  const stats: StepStats[] = [];
  for (let j = 0; j < released; j++) {
    const recs = Array.from({ length: parties }, (_, r) => views.stepRecord(j, r));
    const max = (f: (rec: Float64Array) => number) => Math.max(...recs.map(f));
    const sum = (f: (rec: Float64Array) => number) => recs.reduce((a, r) => a + f(r), 0);
    const wallMs = Math.max(0, views.stepEnds[j] - (j === 0 ? t0 : views.stepEnds[j - 1]));
    const grad = max((r) => r[StepRecord.COMPUTE_MS] + r[StepRecord.COPY_MS]);
    const data = max((r) => r[StepRecord.GATHER_MS]);
    const update = max((r) => r[StepRecord.UPDATE_MS]);
    const comm = reportComm ? max((r) => r[StepRecord.COMM_MS]) : 0;
    const metricCount = recs[0][StepRecord.METRIC_COUNT];
    stats.push({
      count: sum((r) => r[StepRecord.COUNT]),
      lossSum: sum((r) => r[StepRecord.LOSS_SUM]),
      metricSums: Array.from({ length: metricCount }, (_, i) => sum((r) => r[STEP_RECORD_WIDTH + i])),
      skipped: halted && j === released - 1,
      wallMs,
      ms: { grad, update, data, coord: Math.max(0, wallMs - grad - update - data - comm), ...(reportComm && { comm }) },
    });
  }
  return stats;
}
