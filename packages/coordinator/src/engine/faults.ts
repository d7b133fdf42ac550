/**
 * What the trainer does when a worker fails: which errors are worth a rerun of the step, how long
 * a step may take before its workers count as hung, and fault injection for tests and for users
 * who want to check their set-up (`--inject-fault crash@step=3,rank=1`).
 */
import { ErrorCodes, ThreadfitError, type FaultKind } from '@threadfit/shared';

export interface FaultSpec {
  kind: FaultKind;
  step: number;
  rank: number;
  /** The first `times` attempts of that step fail (default 1: the rerun succeeds). */
  times?: number;
}

export const FaultKinds: readonly FaultKind[] = ['crash', 'exit', 'hang', 'nan'];

/** Parses `kind@step=S,rank=R[,times=T]` (rank defaults to 0, times to 1). */
export function parseFault(text: unknown, where = 'flag --inject-fault'): FaultSpec {
  const m = typeof text === 'string' ? /^(crash|exit|hang|nan)@step=(\d+)(?:,rank=(\d+))?(?:,times=(\d+))?$/.exec(text) : null;
  if (m === null) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${where} must look like crash|exit|hang|nan@step=S,rank=R[,times=T], got ${JSON.stringify(text)}`);
  }
  const spec: FaultSpec = { kind: m[1] as FaultKind, step: Number(m[2]), rank: Number(m[3] ?? 0) };
  if (m[4] !== undefined) spec.times = Number(m[4]);
  return spec;
}

/**
 * Deterministic failures (bad options, unsupported models, missing kernels) fail the same way on
 * every rerun: they end training at once. Everything else (a throw inside a task, a worker that
 * exited or ran out of memory, an aborted hung task) is rerun.
 */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  const fatal: string[] = [ErrorCodes.INVALID_OPTION, ErrorCodes.UNSUPPORTED, ErrorCodes.BAD_DATA, ErrorCodes.BACKEND, ErrorCodes.INTERNAL];
  return !(code !== undefined && fatal.includes(code));
}

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
