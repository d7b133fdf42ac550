/**
 * Runs one step's tasks, one per rank, in a single round trip (see the diagram in trainer.ts):
 * attempt numbers, the in-step barrier's reset and ABORT, the step timeout. Waits for ALL tasks
 * to settle, so that no straggler writes a slot during a rerun.
 */
import { Control, ErrorCodes, ThreadfitError, type StepResult, type StepTask } from '@threadfit/shared';
import type { WorkerPool } from './pool.js';

/** A failed step: which rank's task, and the error that ended it. */
export interface StepFault extends Error {
  cause: unknown;
  rank: number;
  phase: 'step';
}

/** After the step timeout raises ABORT, how long ranks waiting at the barrier get to return. */
const ABORT_GRACE_MS = 200;

/** A rank that gave up at the barrier because another failed: not the cause of the failure. */
function isBarrierRelease(err: unknown): boolean {
  return /step abandoned at the barrier/.test((err as Error | undefined)?.message ?? '');
}

/**
 * Runs a step's tasks and waits for ALL of them to settle (so no straggler writes a slot
 * during a rerun). The first failure raises ABORT, which releases the ranks waiting at the
 * barrier within a wait slice. A step slower than the timeout is hung: ABORT is raised, and
 * the tasks still running after a grace period are aborted, which makes piscina terminate
 * and replace their workers.
 */
export async function runStepTasks(pool: WorkerPool, control: Int32Array, tasks: StepTask[], timeoutMs: number): Promise<StepResult[]> {
  // A new attempt number first: a straggler of an aborted attempt (terminated asynchronously)
  // sees it and stops before it can arrive at this attempt's barrier or write an update.
  const attempt = Atomics.add(control, Control.ATTEMPT, 1) + 1;
  for (const t of tasks) t.attempt = attempt;
  Atomics.store(control, Control.ABORT, 0);
  Atomics.store(control, Control.BARRIER, 0);
  const raiseAbort = () => {
    Atomics.store(control, Control.ABORT, 1);
    Atomics.notify(control, Control.BARRIER);
  };
  const aborts = tasks.map(() => new AbortController());
  const settledFlags = tasks.map(() => false);
  let timedOut = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    raiseAbort();
    grace = setTimeout(() => aborts.forEach((a, i) => settledFlags[i] || a.abort()), ABORT_GRACE_MS);
  }, timeoutMs);
  try {
    const settled = await Promise.allSettled(
      tasks.map((t, i) =>
        pool.run(t, aborts[i].signal).then(
          (r) => ((settledFlags[i] = true), r),
          (err: unknown) => {
            settledFlags[i] = true;
            raiseAbort();
            throw err;
          },
        ),
      ),
    );
    const failed = settled.findIndex((s) => s.status === 'rejected' && !isBarrierRelease(s.reason));
    const first = failed >= 0 ? failed : settled.findIndex((s) => s.status === 'rejected');
    if (first >= 0) {
      const reason = (settled[first] as PromiseRejectedResult).reason as unknown;
      const hung = timedOut ? tasks.findIndex((_, i) => !settledFlags[i]) : -1;
      const rank = tasks[hung >= 0 ? hung : first].grad.rank;
      const cause = timedOut
        ? new ThreadfitError(ErrorCodes.WORKER_FAILED, `the step took longer than ${Math.round(timeoutMs)} ms (step timeout); its workers were terminated`)
        : reason;
      throw Object.assign(new Error('step failed'), { cause, rank, phase: 'step' as const } satisfies Omit<StepFault, 'name' | 'message'>);
    }
    return settled.map((s) => (s as PromiseFulfilledResult<StepResult>).value);
  } finally {
    clearTimeout(timer);
    if (grace !== undefined) clearTimeout(grace);
  }
}
