/**
 * The dense fast path: the gradients of a model that is a plain chain of Dense layers (an MLP such
 * as the seed model), computed with the backward pass written out instead of recorded on tfjs's
 * tape.
 *
 * Why: on the tape a step of the seed model runs ~95 tfjs kernels (~107 on tensorflow), most of
 * them small: the loss and metrics forward and backward, and one clone per tensor the tape saves.
 * Each costs the engine's dispatch (~10 us on wasm, ~25 us through tfjs-node) whatever its size,
 * so at 64 rows per worker they were a quarter of the step. Written out, a step is the matmuls,
 * bias sums and activation masks (14 kernels for the seed model) plus one read of the [n, C]
 * output and one upload of its gradient; the loss and metrics are computed on that small block
 * in JavaScript (output-loss.ts).
 *
 * The kernels are tfjs's own, called as tfjs's gradients call them (matMul with transposeA for
 * dW, transposeB for the input gradient, sum over the batch for the bias, step(a) for relu), so
 * the wasm BatchMatMul fix and the transposed weights apply unchanged. Results agree with the tape
 * to float32 rounding (packages/worker/test/dense-chain.test.ts), not bit for bit: the loss gradient is
 * computed in float64.
 *
 * Anything else (other layers, regularizers, constraints, dropout, frozen layers, other losses or
 * metrics, several inputs or outputs) takes the tape: `planDenseChain` says why.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { lossKindOf, metricKindOf, outputLoss, type LossKind, type MetricKind, type OutputActivation } from './output-loss.js';

type Tf = typeof tfTypes;

const HIDDEN_ACTIVATIONS = new Set(['linear', 'relu', 'sigmoid', 'tanh']);
const OUTPUT_ACTIVATIONS = new Set(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

interface Stage {
  /** Index of the kernel (and the bias, when there is one) in the replica's trainable variables. */
  kernel: number;
  bias: number | undefined;
  activation: OutputActivation;
}

export interface DenseChainPlan {
  stages: Stage[];
  loss: LossKind;
  metrics: MetricKind[];
  /** Flatten before the first Dense (inputs of rank > 2). */
  flatten: boolean;
}

/** Layer internals read by the planner (tfjs-layers 4.22, pinned). */
interface LayerLike {
  name: string;
  trainable: boolean;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  trainableWeights: Array<{ read(): tfTypes.Variable }>;
  nonTrainableWeights: unknown[];
  inboundNodes: Array<{ inboundLayers: LayerLike[] }>;
  outputShape: unknown;
  input: { shape: unknown[] };
}

/**
 * The fast-path plan for a compiled model, or the reason it takes the tape. `vars` are the
 * replica's trainable variables in the order of the shared layout.
 */
export function planDenseChain(
  model: tfTypes.LayersModel,
  loss: readonly string[],
  metricIds: readonly string[],
  vars: readonly tfTypes.Variable[],
  /** Floats per target row the replica gathers (one-hot classes, or the stored width). */
  targetWidth: number,
): { plan: DenseChainPlan } | { reason: string } {
  // A Sequential keeps its graph in an inner functional model whose layers start with the input.
  const graph = ((model as unknown as { model?: tfTypes.LayersModel }).model ?? model) as unknown as {
    layers: LayerLike[];
    inputs: unknown[];
    outputs: unknown[];
  };
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1 || loss.length !== 1) return { reason: 'the model has several inputs or outputs' };
  const lossKind = lossKindOf(loss[0]);
  if (lossKind === undefined) return { reason: `loss '${loss[0]}'` };
  const [input, ...layers] = graph.layers;
  if (input?.getClassName() !== 'InputLayer') return { reason: 'no input layer first' };
  // tfjs casts the input to the input layer's dtype (an int32 input truncates): float32 only.
  const inputDtype = (input.getConfig() as { dtype?: string }).dtype ?? 'float32';
  if (inputDtype !== 'float32') return { reason: `the input is ${inputDtype}` };
  const stages: Stage[] = [];
  let flatten = false;
  let prev = input;
  for (const layer of layers) {
    const node = layer.inboundNodes;
    if (node.length !== 1 || node[0].inboundLayers.length !== 1 || node[0].inboundLayers[0] !== prev) {
      return { reason: `layer ${layer.name} is not the next link of a chain` };
    }
    prev = layer;
    const cls = layer.getClassName();
    if (cls === 'Flatten' && stages.length === 0) {
      // channelsFirst transposes before it flattens; only the plain reshape is written out.
      if (layer.getConfig().dataFormat === 'channelsFirst') return { reason: `layer ${layer.name} flattens channelsFirst` };
      flatten = true;
      continue;
    }
    if (cls !== 'Dense') return { reason: `layer ${layer.name} is a ${cls}` };
    if (layer.input.shape.length !== 2) return { reason: `layer ${layer.name} takes inputs of rank ${layer.input.shape.length}` };
    const cfg = layer.getConfig();
    if ((cfg.dtype ?? 'float32') !== 'float32') return { reason: `layer ${layer.name} is ${String(cfg.dtype)}` };
    for (const k of ['kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'kernelConstraint', 'biasConstraint']) {
      if (cfg[k] != null) return { reason: `layer ${layer.name} has a ${k}` };
    }
    if (!layer.trainable || layer.nonTrainableWeights.length > 0) return { reason: `layer ${layer.name} is frozen` };
    const activation = String(cfg.activation) as OutputActivation;
    const index = (i: number): number => vars.indexOf(layer.trainableWeights[i].read());
    const kernel = index(0);
    const bias = layer.trainableWeights.length > 1 ? index(1) : undefined;
    if (kernel < 0 || bias === -1) return { reason: `layer ${layer.name}'s weights are not the replica's trainable variables` };
    stages.push({ kernel, bias, activation });
  }
  if (stages.length === 0) return { reason: 'no Dense layer' };
  const last = stages[stages.length - 1];
  for (const s of stages.slice(0, -1)) if (!HIDDEN_ACTIVATIONS.has(s.activation)) return { reason: `a hidden layer's activation is '${s.activation}'` };
  if (!OUTPUT_ACTIVATIONS.has(last.activation)) return { reason: `the output activation is '${last.activation}'` };
  if (stages.flatMap((s) => (s.bias === undefined ? [s.kernel] : [s.kernel, s.bias])).length !== vars.length) {
    return { reason: 'the model has trainable weights outside its Dense layers' };
  }
  const units = (layers[layers.length - 1].outputShape as number[])[1];
  // The targets are read row by row with the output's width (the tape would broadcast a mismatch).
  if (targetWidth !== units) return { reason: `the targets have ${targetWidth} values per row, the output ${units}` };
  const metrics: MetricKind[] = [];
  for (const id of metricIds) {
    const m = metricKindOf(id, lossKind, units);
    if (m === undefined) return { reason: `metric '${id}'` };
    metrics.push(m);
  }
  return { plan: { stages, loss: lossKind, metrics, flatten } };
}

