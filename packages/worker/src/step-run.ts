/**
 * An execution: several steps driven by the workers (RunTask). The coordinator posts one task per
 * rank for up to layout.runSteps steps of the same batch size, and the ranks step through them
 * alone (docs/ARCHITECTURE.md, "Executions"):
 *
 *   for run step j:   load params[c]; gradients of this rank's rows of step j -> its slots
 *                     in-step barrier (BARRIER reaches parties x (j+1))
 *                     chunk r: reduce + optimizer, params/state[c] -> [1-c]; write record (j, r)
 *                     commit barrier (COMMIT_BARRIER reaches parties x (j+1)); the last rank in
 *                     sums every rank's non-finite count: 0 -> COMMITTED = 1-c, STEP += 1;
 *                     otherwise the step is skipped and HALT ends the run; then RELEASED = j+1
 *
 * Nothing else changes: the committed buffer is never written during a step, the commit is one
 * flip made only when every chunk of the step is finite, and a failure (ABORT, from the
 * coordinator) leaves the weights of the last released step. This takes the main thread, its
 * message round trip and its wake-ups off the per-step path.
 */
import { Control, ErrorCodes, RUN_RECORD_WIDTH, RunRecord, ThreadfitError, type RunResult, type RunTask, type StateViews } from '@threadfit/shared';
import type { Replica } from './replica.js';
import type { ChunkUpdater } from './updater.js';
import { arrive, arriveAt, checkAttempt, release, waitUntil } from './barrier.js';
import { faultAfter, faultBefore } from './faults.js';

const epochMs = (): number => performance.timeOrigin + performance.now();

export function runSteps(task: RunTask, replica: Replica, updater: ChunkUpdater, views: StateViews): RunResult {
  try {
    return run(task, replica, updater, views);
  } finally {
    // Rows gathered for a step that did not run (a halt, a failure) must not outlive the execution.
    replica.dropPrefetch();
  }
}

function run(task: RunTask, replica: Replica, updater: ChunkUpdater, views: StateViews): RunResult {
  const { control } = views;
  const { parties, attempt } = task;
  const stepMicro = (j: number) => task.micro.map((m) => ({ slot: m.slot, start: m.start + j * task.batchSize, end: m.end + j * task.batchSize }));
  let j = 0;
  for (; j < task.steps; j++) {
    checkAttempt(control, attempt);
    // Another rank failed: do not start a step that cannot commit.
    if (Atomics.load(control, Control.ABORT) !== 0) {
      throw new ThreadfitError(ErrorCodes.WORKER_FAILED, 'step abandoned at the barrier: another rank of this step failed');
    }
    // The step before was skipped (non-finite): the run ends there, for every rank alike.
    if (Atomics.load(control, Control.HALT) !== 0) break;
    const from = views.committed;
    const step = Atomics.load(control, Control.STEP);
    const fault = task.fault !== undefined && task.fault.at === j ? task.fault.kind : undefined;
    faultBefore(fault, `the run task of rank ${task.rank}, run step ${j} (step ${step + 1})`);
    const micro = stepMicro(j);
    const grad = replica.grad({ type: 'grad', rank: task.rank, micro, step, from });
    faultAfter(fault, replica.gradSlot(micro[0].slot));
    // While waiting for the others, gather the next step's rows (they do not depend on the
    // weights): the gather leaves the critical path whenever this rank is not the last in.
    // (One micro-batch per rank only: with several, the wait rarely covers them all.)
    let prefetched = false;
    const prefetch = () => {
      if (prefetched || j + 1 >= task.steps || task.micro.length !== 1) return;
      prefetched = true;
      replica.prefetch(stepMicro(j + 1)[0]);
    };
    const waitGrad = arriveAt(control, Control.BARRIER, parties * (j + 1), task.barrierTimeoutMs, attempt, prefetch);
    checkAttempt(control, attempt);
    const rate = views.runRates[j];
    const update = updater.update({
      type: 'update',
      chunk: task.chunk,
      chunks: parties,
      slots: task.slots,
      from,
      step: step + 1,
      learningRate: Number.isNaN(rate) ? undefined : rate,
    });
    const rec = views.runRecord(j, task.rank);
    rec[RunRecord.COUNT] = grad.count;
    rec[RunRecord.LOSS_SUM] = grad.lossSum;
    rec[RunRecord.GATHER_MS] = grad.ms.gather;
    rec[RunRecord.COMPUTE_MS] = grad.ms.compute;
    rec[RunRecord.COPY_MS] = grad.ms.copy;
    rec[RunRecord.UPDATE_MS] = update.ms;
    rec[RunRecord.NON_FINITE] = update.nonFinite;
    rec[RunRecord.WAIT_MS] = waitGrad;
    if (RUN_RECORD_WIDTH + grad.metricSums.length > rec.length) {
      throw new ThreadfitError(
        ErrorCodes.INTERNAL,
        `a step reported ${grad.metricSums.length} metric sums; a run record holds ${rec.length - RUN_RECORD_WIDTH}`,
      );
    }
    rec[RunRecord.METRIC_COUNT] = grad.metricSums.length;
    grad.metricSums.forEach((m, i) => (rec[RUN_RECORD_WIDTH + i] = m));
    const arrived = arrive(control, Control.COMMIT_BARRIER, attempt);
    if (arrived === parties * (j + 1)) {
      // Every rank's chunk and record of step j is written (each wrote them before its arrival,
      // an atomic compare-and-swap ordered before ours).
      let nonFinite = 0;
      for (let r = 0; r < parties; r++) nonFinite += views.runRecord(j, r)[RunRecord.NON_FINITE];
      checkAttempt(control, attempt);
      if (nonFinite === 0) {
        Atomics.store(control, Control.COMMITTED, 1 - from);
        Atomics.add(control, Control.STEP, 1);
      } else {
        Atomics.store(control, Control.HALT, 1);
      }
      views.runStepEnds[j] = epochMs();
      release(control, Control.RELEASED, j + 1, attempt);
    } else {
      waitUntil(control, Control.RELEASED, j + 1, task.barrierTimeoutMs, attempt, prefetch);
    }
  }
  return { type: 'run', rank: task.rank, steps: j };
}
