/**
 * Runs one step's tasks, one per rank, in a single round trip (see the diagram in trainer.ts), or
 * the tasks of a worker-driven run of steps: attempt numbers, the barriers' reset and ABORT, the
 * step timeout. Waits for ALL tasks to settle, so that no straggler writes a slot during a rerun.
 */
import { Control, ErrorCodes, ThreadfitError, attemptTag, type ResultOf, type RunTask, type StepTask } from '@threadfit/shared';
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
export async function runStepTasks<T extends StepTask | RunTask>(
  pool: WorkerPool,
  control: Int32Array,
  tasks: T[],
  timeoutMs: number,
): Promise<Array<ResultOf<T>>> {
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
  const settledFlags = tasks.map(() => false);
  let timedOut = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  // The timeout is per step: a run of steps is hung when no step was released for that long.
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
    grace = setTimeout(() => aborts.forEach((a, i) => settledFlags[i] || a.abort()), ABORT_GRACE_MS);
  };
  let timer = setTimeout(onTimeout, timeoutMs);
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
      const t = tasks[hung >= 0 ? hung : first];
      const rank = t.type === 'step' ? t.grad.rank : t.rank;
      const cause = timedOut
        ? new ThreadfitError(ErrorCodes.WORKER_FAILED, `the step took longer than ${Math.round(timeoutMs)} ms (step timeout); its workers were terminated`)
        : reason;
      throw Object.assign(new Error('step failed'), { cause, rank, phase: 'step' as const } satisfies Omit<StepFault, 'name' | 'message'>);
    }
    return settled.map((s) => (s as PromiseFulfilledResult<ResultOf<T>>).value);
  } finally {
    clearTimeout(timer);
    if (grace !== undefined) clearTimeout(grace);
  }
}
