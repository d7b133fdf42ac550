/**
 * What happens between steps and after a failure, for one trainer: the restart budget, the
 * streak of skipped (non-finite) steps, elastic shrinking and growing back, the adaptive step
 * timeout, and where an injected fault strikes. No threads here: plain state a test can drive.
 */
import { ErrorCodes, ThreadfitError, type FaultKind, type Logger, type StepFault } from '@threadfit/shared';
import type { FaultSpec } from './faults.js';

/** Successful steps after which an elastic trainer that shrank tries one more worker. */
export const GROW_BACK_AFTER_STEPS = 50;

/** Median of the last `window` step times, for the adaptive step timeout. */
export class StepClock {
  readonly #times: number[] = [];
  constructor(
    private readonly floorMs: number,
    private readonly factor = 50,
    private readonly window = 50,
  ) {}
  record(ms: number): void {
    this.#times.push(ms);
    if (this.#times.length > this.window) this.#times.shift();
  }
  /** The median of the recent steps, undefined before the first. */
  get medianMs(): number | undefined {
    if (this.#times.length === 0) return undefined;
    const sorted = [...this.#times].sort((a, b) => a - b);
    return sorted[sorted.length >> 1];
  }
  /** max(floor, factor x median step); the floor alone until a step has been timed. */
  get timeoutMs(): number {
    const median = this.medianMs;
    return median === undefined ? this.floorMs : Math.max(this.floorMs, this.factor * median);
  }
}

export interface SupervisorConfig {
  workers: number;
  /** Elastic: the fewest workers a step may shrink to (default: workers, i.e. not elastic). */
  minWorkers?: number;
  /** Reruns of failed steps (and evaluations) allowed over the run. Default 3. */
  maxRestarts?: number;
  /** Non-finite steps allowed in a row. Default 5. */
  maxSkippedSteps?: number;
  /** Fixed step timeout; default adaptive (StepClock: max(30 s, 50 x median step)). */
  stepTimeoutMs?: number;
  injectFault?: FaultSpec;
}

export class Supervisor {
  readonly clock = new StepClock(30_000);
  readonly #log: Logger;
  readonly #maxRestarts: number;
  readonly #maxSkipped: number;
  readonly #minWorkers: number;
  readonly #stepTimeoutMs: number | undefined;
  readonly #fault: FaultSpec | undefined;
  #restarts = 0;
  #skippedInARow = 0;
  /** Workers a step uses now (elastic: between minWorkers and #target). */
  #active: number;
  /** Workers a step should use: the pool's size, or what resize() asked for; growth stops there. */
  #target: number;
  #healthySteps = 0;
  /** Times the injected fault has struck. */
  #faultStruck = 0;

  constructor(cfg: SupervisorConfig, log: Logger) {
    this.#log = log;
    this.#maxRestarts = cfg.maxRestarts ?? 3;
    this.#maxSkipped = cfg.maxSkippedSteps ?? 5;
    this.#active = cfg.workers;
    this.#target = cfg.workers;
    this.#minWorkers = cfg.minWorkers ?? cfg.workers;
    this.#stepTimeoutMs = cfg.stepTimeoutMs;
    this.#fault = cfg.injectFault;
  }

  /** Workers the next step uses. */
  get activeWorkers(): number {
    return this.#active;
  }

  /** Failed attempts (steps or evaluations) that were run again, over the run. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The step timeout now: the fixed one, or the adaptive one. */
  get stepTimeoutMs(): number {
    return this.#stepTimeoutMs ?? this.clock.timeoutMs;
  }

  /** The fixed step timeout, if one was given. */
  get fixedStepTimeoutMs(): number | undefined {
    return this.#stepTimeoutMs;
  }

  /** Uses `workers` from the next step on; growth back stops there. */
  resize(workers: number): void {
    this.#active = workers;
    this.#target = workers;
    this.#healthySteps = 0;
  }

  /**
   * The most steps the next execution may hold: an elastic trainer below its size grows back
   * between two steps, after GROW_BACK_AFTER_STEPS healthy ones; an execution ends there.
   */
  executionLimit(max: number): number {
    return this.#active < this.#target ? Math.max(1, Math.min(max, GROW_BACK_AFTER_STEPS - this.#healthySteps)) : max;
  }

  /**
   * The injected fault of an execution of `steps` steps after committed step `stepBefore` with
   * `parties` ranks: the rank and the step in the execution where it strikes, if it does.
   */
  faultFor(stepBefore: number, steps: number, parties: number): { kind: FaultKind; rank: number; at: number } | undefined {
    const f = this.#fault;
    if (f === undefined || this.#faultStruck >= (f.times ?? 1) || f.rank >= parties) return undefined;
    const at = f.step - stepBefore - 1;
    return at >= 0 && at < steps ? { kind: f.kind, rank: f.rank, at } : undefined;
  }

  /** The execution that carried the fault reached its step (released it, or failed at it). */
  faultStruck(): void {
    this.#faultStruck++;
  }

  /** Book-keeping after a released step (committed or skipped): the clock, the skip streak, growth. */
  afterStep(wallMs: number, skipped: boolean, committedStep: number): void {
    this.clock.record(wallMs);
    this.#checkSkipped(skipped, committedStep);
    if (this.#active < this.#target && ++this.#healthySteps >= GROW_BACK_AFTER_STEPS) {
      this.#active++;
      this.#healthySteps = 0;
      this.#log.info({ step: committedStep, workers: this.#active }, 'growing back by one worker');
    }
  }

  /**
   * A step attempt failed with a retryable error on one host (`attempt`: failed attempts of this
   * step before it): counts the restart and lets the step run again, possibly on one worker fewer,
   * or ends training past maxRestarts.
   */
  onFailedStep(fault: StepFault, attempt: number, step: number): void {
    this.#restarts++;
    const cause = (fault.cause as Error | undefined)?.message ?? fault.message;
    const at = { step, rank: fault.rank, cause, restart: this.#restarts };
    // Elastic: a step that keeps failing with this many workers runs with one fewer (a worker
    // that cannot come back is what this survives); they grow back after a while.
    if (attempt >= 1 && this.#active > this.#minWorkers) {
      this.#active--;
      this.#healthySteps = 0;
      this.#log.warn({ ...at, workers: this.#active }, 'a step keeps failing: it runs again with one worker fewer');
      return;
    }
    this.#checkBudget(
      () =>
        `training stopped: workers failed ${this.#restarts} times (more than maxRestarts ${this.#maxRestarts}); last: rank ${fault.rank} at step ${step}: ${cause}`,
      ErrorCodes.WORKER_FAILED,
      fault.cause ?? fault,
    );
    this.#log.warn(at, 'a worker failed mid-step; the step runs again');
  }

  /** An evaluation failed with a retryable error: it runs again, within the same restart budget. */
  onFailedEvaluation(split: string, err: unknown): void {
    this.#restarts++;
    const cause = (err as Error | undefined)?.message;
    this.#checkBudget(
      () => `evaluation of '${split}' failed (restarts ${this.#restarts} > maxRestarts ${this.#maxRestarts}): ${cause}`,
      ErrorCodes.WORKER_FAILED,
      err,
    );
    this.#log.warn({ split, cause, restart: this.#restarts }, 'evaluation failed; it runs again');
  }

  /** Several hosts: a failed step or collective re-forms the group; each re-form is a restart. */
  onHostFailure(step: number, cause: string, err: unknown): void {
    this.#restarts++;
    this.#checkBudget(
      () => `training stopped: steps failed ${this.#restarts} times (more than maxRestarts ${this.#maxRestarts}); last at step ${step}: ${cause}`,
      ErrorCodes.COMM,
      err,
    );
  }

  #checkBudget(message: () => string, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], cause: unknown): void {
    if (this.#restarts > this.#maxRestarts) throw new ThreadfitError(code, message(), { cause });
  }

  #checkSkipped(skipped: boolean, committedStep: number): void {
    if (!skipped) {
      this.#skippedInARow = 0;
      return;
    }
    this.#skippedInARow++;
    this.#log.warn(
      { step: committedStep + 1, inARow: this.#skippedInARow },
      'non-finite gradients after the reduce: the step was skipped for every rank (weights and optimizer state unchanged)',
    );
    if (this.#skippedInARow > this.#maxSkipped) {
      throw new ThreadfitError(
        ErrorCodes.NON_FINITE,
        `training stopped: non-finite gradients ${this.#skippedInARow} steps in a row (more than maxSkippedSteps ${this.#maxSkipped}); the last at step ${committedStep + 1} (the weights are those of step ${committedStep})`,
      );
    }
  }
}
