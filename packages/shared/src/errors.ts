/**
 * Errors with stable codes, made through one table so that every code has one message shape.
 * Across threads an error travels as `SerializedError` and is rebuilt with `deserializeError`.
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

/** `invalidOption('workers', -1, 'a positive integer')` -> "workers must be a positive integer, got -1". */
export function invalidOption(name: string, got: unknown, expected: string, source = 'options'): ThreadfitError {
  const where = source === 'options' ? `options.${name}` : `${source} ${name}`;
  return new ThreadfitError(ErrorCodes.INVALID_OPTION, `${where} must be ${expected}, got ${describe(got)}`);
}

export function badData(file: string, problem: string): ThreadfitError {
  return new ThreadfitError(ErrorCodes.BAD_DATA, `${file}: ${problem}`);
}

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
