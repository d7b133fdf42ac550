/**
 * threadfit's wasm gradient kernels (wasm-grad-kernels.ts) against the cpu backend's kernels of
 * the same name, on random shapes, strides, dilations and paddings (float32: |wasm - cpu| <=
 * 1e-5 + 1e-4·|cpu|), with nothing left on the wasm heap.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmGradientKernels, installWasmMatMulFix, isWasmGradientKernelInstalled, WASM_GRADIENT_KERNELS } from '@threadfit/worker';

type Input = { values: Float32Array | Int32Array; shape: number[] };

/** mulberry32: the same cases on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(18);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: T[]): T => xs[int(0, xs.length - 1)];
const normal = (shape: number[]): Input => ({ values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1), shape });

async function runOn(backend: string, kernel: string, inputs: Record<string, Input>, attrs: Record<string, unknown>) {
  await tf.setBackend(backend);
  const ts = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? 'int32' : 'float32')]),
  );
  const dataIds = tf.engine().backend.numDataIds();
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const r = { shape: out.shape, values: out.dataSync() as Float32Array };
  tf.dispose([out, ...Object.values(ts)]);
  // Every intermediate the kernel made is freed: the result is the one new buffer.
  return { ...r, leaked: tf.engine().backend.numDataIds() - (dataIds - Object.keys(ts).length) };
}

const maxDiffs: Record<string, number> = {};
async function compare(
  kernel: string,
  inputs: Record<string, Input>,
  attrs: Record<string, unknown>,
  reference?: () => Promise<{ shape: number[]; values: Float32Array }>,
): Promise<void> {
  const want = reference === undefined ? await runOn('cpu', kernel, inputs, attrs) : await reference();
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(got.shape).toEqual(want.shape);
  expect(got.leaked).toBe(0);
  let max = 0;
  for (let i = 0; i < want.values.length; i++) {
    const d = Math.abs(got.values[i] - want.values[i]);
    max = Math.max(max, d);
    if (!(d <= 1e-5 + 1e-4 * Math.abs(want.values[i]))) {
      expect.fail(`${kernel} ${JSON.stringify(attrs)} element ${i}: wasm ${got.values[i]}, cpu ${want.values[i]}`);
    }
  }
  maxDiffs[kernel] = Math.max(maxDiffs[kernel] ?? 0, max);
}

/** A conv case whose output is at least 1x1: x [N,H,W,Ci], filter [fh,fw,Ci,Co|M]. */
function convCase(depthwise: boolean) {
  for (;;) {
    const n = int(1, 3);
    const [h, w, ci, co, fh, fw] = [int(3, 10), int(3, 10), int(1, 4), int(1, 3), int(1, 4), int(1, 4)];
    const stride = pick([1, 1, 2, 3]);
    const strides: [number, number] = [stride, pick([1, stride])];
    // tfjs refuses a stride and a dilation both above 1; Conv2DBackpropFilter has no dilations.
    const dilations: [number, number] = depthwise && stride === 1 ? [pick([1, 2]), pick([1, 2])] : [1, 1];
    const pad = pick(['same', 'valid'] as const);
    const filterShape: [number, number, number, number] = [fh, fw, ci, co];
    const info = tf.backend_util.computeConv2DInfo([n, h, w, ci], filterShape, strides, dilations, pad, undefined, depthwise);
    if (info.outHeight < 1 || info.outWidth < 1) continue;
    return { n, h, w, ci, filterShape, strides, dilations, pad, dyShape: info.outShape };
  }
}

/**
 * The cpu kernels ignore dilations (tfjs's depthwise gradient refuses them before any kernel), so a
 * dilated case is compared with the undilated cpu kernel on the zero-stuffed filter of the
 * effective size: the same convolution, and the same padding ('same' pads by the effective size).
 */
const stuffedShape = (f: [number, number, number, number], d: [number, number]): [number, number, number, number] => [
  (f[0] - 1) * d[0] + 1,
  (f[1] - 1) * d[1] + 1,
  f[2],
  f[3],
];
function stuffFilter(f: Input, d: [number, number]): Input {
  const [fh, fw, c, m] = f.shape;
  const shape = stuffedShape([fh, fw, c, m], d);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++) for (let k = 0; k < c * m; k++) values[(i * d[0] * shape[1] + j * d[1]) * c * m + k] = f.values[(i * fw + j) * c * m + k];
  return { values, shape };
}
async function dilatedFilterGrad(
  x: Input,
  dy: Input,
  attrs: { filterShape: [number, number, number, number]; dilations: [number, number] } & Record<string, unknown>,
) {
  const { filterShape: f, dilations: d } = attrs;
  const full = await runOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, dilations: [1, 1], filterShape: stuffedShape(f, d) });
  const big = stuffedShape(f, d);
  const values = new Float32Array(f.reduce((a, b) => a * b, 1));
  for (let i = 0; i < f[0]; i++)
    for (let j = 0; j < f[1]; j++)
      for (let k = 0; k < f[2] * f[3]; k++) values[(i * f[1] + j) * f[2] * f[3] + k] = full.values[(i * d[0] * big[1] + j * d[1]) * f[2] * f[3] + k];
  return { shape: [...f], values };
}