export interface DenseChainResult {
  lossSum: number;
  metricSums: number[];
  /** dL/dw of the mean loss, in the order of the replica's trainable variables. */
  grads: tfTypes.Tensor[];
}

export class DenseChain {
  constructor(
    private readonly tf: Tf,
    private readonly plan: DenseChainPlan,
    private readonly vars: readonly tfTypes.Variable[],
  ) {}

  /** Forward and backward of rows `x` ([n, ...]) against targets `y` ([n, C] row-major). */
  grad(x: tfTypes.Tensor, y: Float32Array): DenseChainResult {
    const tf = this.tf;
    const { stages, loss, metrics } = this.plan;
    const n = x.shape[0];
    let out: OutputLossResult | undefined;
    const grads = tf.tidy(() => {
      // Forward, keeping each layer's input and activation output for the backward pass.
      const inputs: tfTypes.Tensor2D[] = [];
      const acts: tfTypes.Tensor2D[] = [];
      let a = (this.plan.flatten ? tf.reshape(x, [n, -1]) : x) as tfTypes.Tensor2D;
      for (const s of stages) {
        inputs.push(a);
        // matMul (BatchMatMul), then the bias, then the activation: the kernels the tape runs for
        // a relu Dense; on wasm this also takes the transposed-weight path of matmul-fix.ts.
        let z = tf.matMul(a, this.vars[s.kernel] as tfTypes.Tensor2D) as tfTypes.Tensor2D;
        if (s.bias !== undefined) z = tf.add(z, this.vars[s.bias]) as tfTypes.Tensor2D;
        a = activate(tf, s.activation, z);
        acts.push(a);
      }
      const p = a.dataSync() as Float32Array;
      const dzOut = new Float32Array(p.length);
      out = outputLoss(loss, stages[stages.length - 1].activation, metrics, p, y, n, dzOut);
      // Backward.
      const g: tfTypes.Tensor[] = new Array<tfTypes.Tensor>(this.vars.length);
      let dz: tfTypes.Tensor2D = tf.tensor2d(dzOut, a.shape as [number, number]);
      for (let l = stages.length - 1; l >= 0; l--) {
        const s = stages[l];
        g[s.kernel] = tf.matMul(inputs[l], dz, true, false);
        if (s.bias !== undefined) g[s.bias] = tf.sum(dz, 0);
        if (l === 0) break;
        const da: tfTypes.Tensor2D = tf.matMul(dz, this.vars[s.kernel] as tfTypes.Tensor2D, false, true);
        dz = activationGrad(tf, stages[l - 1].activation, acts[l - 1], da);
      }
      return g;
    });
    return { lossSum: out!.lossSum, metricSums: out!.metricSums, grads };
  }
}

type OutputLossResult = ReturnType<typeof outputLoss>;

function activate(tf: Tf, activation: OutputActivation, z: tfTypes.Tensor2D): tfTypes.Tensor2D {
  switch (activation) {
    case 'linear':
      return z;
    case 'relu':
      return tf.relu(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    case 'tanh':
      return tf.tanh(z);
    case 'softmax':
      return tf.softmax(z);
  }
}

/** dL/dz of a hidden layer from dL/da and its activation output a (tfjs's gradient formulas). */
function activationGrad(tf: Tf, activation: OutputActivation, a: tfTypes.Tensor2D, da: tfTypes.Tensor2D): tfTypes.Tensor2D {
  switch (activation) {
    case 'linear':
      return da;
    case 'relu':
      // tfjs: dy * step(x), x the relu input. sign(a) is the same 0/1 mask for a = relu(x) >= 0, in
      // one kernel (tfjs-node builds step from five); a NaN in a also reaches the loss gradient.
      return tf.mul(da, tf.sign(a));
    case 'sigmoid':
      return tf.mul(da, tf.mul(a, tf.sub(1, a)));
    case 'tanh':
      return tf.mul(tf.sub(1, tf.square(a)), da);
    default:
      throw new Error(`no hidden-layer gradient for activation '${activation}'`);
  }
}
