/**
 * The loss, its gradient and the metrics of a model's output, in plain JavaScript on the small
 * [n, C] output block (for the seed model 64 x 10 numbers). Used by the dense fast path
 * (dense-chain.ts): one read of the output and one upload of its gradient replace the ~40 tfjs ops
 * that the loss and metrics cost forward and backward on the tape.
 *
 * Each formula is tfjs-layers' own (losses.ts, metrics.ts of 4.22), differentiated by hand, with
 * the same clipping: a probability clipped to [eps, 1 - eps] passes no gradient, as tfjs's
 * clipByValue gradient does. The arithmetic is float64 (tfjs's is float32), so results agree to
 * float32 rounding; packages/worker/test/dense-chain.test.ts checks them against tfjs on the tape.
 * A NaN output stays NaN in the loss and its gradient, as on the tape, so the step is skipped.
 */

export type OutputActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax';
export type LossKind = 'categoricalCrossentropy' | 'binaryCrossentropy' | 'meanSquaredError';
export type MetricKind = 'categoricalAccuracy' | 'binaryAccuracy' | 'meanSquaredError';

/** tfjs-layers' epsilon() on float32 backends, and the float32 clip bounds its kernels compare with. */
const EPSILON = 1e-7;
const CLIP_LO = Math.fround(EPSILON);
const CLIP_HI = Math.fround(1 - EPSILON);

const LOSS_NAMES: Record<string, LossKind> = {
  categoricalCrossentropy: 'categoricalCrossentropy',
  binaryCrossentropy: 'binaryCrossentropy',
  meanSquaredError: 'meanSquaredError',
};

/** The loss of a compile() identifier, or undefined when this module does not implement it. */
export function lossKindOf(identifier: string): LossKind | undefined {
  return Object.hasOwn(LOSS_NAMES, identifier) ? LOSS_NAMES[identifier] : undefined;
}

/**
 * A compile() metric identifier resolved as tfjs-layers resolves it (training.ts: 'accuracy' is
 * binary for one output unit or a binary cross-entropy loss, else categorical), or undefined.
 */
export function metricKindOf(identifier: string, loss: LossKind, units: number): MetricKind | undefined {
  switch (identifier) {
    case 'accuracy':
    case 'acc':
      return units === 1 || loss === 'binaryCrossentropy' ? 'binaryAccuracy' : 'categoricalAccuracy';
    case 'categoricalAccuracy':
      return 'categoricalAccuracy';
    case 'binaryAccuracy':
      return 'binaryAccuracy';
    case 'mse':
    case 'MSE':
      return 'meanSquaredError';
    default:
      return undefined;
  }
}

export interface OutputLoss {
  /** Sum over the rows of the per-row loss (the mean loss times n). */
  lossSum: number;
  /** Per metric, the sum over the rows (the mean times n). */
  metricSums: number[];
}

/**
 * Loss and metrics of output `p` (the activation's result, [n, C] row-major) against targets `y`;
 * when `dz` is given, also writes dL/dz of the mean loss, z being the output layer's pre-activation.
 */
export function outputLoss(
  loss: LossKind,
  activation: OutputActivation,
  metrics: readonly MetricKind[],
  p: Float32Array,
  y: Float32Array,
  n: number,
  dz?: Float32Array,
): OutputLoss {
  const c = p.length / n;
  const dp = new Float64Array(c);
  let lossSum = 0;
  const metricSums = metrics.map(() => 0);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    lossSum += rowLoss(loss, p, y, o, c, n, dz === undefined ? undefined : dp);
    for (let m = 0; m < metrics.length; m++) metricSums[m] += rowMetric(metrics[m], p, y, o, c);
    if (dz !== undefined) activationBackward(activation, p, o, c, dp, dz);
  }
  return { lossSum, metricSums };
}

