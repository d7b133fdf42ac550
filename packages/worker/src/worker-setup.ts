/** Loads the user's `workerSetup` module (where custom layers register their classes). */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared/core';

export async function importWorkerSetup(spec: string): Promise<void> {
  const url = /^[a-z]+:/i.test(spec) ? spec : isAbsolute(spec) ? pathToFileURL(spec).href : spec;
  try {
    await import(url);
  } catch (err) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `options.workerSetup ${JSON.stringify(spec)} could not be imported in a worker: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
