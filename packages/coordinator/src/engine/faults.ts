/**
 * Which errors are worth a rerun of the step, and fault injection for tests and for users who
 * want to check their set-up (`--inject-fault crash@step=3,rank=1`). What the trainer then does
 * (restarts, elastic shrinking, the step timeout) is supervisor.ts.
 */
import { ErrorCodes, ThreadfitError, type FaultKind } from '@threadfit/shared';

export interface FaultSpec {
  kind: FaultKind;
  /** The optimizer step (1-based, counted over the whole run, resumes included) the fault strikes. */
  step: number;
  rank: number;
  /** It strikes this many times (default 1: the rerun succeeds; a skipped 'nan' step is not rerun). */
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

/** The flag text of a fault (parseFault's inverse). */
export function faultText(f: FaultSpec): string {
  return `${f.kind}@step=${f.step},rank=${f.rank}${f.times !== undefined ? `,times=${f.times}` : ''}`;
}

/**
 * Deterministic failures (bad options, unsupported models, missing kernels) fail the same way on
 * every rerun: they end training at once. Everything else (a throw inside a task, a worker that
 * exited or ran out of memory, an aborted hung task) is rerun.
 */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  const fatal: string[] = [
    ErrorCodes.INVALID_OPTION,
    ErrorCodes.UNSUPPORTED,
    ErrorCodes.BAD_DATA,
    ErrorCodes.BACKEND,
    ErrorCodes.INTERNAL,
    ErrorCodes.HOST_GROUP_LOST,
  ];
  return !(code !== undefined && fatal.includes(code));
}
