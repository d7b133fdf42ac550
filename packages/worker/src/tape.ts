/**
 * Loss, metrics and gradients on tfjs's tape (any model), computed the way model.fit computes
 * them: tfjs-layers' own compiled loss and metric functions, regularizer losses in training.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { deriveSeed } from '@threadfit/shared';
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

export class TapeLoss {
  readonly #internals: CompiledModelInternals;

  constructor(
    private readonly tf: Tf,
    private readonly model: tfTypes.LayersModel,
    private readonly seed: number,
  ) {
    // A Sequential compiles (and keeps loss functions in) its inner functional model.
    const inner = (model as unknown as { model?: unknown }).model;
    this.#internals = (inner ?? model) as CompiledModelInternals;
  }

  /** Loss, metric sums and gradients of one micro-batch in training mode. */
  grad(xs: tfTypes.Tensor[], ys: tfTypes.Tensor[], vars: tfTypes.Variable[], slot: number, step: number): TapeGrads {
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
      const metricSums = this.metricSums(ys, outputs, n);
      const lossSum = (result.value.dataSync()[0] as number) * n;
      const grads = vars.map((v) => result!.grads[v.name]);
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
        const l = training ? fn(ys[i], outputs[i]) : tf.mean(fn(ys[i], outputs[i]));
        total = total === undefined ? l : tf.add(total, l);
      });
      let mean = tf.mean(total!) as tfTypes.Scalar;
      if (training) for (const r of this.#internals.calculateLosses()) mean = tf.add(mean, r);
      return mean;
    });
  }

  /** Per metric of model.metricsNames (after 'loss'): mean x count, to be summed across ranks. */
  metricSums(ys: tfTypes.Tensor[], outputs: tfTypes.Tensor[], n: number): number[] {
    const tf = this.tf;
    const means = tf.tidy(() => this.#internals.metricsTensors.map(([fn, o]) => tf.mean(fn(ys[o], outputs[o]))));
    // Read outside tidy: tidy walks a returned typed array (8x slower, DESIGN.md).
    const sums = means.map((m) => (m.dataSync()[0] as number) * n);
    tf.dispose(means);
    return sums;
  }
}
