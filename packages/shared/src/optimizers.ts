/**
 * The optimizers threadfit runs on shared memory, as structured-clone data (`OptimizerSpec`), read
 * from a tfjs optimizer instance (`optimizerSpecOf`), with their state slots in tfjs's names and
 * order (`stateSlotsOf`, `initialState`) and one dispatcher onto the SIMD kernels (`applyUpdate`).
 *
 * Every kind reproduces the tfjs 4.22 optimizer of the same class op for op in float32
 * (test/optimizers.test.ts checks each against tf.train.* over 100 steps).
 */
import { ErrorCodes, ThreadfitError, describe } from './errors.js';
import type { AdamHyper, ChunkUpdate, UpdateKernels } from './kernels.js';

export interface AdamSpec extends AdamHyper {
  kind: 'adam';
}
export interface AdamaxSpec {
  kind: 'adamax';
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Learning-rate decay per step: lr / (1 + decay * iteration). */
  decay: number;
}
export interface SgdSpec {
  kind: 'sgd';
  learningRate: number;
}
export interface MomentumSpec {
  kind: 'momentum';
  learningRate: number;
  momentum: number;
  useNesterov: boolean;
}
export interface RmspropSpec {
  kind: 'rmsprop';
  learningRate: number;
  decay: number;
  momentum: number;
  epsilon: number;
  centered: boolean;
}
export interface AdagradSpec {
  kind: 'adagrad';
  learningRate: number;
  /** The accumulator's starting value (tfjs fills it with this, not zeros). */
  initialAccumulatorValue: number;
}
export interface AdadeltaSpec {
  kind: 'adadelta';
  learningRate: number;
  rho: number;
  epsilon: number;
}

/** An optimizer and its hyper-parameters: plain data, sent to every worker in WorkerInit. */
export type OptimizerSpec = AdamSpec | AdamaxSpec | SgdSpec | MomentumSpec | RmspropSpec | AdagradSpec | AdadeltaSpec;
export type OptimizerKind = OptimizerSpec['kind'];

export const OptimizerKinds: readonly OptimizerKind[] = Object.freeze(['adam', 'adamax', 'sgd', 'momentum', 'rmsprop', 'adagrad', 'adadelta']);

/** An Adam spec from bare Adam hyper-parameters. */
export function adamSpec(hyper: AdamHyper): AdamSpec {
  return { kind: 'adam', learningRate: hyper.learningRate, beta1: hyper.beta1, beta2: hyper.beta2, epsilon: hyper.epsilon };
}

/** What optimizerSpecOf needs of a tfjs optimizer (tf.Optimizer has both); keeps tfjs out of this package. */
export interface OptimizerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
}

/** tfjs's class name (getClassName(), the Python-compatible one) -> our kind and its config keys. */
const BY_CLASS: Record<string, { kind: OptimizerKind; numbers: readonly string[]; flags: readonly string[] }> = {
  Adam: { kind: 'adam', numbers: ['learningRate', 'beta1', 'beta2', 'epsilon'], flags: [] },
  Adamax: { kind: 'adamax', numbers: ['learningRate', 'beta1', 'beta2', 'epsilon', 'decay'], flags: [] },
  SGD: { kind: 'sgd', numbers: ['learningRate'], flags: [] },
  Momentum: { kind: 'momentum', numbers: ['learningRate', 'momentum'], flags: ['useNesterov'] },
  RMSProp: { kind: 'rmsprop', numbers: ['learningRate', 'decay', 'momentum', 'epsilon'], flags: ['centered'] },
  Adagrad: { kind: 'adagrad', numbers: ['learningRate', 'initialAccumulatorValue'], flags: [] },
  Adadelta: { kind: 'adadelta', numbers: ['learningRate', 'rho', 'epsilon'], flags: [] },
};

function unsupported(what: string): ThreadfitError {
  return new ThreadfitError(
    ErrorCodes.UNSUPPORTED,
    `optimizer ${what} is not supported across threads; supported: ${OptimizerKinds.join(', ')} (tf.train.* instances, or the names model.compile takes)`,
  );
}

/**
 * The spec of a tfjs optimizer instance (model.optimizer after model.compile, which turns a string
 * like 'adam' into an instance). Reads getClassName() and getConfig(); anything else is refused
 * with ERR_THREADFIT_UNSUPPORTED rather than silently trained as Adam.
 */
