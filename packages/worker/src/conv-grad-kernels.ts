/**
 * The convolution gradients tfjs-backend-wasm lacks, composed from its own fast kernels
 * (XNNPACK matmul and depthwise convolution, Transpose, StridedSlice, PadV2), NHWC only:
 *
 * - Conv2DBackpropFilter: a convolution of the padded input with the batch as its channels by dy
 *   as the filter, dilated by the stride (below): one XNNPACK GEMM of Ci·fh·fw rows, no im2col
 *   matrix in the wasm heap (which never shrinks). It replaced one matmul [Ci,K]·[K,Co] per filter
 *   tap over strided slices: 157 -> 79 ms per 64-row step of mnist-node's CNN.
 * - DepthwiseConv2dNativeBackpropFilter: the same taps, a batched matmul per tap over the channels
 *   ([Ci,1,K]·[Ci,K,M]).
 * - DepthwiseConv2dNativeBackpropInput: a depthwise convolution of dy (dilated by the stride,
 *   padded by filter-1-pad) with the spatially flipped filter, then a sum over the multiplier.
 * - Conv2DBackpropInput (replacing the backend's own, a scalar loop: 515 of 742 ms of a training
 *   step of mnist-node's CNN at 64 rows): the same construction with the XNNPACK Conv2D and the
 *   flipped filter with its in and out channels swapped.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { inScope, type KernelScope, type TensorInfo } from './wasm-kernel-scope.js';

type Tf = typeof tfTypes;
type Conv2DInfo = tfTypes.backend_util.Conv2DInfo;

function refuseChannelsFirst(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(
      `threadfit's wasm ${kernel} supports dataFormat 'NHWC' only, got '${String(dataFormat)}' (tfjs-layers' channelsFirst layers transpose to NHWC themselves)`,
    );
  }
}

/** x [N,H,W,C], padded as the convolution pads it, then channel-first: [C,N,Hp,Wp]. */
function paddedChannelFirst(s: KernelScope, x: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { top, bottom, left, right } = info.padInfo;
  const padded = s.padOrCrop(x, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
  return s.run('Transpose', { x: padded }, { perm: [3, 0, 1, 2] });
}

/** The window of the padded channel-first input that filter tap (kh, kw) multiplies: [C, N·Ho·Wo]. */
function tap(s: KernelScope, xcf: TensorInfo, info: Conv2DInfo, kh: number, kw: number): TensorInfo {
  const [c, n] = xcf.shape;
  const h0 = kh * info.dilationHeight;
  const w0 = kw * info.dilationWidth;
  const t = s.run(
    'StridedSlice',
    { x: xcf },
    {
      begin: [0, 0, h0, w0],
      end: [c, n, h0 + (info.outHeight - 1) * info.strideHeight + 1, w0 + (info.outWidth - 1) * info.strideWidth + 1],
      strides: [1, 1, info.strideHeight, info.strideWidth],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    },
  );
  return s.view(t, [c, n * info.outHeight * info.outWidth]);
}

export function conv2DBackpropFilterKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tfTypes.Conv2DBackpropFilterAttrs;
    refuseChannelsFirst('Conv2DBackpropFilter', dataFormat);
    const info = tf.backend_util.computeConv2DInfo(x.shape as never, filterShape, strides, 1, pad, dimRoundingMode);
    const [fh, fw] = filterShape;
    return inScope(tf, backend, (s) => {
      // dW[kh,kw,ci,co] = sum over n,i,j of xp[n, i·sh+kh, j·sw+kw, ci]·dy[n,i,j,co]: a 'valid'
      // convolution of xp with the batch as channels ([Ci, Hp, Wp, N]) by dy as the filter
      // ([Ho, Wo, N, Co]), dilated by the stride, giving [Ci, fh, fw, Co]. XNNPACK runs it as
      // one GEMM of Ci·fh·fw rows (no per-tap slices).
      const { top, left } = info.padInfo;
      const rows = (info.outHeight - 1) * info.strideHeight + fh;
      const cols = (info.outWidth - 1) * info.strideWidth + fw;
      const xp = s.padOrCrop(x, [
        [0, 0],
        [top, rows - top - x.shape[1]],
        [left, cols - left - x.shape[2]],
        [0, 0],
      ]);
      const xc = s.run('Transpose', { x: xp }, { perm: [3, 1, 2, 0] });
      const dyf = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
      const out = s.run(
        'Conv2D',
        { x: xc, filter: dyf },
        { strides: [1, 1], dilations: [info.strideHeight, info.strideWidth], pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined },
      );
      return s.run('Transpose', { x: out }, { perm: [1, 2, 0, 3] });
    });
  };
}

export function depthwiseBackpropFilterKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as tfTypes.DepthwiseConv2dNativeBackpropFilterAttrs;
    const info = tf.backend_util.computeConv2DInfo(x.shape as never, filterShape, strides, dilations, pad, dimRoundingMode, true);
    const [, , ci, mult] = filterShape;
    return inScope(tf, backend, (s) => {
      const xcf = paddedChannelFirst(s, x, info);
      const k = dy.shape[0] * info.outHeight * info.outWidth;
      // dy [K, Ci·M] as [Ci, K, M]: one matmul per channel and tap.
      const dyc = s.run('Transpose', { x: s.view(dy, [k, ci, mult]) }, { perm: [1, 0, 2] });
      const taps: TensorInfo[] = [];
      for (let kh = 0; kh < info.filterHeight; kh++) {
        for (let kw = 0; kw < info.filterWidth; kw++) {
          const t = s.view(tap(s, xcf, info, kh, kw), [ci, 1, k]);
          taps.push(s.run('BatchMatMul', { a: t, b: dyc }, { transposeA: false, transposeB: false }));
        }
      }
      const out = s.run('Concat', taps, { axis: 0 });
      return s.view(out, [...filterShape]);
    });
  };
}

/**
 * dy [N,Ho,Wo,C] dilated by the stride (zeros between rows and columns) and padded so that a
 * stride-1 'valid' convolution with the spatially flipped filter gives dx [N,H,W,...]: padded by
 * effective filter - 1 - top before, cropped or padded to H + effective filter - 1 rows.
 */
function dilatedPaddedDy(s: KernelScope, dy: TensorInfo, info: Conv2DInfo, h: number, w: number): TensorInfo {
  const [n, , , channels] = dy.shape;
  const { strideHeight: sh, strideWidth: sw } = info;
  // Dilate dy by the stride: [N,Ho,1,Wo,1,C] padded to [N,Ho,sh,Wo,sw,C] (zeros between rows).
  let d = dy;
  if (sh > 1 || sw > 1) {
    const spread = s.run('PadV2', { x: s.view(dy, [n, info.outHeight, 1, info.outWidth, 1, channels]) }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    }); // prettier-ignore
    d = s.view(spread, [n, info.outHeight * sh, info.outWidth * sw, channels]);
  }
  // Negative amounts crop (the rows the stride's last spread added).
  const before = [info.effectiveFilterHeight - 1 - info.padInfo.top, info.effectiveFilterWidth - 1 - info.padInfo.left];
  const after = [h + info.effectiveFilterHeight - 1 - before[0] - d.shape[1], w + info.effectiveFilterWidth - 1 - before[1] - d.shape[2]];
  return s.padOrCrop(d, [
    [0, 0],
    [before[0], after[0]],
    [before[1], after[1]],
    [0, 0],
  ]);
}

export function conv2DBackpropInputKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tfTypes.Conv2DBackpropInputAttrs;
    refuseChannelsFirst('Conv2DBackpropInput', dataFormat);
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as never, strides, 1, pad, dimRoundingMode);
    const [, h, w] = inputShape;
    return inScope(tf, backend, (s) => {
      const padded = dilatedPaddedDy(s, dy, info, h, w);
      // [fh,fw,Ci,Co] flipped in space, channels swapped: [fh,fw,Co,Ci].
      const flipped = s.run('Transpose', { x: s.run('Reverse', { x: filter }, { dims: [0, 1] }) }, { perm: [0, 1, 3, 2] });
      return s.run(
        'Conv2D',
        { x: padded, filter: flipped },
        { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined },
      );
    });
  };
}

export function depthwiseBackpropInputKernel(tf: Tf): tfTypes.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as tfTypes.DepthwiseConv2dNativeBackpropInputAttrs;
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as never, strides, dilations, pad, dimRoundingMode, true);
    const [n, h, w, ci] = inputShape;
    const [fh, fw, , mult] = filter.shape;
    const channels = ci * mult;
    return inScope(tf, backend, (s) => {
      const padded = dilatedPaddedDy(s, dy, info, h, w);
      const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
      const conv = s.run(
        'DepthwiseConv2dNative',
        { x: padded, filter: s.view(flipped, [fh, fw, channels, 1]) },
        { strides: [1, 1], dilations: [info.dilationHeight, info.dilationWidth], pad: 'valid', dataFormat: 'NHWC' },
      );
      if (mult === 1) return conv;
      return s.run('Sum', { x: s.view(conv, [n, h, w, ci, mult]) }, { axis: [4], keepDims: false });
    });
  };
}
