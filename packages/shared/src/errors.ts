/**
 * Errors with stable codes. Code decides what happens to an error (a rerun, the end of training,
 * exit code 2), never its message text. Errors that recur in one shape are made through the
 * `Errors` factory table below (piscina's src/errors.ts is the model). Across threads an error
 * travels as `SerializedError` and is rebuilt with `deserializeError`, code included.
 */

export const ErrorCodes = {
  INVALID_OPTION: 'ERR_THREADFIT_INVALID_OPTION',
  BAD_DATA: 'ERR_THREADFIT_BAD_DATA',
  CHECKSUM: 'ERR_THREADFIT_CHECKSUM',
  WORKER_EXITED: 'ERR_THREADFIT_WORKER_EXITED',
  WORKER_FAILED: 'ERR_THREADFIT_WORKER_FAILED',
  NON_FINITE: 'ERR_THREADFIT_NON_FINITE',
  UNSUPPORTED: 'ERR_THREADFIT_UNSUPPORTED',
  BACKEND: 'ERR_THREADFIT_BACKEND',
  REENTRY: 'ERR_THREADFIT_REENTRY',
  INTERNAL: 'ERR_THREADFIT_INTERNAL',
  /** A collective across hosts failed (peer dead, hung or unreachable): the group re-forms. */
  COMM: 'ERR_THREADFIT_COMM',
  /** The host group cannot go on (this host was dropped, too few hosts left, no generation formed). */
  HOST_GROUP_LOST: 'ERR_THREADFIT_HOST_GROUP_LOST',
  /**
   * A rank gave up a step because another rank failed or its attempt was abandoned: a consequence
   * of a failure, never its cause.
   */
  STEP_ABANDONED: 'ERR_THREADFIT_STEP_ABANDONED',
  /** A step attempt failed (StepFault): `cause` holds the error of the rank that failed. */
  STEP_FAILED: 'ERR_THREADFIT_STEP_FAILED',
  /** A file could not be written (disk full, quota, I/O error): the message names the path and the cause. */
  IO: 'ERR_THREADFIT_IO',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class ThreadfitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ThreadfitError';
    this.code = code;
  }
}

/** A failed step attempt: which rank's task failed, and with what (`cause`). */
export class StepFault extends ThreadfitError {
  readonly rank: number;
  constructor(rank: number, cause: unknown) {
    super(ErrorCodes.STEP_FAILED, `rank ${rank} failed the step: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
    this.name = 'StepFault';
    this.rank = rank;
  }
}

/** The errors that recur in one shape, each with its code: one place for their wording. */
export const Errors = {
  /** `invalidOption('workers', -1, 'a positive integer')` -> "options.workers must be a positive integer, got -1". */
  invalidOption(name: string, got: unknown, expected: string, source = 'options'): ThreadfitError {
    const where = source === 'options' ? `options.${name}` : `${source} ${name}`;
    return new ThreadfitError(ErrorCodes.INVALID_OPTION, `${where} must be ${expected}, got ${describe(got)}`);
  },
  badData(file: string, problem: string): ThreadfitError {
    return new ThreadfitError(ErrorCodes.BAD_DATA, `${file}: ${problem}`);
  },
  internal(what: string): ThreadfitError {
    return new ThreadfitError(ErrorCodes.INTERNAL, what);
  },
  /** A rank left a step because another rank failed (ABORT) or the attempt is no longer current. */
  stepAbandoned(why: 'aborted' | 'stale'): ThreadfitError {
    return new ThreadfitError(
      ErrorCodes.STEP_ABANDONED,
      why === 'aborted' ? 'step abandoned at the barrier: another rank of this step failed' : 'step abandoned: this task belongs to an abandoned attempt',
    );
  },
  barrierTimeout(ms: number): ThreadfitError {
    return new ThreadfitError(ErrorCodes.WORKER_FAILED, `waited ${Math.round(ms)} ms at the barrier for the other ranks of the step`);
  },
  stepTimeout(ms: number): ThreadfitError {
    return new ThreadfitError(ErrorCodes.WORKER_FAILED, `the step took longer than ${Math.round(ms)} ms (step timeout); its workers were terminated`);
  },
  hostGroupLost(message: string): ThreadfitError {
    return new ThreadfitError(ErrorCodes.HOST_GROUP_LOST, message);
  },
} as const;

/** The same as `Errors.invalidOption` (the name most call sites use). */
export const invalidOption = Errors.invalidOption;
/** The same as `Errors.badData`. */
export const badData = Errors.badData;

/** True for an error of this code (from this thread or rebuilt from another). */
export const hasCode = (err: unknown, code: ErrorCode): boolean => (err as { code?: unknown } | null | undefined)?.code === code;

/** A short, printable rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  return `a value of type ${typeof value}${value.constructor?.name ? ` (${value.constructor.name})` : ''}`;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, stack: err.stack, code: (err as { code?: string }).code };
  }
  return { name: 'Error', message: String(err) };
}

export function deserializeError(s: SerializedError): Error {
  const isOurs = s.code !== undefined && (Object.values(ErrorCodes) as string[]).includes(s.code);
  const err = isOurs ? new ThreadfitError(s.code as ErrorCode, s.message) : new Error(s.message);
  if (!isOurs) {
    err.name = s.name;
    if (s.code !== undefined) (err as { code?: string }).code = s.code;
  }
  if (s.stack) err.stack = s.stack;
  return err;
}
