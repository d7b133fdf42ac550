/**
 * parallelFit's options: model.fit's names and defaults plus the thread-specific ones. The type,
 * the defaults and the keys come from the schema (schema.ts); this file adds the rules that relate
 * two options and the precise refusal of the model.fit arguments threadfit does not take. Runs
 * before any thread starts.
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import { REFUSED_FIT_ARGS, type CallbackInput } from './schema.js';
import { defaultsOn, resolveOn, type OptionsOn, type ResolvedOn } from './surfaces.js';
import { checkFaultRank, checkSlotCount } from './train-options.js';

export type { CallbackInput };
export { REFUSED_FIT_ARGS };

export type ParallelFitOptions = OptionsOn<'fit'>;
export type ResolvedFitOptions = ResolvedOn<'fit'>;

export const FIT_DEFAULTS = defaultsOn('fit');

const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);

export function validateFitOptions(input: ParallelFitOptions = {}): ResolvedFitOptions {
  if (typeof input === 'object' && input !== null) {
    for (const [key, why] of Object.entries(REFUSED_FIT_ARGS)) {
      if ((input as Record<string, unknown>)[key] !== undefined) throw invalid(`options.${key} (a model.fit argument) is not supported by parallelFit: ${why}`);
    }
  }
  const { options: r } = resolveOn('fit', input);
  if (r.initialEpoch >= r.epochs) throw invalid(`options.initialEpoch must be less than options.epochs (${r.epochs}), got ${r.initialEpoch}`);
  if (r.validationData !== undefined && r.validationSplit > 0) throw invalid('options.validationData and options.validationSplit cannot both be given');
  if (r.resume && r.checkpointDir === undefined) throw invalid('options.resume needs options.checkpointDir: the directory to resume from');
  checkSlotCount(r);
  checkFaultRank(r.injectFault, r.workers);
  return r;
}
