/**
 * The barrier words carry their attempt (layout.ts attemptTag): a straggler of an abandoned
 * attempt can neither count in, pass, nor release a newer attempt's barrier.
 */
import { describe, expect, it } from 'vitest';
import { BARRIER_COUNT_MASK, CONTROL_WORDS, Control, attemptTag } from '@threadfit/shared';
import { arrive, arriveAt, release, waitUntil } from '../src/barrier.js';

function control(attempt: number, tagged: number): Int32Array {
  const c = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  c[Control.ATTEMPT] = attempt;
  for (const w of [Control.BARRIER, Control.COMMIT_BARRIER, Control.RELEASED]) c[w] = attemptTag(tagged);
  return c;
}

describe('attempt-tagged barriers', () => {
  it('count within their attempt; the last rank in returns at once', () => {
    const c = control(7, 7);
    expect(arrive(c, Control.COMMIT_BARRIER, 7)).toBe(1);
    expect(arriveAt(c, Control.BARRIER, 1, 1000, 7)).toBe(0);
    expect(c[Control.BARRIER]).toBe(attemptTag(7) | 1);
    expect(c[Control.COMMIT_BARRIER] & BARRIER_COUNT_MASK).toBe(1);
  });

  it('a straggler that passed its attempt check before the coordinator moved on cannot count in the new attempt', () => {
    // ATTEMPT still reads 3 for it, but the words already carry attempt 4's tag.
    const c = control(3, 4);
    const before = [...c];
    expect(() => arrive(c, Control.COMMIT_BARRIER, 3)).toThrow(/abandoned attempt/);
    expect(() => arriveAt(c, Control.BARRIER, 2, 1000, 3)).toThrow(/abandoned attempt/);
    expect(() => release(c, Control.RELEASED, 1, 3)).toThrow(/abandoned attempt/);
    expect(() => waitUntil(c, Control.RELEASED, 1, 1000, 3)).toThrow(/abandoned attempt/);
    expect([...c]).toEqual(before);
  });

  it('a release moves the count by one, once; waiting returns when the count is reached', () => {
    const c = control(5, 5);
    release(c, Control.RELEASED, 1, 5);
    expect(() => release(c, Control.RELEASED, 1, 5)).toThrow(/abandoned attempt/);
    expect(waitUntil(c, Control.RELEASED, 1, 1000, 5)).toBeGreaterThanOrEqual(0);
    c[Control.ABORT] = 1;
    expect(() => waitUntil(c, Control.RELEASED, 2, 1000, 5)).toThrow(/another rank of this step failed/);
  });

  it('attempts wrap without reaching the sign bit', () => {
    expect(attemptTag(1023) | BARRIER_COUNT_MASK).toBeGreaterThan(0);
    expect(attemptTag(1024)).toBe(attemptTag(0));
  });
});