/** The row's loss; with `dp`, also dL/dp of the batch mean (1/n of the row's derivative). */
function rowLoss(loss: LossKind, p: Float32Array, y: Float32Array, o: number, c: number, n: number, dp: Float64Array | undefined): number {
  switch (loss) {
    case 'categoricalCrossentropy': {
      // q = p / sum(p); -sum(y * log(clip(q, eps, 1 - eps))).
      let s = 0;
      for (let j = 0; j < c; j++) s += p[o + j];
      let l = 0;
      let dqDotQ = 0;
      for (let j = 0; j < c; j++) {
        const q = Math.fround(p[o + j] / s);
        const inside = q >= CLIP_LO && q <= CLIP_HI;
        // As clipByValue: NaN passes through (and the gradient mask is false for it).
        const qc = q < CLIP_LO ? CLIP_LO : q > CLIP_HI ? CLIP_HI : q;
        const t = y[o + j];
        if (t !== 0 || qc !== qc) l -= t * Math.log(qc);
        if (dp !== undefined) {
          const dq = inside ? -t / qc / n : 0;
          dp[j] = dq;
          dqDotQ += dq * q;
        }
      }
      // d(p_j / s)/dp_k = (delta_jk - q_j) / s.
      if (dp !== undefined) for (let j = 0; j < c; j++) dp[j] = (dp[j] - dqDotQ) / s;
      return l;
    }
    case 'binaryCrossentropy': {
      // logit(clip(p)) through sigmoid cross-entropy with logits, averaged over the C outputs.
      let l = 0;
      for (let j = 0; j < c; j++) {
        const pj = p[o + j];
        const inside = pj >= CLIP_LO && pj <= CLIP_HI;
        const q = pj < CLIP_LO ? CLIP_LO : pj > CLIP_HI ? CLIP_HI : pj;
        const z = Math.log(q / (1 - q));
        const t = y[o + j];
        l += Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z)));
        // d/dz = sigmoid(z) - t = q - t; dz/dq = 1 / (q (1 - q)).
        if (dp !== undefined) dp[j] = inside ? (q - t) / (q * (1 - q)) / (c * n) : 0;
      }
      return l / c;
    }
    case 'meanSquaredError': {
      let l = 0;
      for (let j = 0; j < c; j++) {
        const d = p[o + j] - y[o + j];
        l += d * d;
        if (dp !== undefined) dp[j] = (2 * d) / (c * n);
      }
      return l / c;
    }
  }
}

function rowMetric(metric: MetricKind, p: Float32Array, y: Float32Array, o: number, c: number): number {
  switch (metric) {
    case 'categoricalAccuracy':
      return argMax(y, o, c) === argMax(p, o, c) ? 1 : 0;
    case 'binaryAccuracy': {
      let hits = 0;
      for (let j = 0; j < c; j++) if (y[o + j] === (p[o + j] > 0.5 ? 1 : 0)) hits++;
      return hits / c;
    }
    case 'meanSquaredError': {
      let s = 0;
      for (let j = 0; j < c; j++) s += (p[o + j] - y[o + j]) ** 2;
      return s / c;
    }
  }
}

/** tfjs's argMax: the first index of the largest value. */
function argMax(a: Float32Array, o: number, c: number): number {
  let best = 0;
  for (let j = 1; j < c; j++) if (a[o + j] > a[o + best]) best = j;
  return best;
}

/** dz = dp through the output activation (p is its result), written at row offset o. */
function activationBackward(activation: OutputActivation, p: Float32Array, o: number, c: number, dp: Float64Array, dz: Float32Array): void {
  switch (activation) {
    case 'softmax': {
      let dot = 0;
      for (let j = 0; j < c; j++) dot += dp[j] * p[o + j];
      for (let j = 0; j < c; j++) dz[o + j] = p[o + j] * (dp[j] - dot);
      return;
    }
    case 'sigmoid':
      for (let j = 0; j < c; j++) dz[o + j] = dp[j] * p[o + j] * (1 - p[o + j]);
      return;
    case 'tanh':
      for (let j = 0; j < c; j++) dz[o + j] = dp[j] * (1 - p[o + j] * p[o + j]);
      return;
    case 'relu':
      // dy * step(x) as tfjs: a NaN gradient stays NaN where the mask is 0.
      for (let j = 0; j < c; j++) dz[o + j] = dp[j] * (p[o + j] > 0 ? 1 : 0);
      return;
    case 'linear':
      for (let j = 0; j < c; j++) dz[o + j] = dp[j];
      return;
  }
}
