/**
 * A faster Relu gradient for the tensorflow backend (issue 18: conv nets on tensorflow).
 *
 * tfjs's Relu gradient is `dy * cast(step(x))`, and tfjs-node's Step kernel builds it from
 * IsNan, Greater, a ones tensor made in JavaScript (a fresh Float32Array of x's size, uploaded)
 * and Fill, then two Selects: ~8 kernels and an upload of x's size per relu. For mnist-node's CNN
 * at 64 rows on one thread that was ~11 ms of a 76 ms step (docs/PERFORMANCE.md). TensorFlow's
 * own ReluGrad kernel does it in one: dy where x > 0, else 0.
 *
 * The same bits as tfjs's formula for every non-NaN x (both compute dy * 1 or dy * 0, float32).
 * Where x is NaN tfjs gives NaN and ReluGrad dy * 0; a NaN activation makes the loss and the next layer's kernel gradient NaN
 * either way, so the step is still skipped as non-finite. Not recorded on the tape (no
 * second-order gradients through relu), as tfjs-layers' training never needs them.
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;

interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: Array<{ name: string; type: number; value: number }>, inputs: tfTypes.Tensor[]): tfTypes.Tensor;
}

const installed = new WeakSet<object>();

/** True when installTensorflowReluGrad has replaced tfjs's Relu gradient in this tfjs instance. */
export function isTensorflowReluGradInstalled(tf: Tf): boolean {
  return installed.has(tf.engine());
}

/**
 * Replaces the Relu gradient of this tfjs instance: TensorFlow's ReluGrad on the tensorflow
 * backend, tfjs's own formula on any other backend or dtype. Idempotent; for single-thread
 * tfjs-node users too (exported by @threadfit/coordinator).
 */
export function installTensorflowReluGrad(tf: Tf): void {
  if (installed.has(tf.engine())) return;
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const d = dy as tfTypes.Tensor;
      return {
        x: () => {
          const backend = tf.backend() as unknown as Partial<NodeBackend>;
          if (
            tf.getBackend() === 'tensorflow' &&
            backend.executeSingleOutput !== undefined &&
            backend.binding !== undefined &&
            x.dtype === 'float32' &&
            d.dtype === 'float32'
          ) {
            const b = backend.binding;
            return backend.executeSingleOutput('ReluGrad', [{ name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT }], [d, x]);
          }
          return tf.mul(d, tf.cast(tf.step(x), 'float32'));
        },
      };
    },
  });
  installed.add(tf.engine());
}
