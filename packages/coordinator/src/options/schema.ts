/**
 * Every option of threadfit, once: its kind (kinds.ts), default, doc, CLI flag, and the surfaces
 * that accept it (`threadfit train`, parallelFit, bench, scale, evaluate, plot). The defaults
 * objects, the known keys, the TrainOptions / ParallelFitOptions types, the flag tables, `--help`
 * and README's tables are derived from it (surfaces.ts); the validators add only the rules that
 * relate two options. The JSDoc of each entry is what an editor shows on TrainOptions' and
 * ParallelFitOptions' keys; `doc` is the one line of `--help` and README.
 *
 * The entries live in three files by role (schema-run.ts, schema-training.ts, schema-commands.ts);
 * an entry: `doc`, optional `flag` (default: the name in kebab case), `value` (the placeholder of
 * `--help`), `group` ('hosts': README's multi-host table), and per surface `on(kind, { default,
 * doc, value, defaultDoc, required, cliOnly, deprecated, short, note })`.
 */
import { RUN_OPTIONS } from './schema-run.js';
import { TRAINING_OPTIONS } from './schema-training.js';
import { COMMAND_OPTIONS } from './schema-commands.js';
import type { OptionEntry } from './spec.js';

export { SURFACES, DEFAULT_STEPS_PER_EXECUTION, MAX_STEPS_PER_EXECUTION, on, type OptionEntry, type Spec, type SpecExtra, type Surface } from './spec.js';
export type { CallbackInput } from './schema-run.js';

/** model.fit arguments parallelFit refuses, and why (each names the reason in its message). */
export const REFUSED_FIT_ARGS = {
  sampleWeight:
    "tfjs's own model.fit does not implement it (tfjs-layers 4.22 throws 'sample weight is not supported yet'); use classWeight, or weight the loss in a custom loss",
  stepsPerEpoch:
    "an epoch is one pass over x; tfjs's model.fit on tensors does not implement it either (it throws 'stepsPerEpoch mode is not implemented yet')",
  validationSteps: "validation covers the whole validation set; tfjs's model.fit takes it only with stepsPerEpoch, which it does not implement",
} as const;

/** The order here is the order of `--help` and of README's tables. */
export const OPTIONS = { ...RUN_OPTIONS, ...TRAINING_OPTIONS, ...COMMAND_OPTIONS } satisfies Record<string, OptionEntry>;

export type Options = typeof OPTIONS;
