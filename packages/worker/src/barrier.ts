/**
 * The in-step barrier: a rank that has written its gradient slots arrives, and waits until every
 * rank of the step has (then every slot holds this step's gradients and any rank may reduce
 * them). The coordinator zeroes the count before each attempt and raises ABORT when an attempt
 * fails, so a waiting rank never waits on a dead one for longer than a wait slice.
 */
import { Control, ErrorCodes, ThreadfitError } from '@threadfit/shared';

/** Atomics.wait slices: how soon a waiting rank notices ABORT or its deadline. */
const SLICE_MS = 20;

/** Throws when the coordinator has moved on to another attempt of the step (this task was abandoned). */
export function checkAttempt(control: Int32Array, attempt: number): void {
  if (Atomics.load(control, Control.ATTEMPT) !== attempt) {
    throw new ThreadfitError(ErrorCodes.WORKER_FAILED, 'step abandoned at the barrier: this task belongs to an abandoned attempt');
  }
}

export function arriveAndWait(control: Int32Array, parties: number, timeoutMs: number, attempt: number): number {
  const t0 = performance.now();
  checkAttempt(control, attempt);
  const arrived = Atomics.add(control, Control.BARRIER, 1) + 1;
  if (arrived >= parties) {
    // The last rank in wakes the others (they sleep on the counter word).
    Atomics.notify(control, Control.BARRIER);
    return 0;
  }
  for (;;) {
    const seen = Atomics.load(control, Control.BARRIER);
    if (seen >= parties) return performance.now() - t0;
    if (Atomics.load(control, Control.ABORT) !== 0) {
      throw new ThreadfitError(ErrorCodes.WORKER_FAILED, 'step abandoned at the barrier: another rank of this step failed');
    }
    if (performance.now() - t0 > timeoutMs) {
      throw new ThreadfitError(ErrorCodes.WORKER_FAILED, `waited ${Math.round(timeoutMs)} ms at the barrier for the other ranks of the step`);
    }
    // Sleep until the counter changes (or a slice passes, to re-check ABORT and the deadline).
    Atomics.wait(control, Control.BARRIER, seen, SLICE_MS);
  }
}
