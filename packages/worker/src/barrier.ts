/**
 * The barriers between the ranks of a step. A rank arrives by adding 1 to a counter word and
 * waits until a word reaches a target: the in-step barrier waits on its own counter (every slot
 * is written); the commit barrier (execution.ts) waits on Control.RELEASED, which the last rank
 * in advances once it has committed the step. Counters only count up during an attempt (the
 * coordinator resets them to the attempt's tag before it, layout.ts attemptTag), so step j's
 * target is parties x (j+1); a rank of another attempt can neither count nor pass.
 * The coordinator raises ABORT when an attempt fails, so a waiting rank never waits on a dead one
 * for longer than a wait slice.
 */
import { BARRIER_COUNT_MASK, Control, Errors, attemptTag } from '@threadfit/shared/core';

/** Atomics.wait slices: how soon a waiting rank notices ABORT or its deadline. */
const SLICE_MS = 20;

/** Throws when the coordinator has moved on to another attempt of the step (this task was abandoned). */
export function checkAttempt(control: Int32Array, attempt: number): void {
  if (Atomics.load(control, Control.ATTEMPT) !== attempt) throw Errors.stepAbandoned('stale');
}

/** Throws when the coordinator raised ABORT (another rank of this attempt failed). */
export function checkAbort(control: Int32Array): void {
  if (Atomics.load(control, Control.ABORT) !== 0) throw Errors.stepAbandoned('aborted');
}

/**
 * Adds this rank to counter `word` (of this attempt) and waits until it reaches `target`. Returns
 * ms waited. `meanwhile` runs once if the others are not all there yet: work that fills the wait.
 */
export function arriveAt(control: Int32Array, word: number, target: number, timeoutMs: number, attempt: number, meanwhile?: () => void): number {
  checkAttempt(control, attempt);
  if (arrive(control, word, attempt) >= target) {
    // The last rank in wakes the others (they sleep on the counter word).
    Atomics.notify(control, word);
    return 0;
  }
  return waitUntil(control, word, target, timeoutMs, attempt, meanwhile);
}

/**
 * Adds this rank to counter `word` (of this attempt) without waiting; returns the count after it
 * (the rank that makes it reach the target is the last one in).
 */
export function arrive(control: Int32Array, word: number, attempt: number): number {
  const tag = attemptTag(attempt);
  for (;;) {
    const seen = Atomics.load(control, word);
    if ((seen & ~BARRIER_COUNT_MASK) !== tag) throw Errors.stepAbandoned('stale');
    if (Atomics.compareExchange(control, word, seen, seen + 1) === seen) return (seen & BARRIER_COUNT_MASK) + 1;
  }
}

/** Moves `word` of this attempt from count - 1 to `count` and wakes its waiters (the committer's release). */
export function release(control: Int32Array, word: number, count: number, attempt: number): void {
  const tag = attemptTag(attempt);
  if (Atomics.compareExchange(control, word, tag | (count - 1), tag | count) !== (tag | (count - 1))) throw Errors.stepAbandoned('stale');
  Atomics.notify(control, word);
}

/**
 * Waits until the count in `word` (of this attempt) reaches `target`. Throws when the attempt is
 * abandoned or aborted (another rank failed) or after `timeoutMs`. Returns the ms waited.
 */
export function waitUntil(control: Int32Array, word: number, target: number, timeoutMs: number, attempt: number, meanwhile?: () => void): number {
  const t0 = performance.now();
  const tag = attemptTag(attempt);
  if (meanwhile !== undefined && Atomics.load(control, word) < (tag | target)) meanwhile();
  for (;;) {
    const seen = Atomics.load(control, word);
    if ((seen & ~BARRIER_COUNT_MASK) !== tag) throw Errors.stepAbandoned('stale');
    if ((seen & BARRIER_COUNT_MASK) >= target) return performance.now() - t0;
    checkAbort(control);
    if (performance.now() - t0 > timeoutMs) throw Errors.barrierTimeout(timeoutMs);
    // Sleep until the word changes (or a slice passes, to re-check ABORT and the deadline).
    Atomics.wait(control, word, seen, SLICE_MS);
  }
}
