/**
 * MaxPoolGrad for wasm. tfjs-backend-wasm 4.22 has one, but it drops part of the gradient when the
 * window is not square over several channels (MaxPooling1D's [p,1] windows: on x [2,7,1,3] with
 * a [2,1] pool, the stock kernel's dx lost whole dy values against cpu's, up to 9 of 18; the
 * MaxPooling1D family test caught it). This one routes each window's dy to the first maximum of its window, as the cpu
 * backend and TensorFlow do, in one pass over dy in JavaScript (the cpu backend's cost, no more).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { inScope, type TensorInfo } from './wasm-kernel-scope.js';

type Tf = typeof tfTypes;

export function maxPoolGradKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tfTypes.MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(input.shape as never, filterSize, strides, 1, pad, dimRoundingMode);
    return inScope(tf, backend, (s) => {
      const x = s.backend.readSync(input.dataId) as Float32Array;
      const g = s.backend.readSync(dy.dataId) as Float32Array;
      const [n, h, w, c] = input.shape;
      const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
      const { top, left } = info.padInfo;
      const dx = new Float32Array(x.length);
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < oh; i++) {
          const h0 = i * sh - top;
          for (let j = 0; j < ow; j++) {
            const w0 = j * sw - left;
            for (let ch = 0; ch < c; ch++) {
              let best = -1;
              let max = -Infinity;
              for (let p = Math.max(0, h0); p < Math.min(h, h0 + fh); p++) {
                for (let q = Math.max(0, w0); q < Math.min(w, w0 + fw); q++) {
                  const at = ((b * h + p) * w + q) * c + ch;
                  if (x[at] > max || best < 0) {
                    max = x[at];
                    best = at;
                  }
                }
              }
              if (best >= 0) dx[best] += g[((b * oh + i) * ow + j) * c + ch];
            }
          }
        }
      }
      return s.upload(dx, [...input.shape]);
    });
  };
}