export function optimizerSpecOf(opt: OptimizerLike): OptimizerSpec {
  if (typeof opt === 'string') {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `optimizer ${JSON.stringify(opt)} is a name, not a tfjs optimizer instance: compile the model first (model.compile turns the name into one) and pass model.optimizer`,
    );
  }
  const o = opt as Partial<OptimizerLike> | null | undefined;
  if (o == null || typeof o.getClassName !== 'function' || typeof o.getConfig !== 'function') {
    throw unsupported(describe(opt));
  }
  const className = o.getClassName();
  const entry = Object.hasOwn(BY_CLASS, className) ? BY_CLASS[className] : undefined;
  if (entry === undefined) throw unsupported(typeof className === 'string' ? className : describe(className));
  const config = o.getConfig();
  const spec: Record<string, unknown> = { kind: entry.kind };
  for (const key of entry.numbers) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `optimizer ${className}: ${key} must be a finite number, got ${describe(v)}`);
    }
    spec[key] = v;
  }
  // tfjs's constructors default these flags to false; getConfig returns what was stored.
  for (const key of entry.flags) spec[key] = config[key] === true;
  return spec as unknown as OptimizerSpec;
}

/**
 * The optimizer's state vectors, in tfjs's getWeights() order, by the suffix tfjs gives each:
 * weight `w` has state `${w}/${suffix}`. A checkpoint that writes, for each slot in this order,
 * that slot of every trainable weight (after 'iter') is what tfjs's setWeights() expects.
 * (Adamax's getWeights() throws in tfjs 4.22; its names are the ones its variables carry.)
 */
/**
 * Optimizers the kernels reproduce exactly but training must not run: tfjs 4.22's centered
 * RMSProp computes sqrt(ms - (mg^2 + eps)), eps subtracted, so a weight whose ms - mg^2 < eps
 * (a zero gradient at step 1) becomes NaN, and the step would commit NaN weights.
 */
export function refuseUntrainable(spec: OptimizerSpec): void {
  if (spec.kind === 'rmsprop' && spec.centered) {
    throw new ThreadfitError(
      ErrorCodes.UNSUPPORTED,
      'optimizer RMSProp with centered: true is not supported: tfjs 4.22 computes sqrt(ms - (mg^2 + epsilon)), which turns weights with small gradients into NaN (model.fit does the same); use centered: false',
    );
  }
}

export function stateSlotsOf(spec: OptimizerSpec): readonly string[] {
  switch (spec.kind) {
    case 'adam':
    case 'adamax':
      return ['m', 'v'];
    case 'sgd':
      return [];
    case 'momentum':
      return ['momentum'];
    case 'rmsprop':
      return spec.centered ? ['rms', 'momentum', 'mg'] : ['rms', 'momentum'];
    case 'adagrad':
      return ['accumulator'];
    case 'adadelta':
      return ['accum_grad', 'accum_var'];
    default:
      throw unsupported(describe((spec as { kind?: unknown }).kind));
  }
}

/**
 * The value each state slot starts at, in stateSlotsOf order: zeros (tfjs's zerosLike) except
 * Adagrad's accumulator (tfjs's fill(initialAccumulatorValue)). Write it into BOTH buffers of the
 * slot before the first step.
 */
export function initialState(spec: OptimizerSpec): readonly number[] {
  return spec.kind === 'adagrad' ? [spec.initialAccumulatorValue] : stateSlotsOf(spec).map(() => 0);
}

/**
 * One chunk of a step with the spec's kernel: the weighted reduce of the rank slots fused with the
 * update, from the committed buffers into the other ones. `step` is the step being made (1-based).
 * Returns the number of non-finite reduced gradients (the caller skips the step when it is not 0).
 */
export function applyUpdate(kernels: UpdateKernels, spec: OptimizerSpec, chunk: ChunkUpdate, step: number): number {
  switch (spec.kind) {
    case 'adam':
      return kernels.reduceAdam(chunk, spec, step);
    case 'adamax':
      return kernels.reduceAdamax(chunk, spec, step);
    case 'sgd':
      return kernels.reduceSgd(chunk, spec);
    case 'momentum':
      return kernels.reduceMomentum(chunk, spec);
    case 'rmsprop':
      return kernels.reduceRmsprop(chunk, spec);
    case 'adagrad':
      return kernels.reduceAdagrad(chunk, spec);
    case 'adadelta':
      return kernels.reduceAdadelta(chunk, spec);
    default:
      // Specs cross threads as data: a kind this build does not know is refused, never run as Adam.
      throw unsupported(describe((spec as { kind?: unknown }).kind));
  }
}
