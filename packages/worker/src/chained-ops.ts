/**
 * The chained tensor methods (`t.flatten()`, `t.add(b)`, `t.reshape(s)`, ...) for a worker that
 * loads tfjs-core and tfjs-layers without the `@tensorflow/tfjs` union (backend.ts).
 *
 * tfjs-core's Node bundle defines only a tensor's own methods (data, dispose, cast, clone, ...);
 * the 136 chained ops are side-effect registrations that the union bundle carries (tfjs-core's
 * `public/chained_ops/register_all_chained_ops`, an ES module tree Node cannot load on its own).
 * tfjs-layers calls them in places: the Orthogonal initializer (`rMat.flatten()`), the default of
 * every recurrent kernel, failed in a worker with "rMat.flatten is not a function", and a user's
 * custom layer may call any of them. Defining them here, on tfjs-core's one Tensor class, gives a
 * worker the same tensor API as the union for a few kB instead of the union's ~20 MB of RSS.
 *
 * Each method is the op applied to the tensor, as the union's are (checked against the union's
 * own functions in packages/worker/test/chained-ops.test.ts); methods already defined (the union
 * loaded, as in the main thread or with tfjs-node) are left as they are.
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;
type Op = (...args: unknown[]) => unknown;
type Method = (this: tfTypes.Tensor, ...args: unknown[]) => unknown;

/** Methods that are `op(this, ...args)` of the op with the same name. */
const THIS_FIRST = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'avgPool',
  'batchNorm', 'batchToSpaceND', 'broadcastTo', 'ceil', 'clipByValue', 'conv1d', 'conv2d', 'conv2dTranspose', 'cos', 'cosh',
  'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf',
  'euclideanNorm', 'exp', 'expandDims', 'expm1', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'isFinite', 'isInf',
  'isNaN', 'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p', 'logSigmoid', 'logSoftmax', 'logSumExp',
  'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool', 'maximum', 'mean', 'min', 'minimum',
  'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'onesLike', 'pad', 'pool', 'pow', 'prelu', 'prod', 'reciprocal', 'relu',
  'relu6', 'reshape', 'reverse', 'round', 'rsqrt', 'selu', 'separableConv2d',
  'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND', 'split', 'sqrt', 'square',
  'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub', 'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique',
  'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const; // prettier-ignore

/** The same, for ops under a namespace of tf. */
const NAMESPACED = { spectral: ['fft', 'ifft', 'irfft', 'rfft'], image: ['resizeBilinear', 'resizeNearestNeighbor'] } as const;

/** The methods with a body of their own (names as the union's). */
function specialMethods(tf: Tf): Record<string, Method> {
  const asShape = (t: tfTypes.Tensor, shape: number[]) => tf.reshape(t, shape);
  return {
    asScalar() {
      if (this.size !== 1) throw new Error('The array must have only 1 element.');
      return asShape(this, []);
    },
    asType(dtype) {
      return tf.cast(this, dtype as tfTypes.DataType);
    },
    as1D() {
      return asShape(this, [this.size]);
    },
    flatten() {
      return asShape(this, [this.size]);
    },
    as2D(...dims) {
      return asShape(this, dims.slice(0, 2) as number[]);
    },
    as3D(...dims) {
      return asShape(this, dims.slice(0, 3) as number[]);
    },
    as4D(...dims) {
      return asShape(this, dims.slice(0, 4) as number[]);
    },
    as5D(...dims) {
      return asShape(this, dims.slice(0, 5) as number[]);
    },
    reshapeAs(x) {
      return asShape(this, (x as tfTypes.Tensor).shape);
    },
    toBool() {
      return tf.cast(this, 'bool');
    },
    toFloat() {
      return tf.cast(this, 'float32');
    },
    toInt() {
      return tf.cast(this, 'int32');
    },
    concat(x, axis) {
      const rest = x instanceof tf.Tensor ? [x] : (x as tfTypes.Tensor[]);
      return tf.concat([this, ...rest], axis as number | undefined);
    },
    stack(x, axis) {
      const rest = x instanceof tf.Tensor ? [x] : (x as tfTypes.Tensor[]);
      return tf.stack([this, ...rest], axis as number | undefined);
    },
    // The tensor is the `a` (true) branch: t.where(cond, b) = where(cond, t, b).
    where(condition, x) {
      return tf.where(condition as tfTypes.Tensor, this, x as tfTypes.Tensor);
    },
    // The method has no dtype parameter: the op's default (int32) whatever a fourth argument says.
    oneHot(depth, onValue = 1, offValue = 0) {
      return tf.oneHot(this, depth as number, onValue as number, offValue as number);
    },
  };
}

/**
 * Every chained method by name, as functions of `tf` (its ops, its Tensor class). Exported for the
 * test that compares them with the union's.
 */
export function chainedMethods(tf: Tf): Record<string, Method> {
  const methods: Record<string, Method> = {};
  const table = tf as unknown as Record<string, Op>;
  const thisFirst = (name: string, op: Op | undefined): void => {
    if (typeof op !== 'function') throw new Error(`registerChainedOps: tfjs-core has no op '${name}' (a tfjs version other than the pinned 4.22?)`);
    methods[name] = function (...args) {
      return op(this, ...args);
    };
  };
  for (const name of THIS_FIRST) thisFirst(name, table[name]);
  for (const [space, names] of Object.entries(NAMESPACED)) {
    const ops = (tf as unknown as Record<string, Record<string, Op>>)[space];
    for (const name of names) thisFirst(name, ops[name]);
  }
  for (const [name, body] of Object.entries(specialMethods(tf))) methods[name] = body;
  return methods;
}

/**
 * Defines on `tf.Tensor.prototype` every chained method it lacks; returns how many it defined
 * (0 when the union is loaded). Idempotent. A disposed tensor is refused as the union refuses it.
 */
export function registerChainedOps(tf: Tf): number {
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  let defined = 0;
  for (const [name, body] of Object.entries(chainedMethods(tf))) {
    if (name in proto) continue;
    proto[name] = function (this: tfTypes.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return body.apply(this, args);
    };
    defined++;
  }
  return defined;
}