beforeAll(async () => {
  tf.env().set('PROD', true);
  installWasmMatMulFix(tf);
  expect(installWasmGradientKernels(tf)).toEqual(WASM_GRADIENT_KERNELS);
  expect(installWasmGradientKernels(tf)).toEqual([]); // idempotent
  await tf.setBackend('wasm');
});

describe('wasm gradient kernels equal the cpu backend kernels', () => {
  it('registers each for wasm', () => {
    for (const k of WASM_GRADIENT_KERNELS) expect(isWasmGradientKernelInstalled(tf, k)).toBe(true);
  });

  it('Conv2DBackpropFilter: 40 random shapes, strides 1-3, same/valid', async () => {
    for (let c = 0; c < 40; c++) {
      const k = convCase(false);
      await compare(
        'Conv2DBackpropFilter',
        { x: normal([k.n, k.h, k.w, k.ci]), dy: normal(k.dyShape) },
        { strides: k.strides, pad: k.pad, dataFormat: 'NHWC', filterShape: k.filterShape },
      );
    }
  });

  it('Conv2DBackpropInput (replacing the stock one): 40 random shapes, strides 1-3, same/valid', async () => {
    for (let c = 0; c < 40; c++) {
      const k = convCase(false);
      await compare(
        'Conv2DBackpropInput',
        { dy: normal(k.dyShape), filter: normal(k.filterShape) },
        { strides: k.strides, pad: k.pad, dataFormat: 'NHWC', inputShape: [k.n, k.h, k.w, k.ci] },
      );
    }
  });

  it('DepthwiseConv2dNativeBackpropFilter: 40 random shapes, strides 1-3, dilations 1-2, same/valid', async () => {
    for (let c = 0; c < 40; c++) {
      const k = convCase(true);
      const [x, dy] = [normal([k.n, k.h, k.w, k.ci]), normal(k.dyShape)];
      const attrs = { strides: k.strides, dilations: k.dilations, pad: k.pad, filterShape: k.filterShape };
      const dilated = k.dilations.some((d) => d > 1);
      await compare('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs, dilated ? () => dilatedFilterGrad(x, dy, attrs) : undefined);
    }
  });

  it('DepthwiseConv2dNativeBackpropInput: 40 random shapes, strides 1-3, dilations 1-2, same/valid', async () => {
    for (let c = 0; c < 40; c++) {
      const k = convCase(true);
      const [dy, filter] = [normal(k.dyShape), normal(k.filterShape)];
      const attrs = { strides: k.strides, dilations: k.dilations, pad: k.pad, inputShape: [k.n, k.h, k.w, k.ci] };
      const dilated = k.dilations.some((d) => d > 1);
      const reference = async () =>
        runOn('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy, filter: stuffFilter(filter, k.dilations) }, { ...attrs, dilations: [1, 1] });
      await compare('DepthwiseConv2dNativeBackpropInput', { dy, filter }, attrs, dilated ? reference : undefined);
    }
  });

  it('UnsortedSegmentSum: duplicate ids summed, ids outside [0, numSegments) dropped', async () => {
    for (let c = 0; c < 20; c++) {
      const [count, width, segments] = [int(1, 30), int(1, 5), int(1, 8)];
      const ids = Int32Array.from({ length: count }, () => (c % 2 === 0 ? int(0, segments - 1) : int(-2, segments + 1)));
      await compare('UnsortedSegmentSum', { x: normal([count, width]), segmentIds: { values: ids, shape: [count] } }, { numSegments: segments });
    }
  });

  it('MaxPoolGrad (replacing the stock one): 40 random shapes, square and [p,1] windows, strides 1-3, same/valid', async () => {
    for (let c = 0; c < 40; c++) {
      const [n, h, w, ch] = [int(1, 3), int(2, 9), int(1, 9), int(1, 4)];
      const filterSize: [number, number] = [int(1, Math.min(3, h)), c % 2 === 0 ? 1 : int(1, Math.min(3, w))];
      const strides: [number, number] = [int(1, 3), int(1, 3)];
      const pad = pick(['same', 'valid'] as const);
      const info = tf.backend_util.computePool2DInfo([n, h, w, ch], filterSize, strides, 1, pad);
      if (info.outHeight < 1 || info.outWidth < 1) continue;
      const x = normal([n, h, w, ch]);
      await tf.setBackend('cpu');
      const output = tf.tidy(() => tf.maxPool(tf.tensor4d(x.values, x.shape as [number, number, number, number]), filterSize, strides, pad));
      const out = { values: output.dataSync() as Float32Array, shape: output.shape };
      output.dispose();
      await compare('MaxPoolGrad', { dy: normal(info.outShape), input: x, output: out }, { filterSize, strides, pad });
    }
  });

  it('refuses channelsFirst (NCHW) by name', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 1, 4, 4]);
    const dy = tf.zeros([1, 1, 2, 2]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'valid', dataFormat: 'NCHW', filterShape: [3, 3, 1, 1] }),
    ).toThrow(/Conv2DBackpropFilter supports dataFormat 'NHWC' only, got 'NCHW'/);
    tf.dispose([x, dy]);
  });

  it('max abs diffs', () => {
    console.log('max |wasm - cpu|:', JSON.stringify(maxDiffs));
    expect(Object.keys(maxDiffs)).toHaveLength(6);
  });
});
