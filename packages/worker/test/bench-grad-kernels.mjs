// ms per call of the gradient kernels threadfit adds to wasm, on mnist-node-CNN-sized cases
// (batch 64), against the cpu backend's and TensorFlow's kernels of the same name. One backend
// per process (tfjs-node loads the union and must not share a process with the others):
//   node packages/worker/test/bench-grad-kernels.mjs wasm|cpu|tensorflow [reps] [skip-regex]
// (cpu's Conv2DBackpropFilter on conv2 takes minutes a call: skip it with 'conv2')
// Short on purpose: a few calls after one warm-up, the median printed.
const backend = process.argv[2] ?? 'wasm';
const reps = Number(process.argv[3] ?? 5);
const skip = process.argv[4] === undefined ? undefined : new RegExp(process.argv[4]);
let tf;
if (backend === 'tensorflow') {
  process.env.TF_NUM_INTRAOP_THREADS = '1';
  process.env.TF_NUM_INTEROP_THREADS = '1';
  tf = await import('@tensorflow/tfjs-node');
} else {
  tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  const { installWasmMatMulFix, installWasmGradientKernels } = await import('@threadfit/worker');
  installWasmMatMulFix(tf);
  installWasmGradientKernels(tf);
}
await tf.setBackend(backend);
tf.env().set('PROD', true);
const rand = (shape) => tf.randomUniform(shape, -1, 1, 'float32', 1);
const cases = [
  ['Conv2DBackpropFilter', 'conv1 x[64,28,28,1] 3x3x1x32 valid', () => ({ x: rand([64, 28, 28, 1]), dy: rand([64, 26, 26, 32]) }), { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 32] }],
  ['Conv2DBackpropFilter', 'conv2 x[64,26,26,32] 3x3x32x64 valid', () => ({ x: rand([64, 26, 26, 32]), dy: rand([64, 24, 24, 64]) }), { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 32, 64] }],
  ['DepthwiseConv2dNativeBackpropFilter', 'x[64,26,26,32] 3x3x32x1 same', () => ({ x: rand([64, 26, 26, 32]), dy: rand([64, 26, 26, 32]) }), { strides: [1, 1], dilations: [1, 1], pad: 'same', filterShape: [3, 3, 32, 1] }],
  ['DepthwiseConv2dNativeBackpropInput', 'dy[64,26,26,32] 3x3x32x1 same', () => ({ dy: rand([64, 26, 26, 32]), filter: rand([3, 3, 32, 1]) }), { strides: [1, 1], dilations: [1, 1], pad: 'same', inputShape: [64, 26, 26, 32] }],
  ['MaxPoolGrad', 'x[64,24,24,64] pool 2x2', () => { const input = rand([64, 24, 24, 64]); return { dy: rand([64, 12, 12, 64]), input, output: tf.maxPool(input, 2, 2, 'valid') }; }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }],
  ['UnsortedSegmentSum', 'Embedding grad [1280,32] -> 1000 rows', () => ({ x: rand([1280, 32]), segmentIds: tf.tensor1d(Array.from({ length: 1280 }, (_, i) => (i * 7919) % 1000), 'int32') }), { numSegments: 1000 }],
]; // prettier-ignore
for (const [kernel, label, make, attrs] of cases) {
  if (skip?.test(label)) continue;
  const inputs = make();
  const once = () => {
    const t0 = performance.now();
    const out = tf.engine().runKernel(kernel, inputs, attrs);
    out.dataSync();
    const ms = performance.now() - t0;
    out.dispose();
    return ms;
  };
  once();
  const times = Array.from({ length: kernel === 'Conv2DBackpropFilter' && backend === 'cpu' ? Math.min(reps, 2) : reps }, once).sort((a, b) => a - b);
  console.log(`${backend.padEnd(10)} ${kernel.padEnd(36)} ${label.padEnd(40)} ${times[Math.floor(times.length / 2)].toFixed(2)} ms`);
  tf.dispose(Object.values(inputs));
}
