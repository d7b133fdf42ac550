/**
 * Loss, metrics and gradients on tfjs's tape (any model), computed the way model.fit computes
 * them: tfjs-layers' own compiled loss and metric functions, regularizer losses in training.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { deriveSeed } from '@threadfit/shared/core';
import { withSeededMathRandom } from './seeded-random.js';

type Tf = typeof tfTypes;
type MetricFn = (yTrue: tfTypes.Tensor, yPred: tfTypes.Tensor) => tfTypes.Tensor;

/** tfjs-layers internals that model.fit itself uses; stable in the pinned 4.22. */
interface CompiledModelInternals {
  lossFunctions: MetricFn[];
  metricsTensors: Array<[MetricFn, number]>;
  calculateLosses(): tfTypes.Scalar[];
}

export interface TapeGrads {
  lossSum: number;
  metricSums: number[];
  /** dL/dw in the order of the variables (undefined where a weight does not affect the loss). */
  grads: Array<tfTypes.Tensor | undefined>;
}

/** The tensors of a step that its caller reads: the mean loss, the metric means, the gradients. */
export interface StepTensors {
  value: tfTypes.Tensor;
  means: tfTypes.Tensor[];
  grads: Array<tfTypes.Tensor | undefined>;
}

export class TapeLoss {
  readonly #internals: CompiledModelInternals;
  /** model.fit's classWeight per output, as tensors of one weight per class (undefined: none). */
  readonly #classWeights: Array<tfTypes.Tensor1D | undefined>;

  constructor(
    private readonly tf: Tf,
    private readonly model: tfTypes.LayersModel,
    private readonly seed: number,
    classWeights?: Array<number[] | null>,
  ) {
    this.#classWeights = (classWeights ?? []).map((w) => (w === null ? undefined : tf.keep(tf.tensor1d(w, 'float32'))));
    // A Sequential compiles (and keeps loss functions in) its inner functional model.
    const inner = (model as unknown as { model?: unknown }).model;
    this.#internals = (inner ?? model) as CompiledModelInternals;
  }

  /**
   * Loss, metric sums and gradients of one micro-batch in training mode. `capture`, when given,
   * sees the loss, metric-mean and gradient tensors before they are read (traced-step.ts records
   * the step's kernels and names these as the graph's outputs).
   */
  grad(xs: tfTypes.Tensor[], ys: tfTypes.Tensor[], vars: tfTypes.Variable[], slot: number, step: number, capture?: (t: StepTensors) => void): TapeGrads {
    const tf = this.tf;
    const n = xs[0].shape[0];
    let outputs: tfTypes.Tensor[] = [];
    let result: { value: tfTypes.Scalar; grads: tfTypes.NamedTensorMap } | undefined;
    let ok = false;
    try {
      // Dropout masks: tfjs seeds each random op from Math.random(); a generator seeded from
      // (run seed, slot, step) makes them independent across micro-batches and the same on a rerun.
      result = withSeededMathRandom(deriveSeed(this.seed, slot, step), () =>
        tf.variableGrads(() => {
          const out = this.model.apply(xs, { training: true }) as tfTypes.Tensor | tfTypes.Tensor[];
          outputs = (Array.isArray(out) ? out : [out]).map((t) => tf.keep(t));
          return this.totalLoss(ys, outputs, true);
        }, vars),
      );
      const means = this.metricMeans(ys, outputs, true);
      const grads = vars.map((v) => result!.grads[v.name]);
      capture?.({ value: result.value, means, grads });
      // Read outside tidy: tidy walks a returned typed array (8x slower, DESIGN.md).
      const metricSums = means.map((m) => (m.dataSync()[0] as number) * n);
      tf.dispose(means);
      const lossSum = (result.value.dataSync()[0] as number) * n;
      ok = true;
      return { lossSum, metricSums, grads };
    } finally {
      // On success the gradients are the caller's.
      tf.dispose([...outputs, ...(result === undefined ? [] : [result.value, ...(ok ? [] : Object.values(result.grads))])]);
    }
  }

  /** tfjs's totalLossFunction: mean over samples of the summed per-output losses, plus regularizers in training. */
  totalLoss(ys: tfTypes.Tensor[], outputs: tfTypes.Tensor[], training: boolean): tfTypes.Scalar {
    const tf = this.tf;
    return tf.tidy(() => {
      let total: tfTypes.Tensor | undefined;
      this.#internals.lossFunctions.forEach((fn, i) => {
        const l = training ? this.weighted(fn(ys[i], outputs[i]), ys[i], i) : tf.mean(fn(ys[i], outputs[i]));
        total = total === undefined ? l : tf.add(total, l);
      });
      let mean = tf.mean(total!) as tfTypes.Scalar;
      if (training) for (const r of this.#internals.calculateLosses()) mean = tf.add(mean, r);
      return mean;
    });
  }

  /**
   * A per-sample loss times its sample's class weight, as tfjs-layers' computeWeightedLoss does
   * in model.fit (training only): the class of a sample is the argmax of a one-hot target, or the
   * target itself for class ids ([n] or [n, 1]), as its standardizeWeights reads it.
   */
  weighted(loss: tfTypes.Tensor, y: tfTypes.Tensor, output: number): tfTypes.Tensor {
    const table = this.#classWeights[output];
    if (table === undefined) return loss;
    const tf = this.tf;
    const classes = y.rank === 2 && y.shape[1]! > 1 ? tf.argMax(y, 1) : tf.cast(tf.reshape(y, [y.shape[0]]), 'int32');
    return tf.mul(loss, tf.gather(table, classes));
  }

  /**
   * Per metric of model.metricsNames (after 'loss'): mean x count, to be summed across ranks. A
   * multi-output model's per-output loss entries are class-weighted in training, as model.fit's.
   */
  metricSums(ys: tfTypes.Tensor[], outputs: tfTypes.Tensor[], n: number, training = false): number[] {
    const means = this.metricMeans(ys, outputs, training);
    // Read outside tidy: tidy walks a returned typed array (8x slower, DESIGN.md).
    const sums = means.map((m) => (m.dataSync()[0] as number) * n);
    this.tf.dispose(means);
    return sums;
  }

  /** Per metric of model.metricsNames (after 'loss'): its mean over the rows, as a scalar tensor (the caller's). */
  metricMeans(ys: tfTypes.Tensor[], outputs: tfTypes.Tensor[], training = false): tfTypes.Tensor[] {
    const tf = this.tf;
    // As tfjs-layers' train function: a multi-output model's first metrics are its per-output losses.
    const perOutputLoss = (i: number) => training && outputs.length > 1 && i < outputs.length;
    return tf.tidy(() =>
      this.#internals.metricsTensors.map(([fn, o], i) => tf.mean(perOutputLoss(i) ? this.weighted(fn(ys[o], outputs[o]), ys[o], o) : fn(ys[o], outputs[o]))),
    );
  }
}
