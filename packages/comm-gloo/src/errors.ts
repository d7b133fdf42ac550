/**
 * Errors with stable codes, shaped like `@threadfit/shared`'s `ThreadfitError` (same name, same
 * codes) without depending on it: this package is built outside the workspaces.
 */

export const CommErrorCodes = {
  /** A call across hosts failed: peer dead, hung or unreachable, store unreachable, timeout. */
  COMM: 'ERR_THREADFIT_COMM',
  /** An option or argument is out of range; the message names it and the value. */
  INVALID_OPTION: 'ERR_THREADFIT_INVALID_OPTION',
  /** The native addon is not built or does not load (see {@link loadError}). */
  UNAVAILABLE: 'ERR_THREADFIT_COMM_UNAVAILABLE',
} as const;

export type CommErrorCode = (typeof CommErrorCodes)[keyof typeof CommErrorCodes];

export class CommError extends Error {
  readonly code: CommErrorCode;
  constructor(code: CommErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ThreadfitError';
    this.code = code;
  }
}

/** `invalidOption('rank', 5, 'an integer in 0..2')` -> "options.rank must be an integer in 0..2, got 5". */
export function invalidOption(name: string, got: unknown, expected: string, source = 'options'): CommError {
  return new CommError(CommErrorCodes.INVALID_OPTION, `${source}.${name} must be ${expected}, got ${describe(got)}`);
}

/** A short, printable rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  return `a value of type ${typeof value}${value.constructor?.name ? ` (${value.constructor.name})` : ''}`;
}
