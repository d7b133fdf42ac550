/**
 * An execution: k >= 1 optimizer steps driven by the workers themselves (ExecutionTask). The
 * coordinator posts one task per rank for up to layout.stepsPerExecution steps of the same batch
 * size, and the ranks step through them alone (docs/ARCHITECTURE.md, "The step"):
 *
 *   for step j:   load params[c]; gradients of this rank's rows of step j -> its slots
 *                 in-step barrier (BARRIER reaches parties x (j+1)): every slot is written
 *                 chunk r: reduce (+ the sum across hosts) + optimizer, params/state[c] -> [1-c];
 *                 write record (j, r)
 *                 commit barrier (COMMIT_BARRIER reaches parties x (j+1)); the last rank in sums
 *                 every rank's non-finite count and averages the non-trainable weights:
 *                 all finite -> COMMITTED = 1-c, STEP += 1; otherwise the step is skipped and
 *                 HALT ends the execution; then RELEASED = j+1 wakes the others
 *
 * This is the only place a step is committed. The committed buffer is never written during a
 * step, the commit is one flip made only when every chunk of the step is finite, and a failure
 * (ABORT, from the coordinator) leaves the weights of the last released step.
 */
import { Control, STEP_RECORD_WIDTH, StepRecord, Errors, epochMs, type ExecutionResult, type ExecutionTask, type StateViews } from '@threadfit/shared/core';
import type { Replica } from './replica.js';
import type { ChunkUpdater } from './updater.js';
import type { MicroBatch } from '@threadfit/shared/core';
import type { GradResult, UpdateRequest, UpdateResult } from './step-parts.js';
import { arrive, arriveAt, checkAbort, checkAttempt, release, waitUntil } from './barrier.js';
import { averageBuffers } from './buffers.js';
import { faultAfter, faultBefore } from './faults.js';

export async function execute(task: ExecutionTask, replica: Replica, updater: ChunkUpdater, views: StateViews): Promise<ExecutionResult> {
  try {
    return await run(task, replica, updater, views);
  } finally {
    // Rows gathered for a step that did not run (a halt, a failure) must not outlive the execution.
    replica.dropPrefetch();
  }
}

async function run(task: ExecutionTask, replica: Replica, updater: ChunkUpdater, views: StateViews): Promise<ExecutionResult> {
  const { control } = views;
  const { parties, attempt } = task;
  const rowsOf = (j: number): MicroBatch[] => task.micro.map((m) => ({ slot: m.slot, start: m.start + j * task.batchSize, end: m.end + j * task.batchSize }));
  let j = 0;
  for (; j < task.steps; j++) {
    checkAttempt(control, attempt);
    // Another rank failed: do not start a step that cannot commit.
    checkAbort(control);
    // The step before was skipped (non-finite): the execution ends there, for every rank alike.
    if (Atomics.load(control, Control.HALT) !== 0) break;
    const from = views.committed;
    const step = Atomics.load(control, Control.STEP);
    const fault = task.fault !== undefined && task.fault.at === j ? task.fault.kind : undefined;
    faultBefore(fault, `the execution task of rank ${task.rank}, its step ${j} (step ${step + 1})`);
    const micro = rowsOf(j);
    const grad = replica.grad({ rank: task.rank, micro, step, from });
    faultAfter(fault, replica.gradSlot(micro[0].slot));
    // While waiting for the others, gather the next step's rows (they do not depend on the
    // weights): the gather leaves the critical path whenever this rank is not the last in.
    // (One micro-batch per rank only: with several, the wait rarely covers them all.)
    let prefetched = false;
    const prefetch = () => {
      if (prefetched || j + 1 >= task.steps || task.micro.length !== 1) return;
      prefetched = true;
      replica.prefetch(rowsOf(j + 1)[0]);
    };
    // Sync point: every rank's slots are written before any rank reduces them.
    const waitMs = arriveAt(control, Control.BARRIER, parties * (j + 1), task.barrierTimeoutMs, attempt, prefetch);
    checkAttempt(control, attempt);
    const rate = views.stepRates[j];
    const req: UpdateRequest = {
      chunk: task.chunk,
      chunks: parties,
      slots: task.slots,
      from,
      step: step + 1,
      learningRate: Number.isNaN(rate) ? undefined : rate,
      comm: task.comm,
    };
    // Across hosts the sum can outlast the attempt: re-check it before the optimizer writes.
    const update = task.comm === undefined ? updater.update(req) : await updater.updateAcrossHosts(req, () => checkAttempt(control, attempt));
    writeRecord(views.stepRecord(j, task.rank), grad, update, waitMs);
    const arrived = arrive(control, Control.COMMIT_BARRIER, attempt);
    if (arrived === parties * (j + 1)) {
      // The last rank in: every rank's chunk and record of step j is written (each wrote them
      // before its arrival, an atomic compare-and-swap ordered before ours).
      commit(views, j, parties, task.slots, from, attempt);
    } else {
      waitUntil(control, Control.RELEASED, j + 1, task.barrierTimeoutMs, attempt, prefetch);
    }
  }
  const notices = replica.takeNotices();
  return { type: 'execute', rank: task.rank, steps: j, ...(notices.length > 0 && { notices }) };
}

function writeRecord(rec: Float64Array, grad: GradResult, update: UpdateResult, waitMs: number): void {
  rec[StepRecord.COUNT] = grad.count;
  rec[StepRecord.LOSS_SUM] = grad.lossSum;
  rec[StepRecord.GATHER_MS] = grad.ms.gather;
  rec[StepRecord.COMPUTE_MS] = grad.ms.compute;
  rec[StepRecord.COPY_MS] = grad.ms.copy;
  rec[StepRecord.UPDATE_MS] = update.ms;
  rec[StepRecord.COMM_MS] = update.commMs ?? 0;
  rec[StepRecord.NON_FINITE] = update.nonFinite;
  rec[StepRecord.WAIT_MS] = waitMs;
  if (STEP_RECORD_WIDTH + grad.metricSums.length > rec.length) {
    throw Errors.internal(`a step reported ${grad.metricSums.length} metric sums; a step record holds ${rec.length - STEP_RECORD_WIDTH}`);
  }
  rec[StepRecord.METRIC_COUNT] = grad.metricSums.length;
  grad.metricSums.forEach((m, i) => (rec[STEP_RECORD_WIDTH + i] = m));
}

/**
 * The commit of step j, by the last rank in: the flip when every chunk and every averaged
 * non-trainable weight is finite, else HALT (the step is skipped for every rank); then the release.
 */
function commit(views: StateViews, j: number, parties: number, slots: number, from: 0 | 1, attempt: number): void {
  const { control } = views;
  let nonFinite = 0;
  for (let r = 0; r < parties; r++) nonFinite += views.stepRecord(j, r)[StepRecord.NON_FINITE];
  // Moving statistics (BatchNormalization): every slot's copy was written before the in-step barrier.
  if (nonFinite === 0 && views.layout.paddedBufferCount > 0) nonFinite += averageBuffers(views, from, slots);
  checkAttempt(control, attempt);
  if (nonFinite === 0) {
    // The flip is the single write that publishes the new weights to every replica.
    Atomics.store(control, Control.COMMITTED, 1 - from);
    Atomics.add(control, Control.STEP, 1);
  } else {
    Atomics.store(control, Control.HALT, 1);
  }
  views.stepEnds[j] = epochMs();
  release(control, Control.RELEASED, j + 1, attempt);
}
