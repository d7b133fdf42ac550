/**
 * The supervisor's rules on their own (no threads): where an injected fault strikes (the global
 * step, so a resumed run counts on), the restart budget and what is logged, elastic shrinking and
 * growing back, the skip streak, and the adaptive step timeout.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StepFault } from '@threadfit/shared';
import { GROW_BACK_AFTER_STEPS, StepClock, Supervisor } from '../src/engine/supervisor.js';
import { parseFault } from '../src/engine/faults.js';

/** A real pino logger writing JSON lines into an array. */
function capture(): { log: pino.Logger; lines: Array<{ msg: string } & Record<string, unknown>> } {
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { msg: string });
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const crash = (rank: number) => new StepFault(rank, new Error('injected crash'));

describe('injected faults strike at the global step', () => {
  it('in an execution after a resume at step 30, crash@step=35 strikes at its 5th step (index 4)', () => {
    const s = new Supervisor({ workers: 2, injectFault: parseFault('crash@step=35,rank=1') }, capture().log);
    expect(s.faultFor(30, 8, 2)).toEqual({ kind: 'crash', rank: 1, at: 4 });
    expect(s.faultFor(34, 1, 2)).toEqual({ kind: 'crash', rank: 1, at: 0 });
    // Before or past the execution's steps: not in it.
    expect(s.faultFor(20, 8, 2)).toBeUndefined();
    expect(s.faultFor(35, 8, 2)).toBeUndefined();
  });

  it('strikes `times` times, then never again (a skipped nan step is not struck twice)', () => {
    const s = new Supervisor({ workers: 2, injectFault: parseFault('nan@step=3,rank=0,times=2') }, capture().log);
    expect(s.faultFor(2, 1, 2)).toBeDefined();
    s.faultStruck();
    expect(s.faultFor(2, 1, 2)).toBeDefined();
    s.faultStruck();
    expect(s.faultFor(2, 1, 2)).toBeUndefined();
  });

  it('a rank the step does not have (the trainer shrank) carries no fault', () => {
    const s = new Supervisor({ workers: 3, injectFault: parseFault('exit@step=1,rank=2') }, capture().log);
    expect(s.faultFor(0, 1, 3)).toBeDefined();
    expect(s.faultFor(0, 1, 2)).toBeUndefined();
  });
});

describe('restarts', () => {
  it('within maxRestarts: counted and logged as run again', () => {
    const { log, lines } = capture();
    const s = new Supervisor({ workers: 2, maxRestarts: 1 }, log);
    s.onFailedStep(crash(1), 0, 7);
    expect(s.restarts).toBe(1);
    expect(lines.at(-1)).toMatchObject({ step: 7, rank: 1, cause: 'injected crash', restart: 1, msg: 'a worker failed mid-step; the step runs again' });
  });

  it('past maxRestarts: the error names the count, the rank and the step, and nothing says the step runs again', () => {
    const { log, lines } = capture();
    const s = new Supervisor({ workers: 2, maxRestarts: 0 }, log);
    expect(() => s.onFailedStep(crash(0), 0, 3)).toThrow(/workers failed 1 times \(more than maxRestarts 0\); last: rank 0 at step 3: injected crash/);
    expect(lines.some((l) => /runs again/.test(l.msg))).toBe(false);
  });

  it('evaluations share the budget', () => {
    const s = new Supervisor({ workers: 2, maxRestarts: 1 }, capture().log);
    s.onFailedStep(crash(0), 0, 1);
    expect(() => s.onFailedEvaluation('test', new Error('boom'))).toThrow(/evaluation of 'test' failed \(restarts 2 > maxRestarts 1\): boom/);
  });
});

describe('elastic', () => {
  it('a step that fails twice runs with one worker fewer, down to minWorkers; it grows back after healthy steps, ending executions there', () => {
    const { log, lines } = capture();
    const s = new Supervisor({ workers: 3, minWorkers: 2, maxRestarts: 10 }, log);
    s.onFailedStep(crash(2), 0, 5);
    expect(s.activeWorkers).toBe(3);
    s.onFailedStep(crash(2), 1, 5);
    expect(s.activeWorkers).toBe(2);
    expect(lines.at(-1)?.msg).toBe('a step keeps failing: it runs again with one worker fewer');
    s.onFailedStep(crash(1), 1, 5);
    expect(s.activeWorkers).toBe(2); // not below minWorkers
    expect(s.executionLimit(32)).toBe(GROW_BACK_AFTER_STEPS > 32 ? 32 : GROW_BACK_AFTER_STEPS);
    for (let i = 0; i < GROW_BACK_AFTER_STEPS - 1; i++) s.afterStep(1, false, 5 + i);
    expect(s.executionLimit(32)).toBe(1);
    s.afterStep(1, false, 60);
    expect(s.activeWorkers).toBe(3);
    expect(s.executionLimit(32)).toBe(32);
  });
});

describe('skipped steps', () => {
  it('more than maxSkippedSteps in a row ends training; a committed step resets the streak', () => {
    const s = new Supervisor({ workers: 1, maxSkippedSteps: 1 }, capture().log);
    s.afterStep(1, true, 4);
    s.afterStep(1, false, 4);
    s.afterStep(1, true, 5);
    expect(() => s.afterStep(1, true, 5)).toThrow(/non-finite gradients 2 steps in a row \(more than maxSkippedSteps 1\); the last at step 6/);
  });
});

describe('StepClock', () => {
  it('the floor until a step is timed, then factor x the median of the window', () => {
    const c = new StepClock(1000, 10, 3);
    expect(c.timeoutMs).toBe(1000);
    for (const ms of [50, 500, 200]) c.record(ms);
    expect(c.medianMs).toBe(200);
    expect(c.timeoutMs).toBe(2000);
    c.record(10); // the window drops 50
    expect(c.medianMs).toBe(200);
  });
});
