// Microbenchmarks of the registered-transpose BatchMatMul path (src/matmul-fix.ts) on wasm.
//   node scripts/bench-matmul-swap.mjs [matmul|grad|all]   (after `npm run build`)
// matmul: x[M,784]·W[784,512] with new weights every call (as a replica sees them), plain vs swapped.
// grad:   a Replica of the seed MLP (784-512-10) on random rows, one grad task per step with new
//         weights every step, swap off/on interleaved in rounds (robust to a shared machine).
import * as tf from '@tensorflow/tfjs';
import { ADAM_DEFAULTS, StateViews, createStateMemory, datasetLayout, stateLayout, tensorView } from '@threadfit/shared';
import { HeapTranspose, Replica, TransposedWeights, setupBackend } from '@threadfit/worker';
import { buildSeedModel, modelSpecOf } from '@threadfit/coordinator';

const what = process.argv[2] ?? 'all';
tf.env().set('PROD', true);
await setupBackend({ backend: 'wasm' });
const median = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];

// Interleaved rounds: every round runs each variant for `n` calls; medians over rounds.
function compare(label, variants, { rounds = 9, n = 20 } = {}) {
  for (const f of Object.values(variants)) for (let i = 0; i < 5; i++) f();
  const res = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of Object.entries(variants)) {
      const t = performance.now();
      for (let i = 0; i < n; i++) f();
      res[k].push((performance.now() - t) / n);
    }
  }
  for (const k of Object.keys(variants))
    console.log(`${label}  ${k.padEnd(34)} median ${median(res[k]).toFixed(3)} ms  (min ${Math.min(...res[k]).toFixed(3)})`);
}

if (what === 'matmul' || what === 'all') {
  const K = 784,
    N = 512;
  const src = Float32Array.from({ length: K * N }, () => Math.random() - 0.5);
  const tw = TransposedWeights.create(tf);
  for (const M of [32, 64, 128, 256]) {
    const x = tf.randomUniform([M, K]);
    const W = tf.variable(tf.tensor2d(src, [K, N]));
    const load = () => {
      const t = tf.tensor2d(src, [K, N]);
      W.assign(t);
      t.dispose();
    };
    compare(`matmul M=${String(M).padEnd(3)}`, {
      'same W (packed once)': () => {
        const r = tf.matMul(x, W);
        r.dataSync();
        r.dispose();
      },
      'new W, plain (repack)': () => {
        load();
        tw.release();
        const r = tf.matMul(x, W);
        r.dataSync();
        r.dispose();
      },
      'new W, W^T registered (swap)': () => {
        load();
        tw.refresh([W]);
        const r = tf.matMul(x, W);
        r.dataSync();
        r.dispose();
      },
    });
    tw.release();
    tf.dispose([x, W]);
  }
  const heap = HeapTranspose.for(tf.backend());
  const w = tf.tensor2d(src, [K, N]);
  compare('transpose 784x512', {
    'SIMD heap transpose': () => heap.dispose(heap.transposed(w)),
    'tfjs wasm Transpose kernel': () => tf.transpose(w).dispose(),
  });
  w.dispose();
}

if (what === 'grad' || what === 'all') {
  const ROWS = 2048;
  const layout = datasetLayout({ train: { count: ROWS, inputs: [{ dtype: 'uint8', shape: [784] }], targets: [{ dtype: 'uint8', shape: [1] }] } });
  const buffer = new SharedArrayBuffer(layout.bytes);
  const xs = tensorView(buffer, layout.splits.train.inputs[0]);
  const ys = tensorView(buffer, layout.splits.train.targets[0]);
  for (let i = 0; i < xs.length; i++) xs[i] = (i * 2654435761) >>> 24;
  for (let i = 0; i < ROWS; i++) ys[i] = i % 10;
  const model = buildSeedModel(tf, { seed: 1, inputSize: 784, hidden: 512, classes: 10 });
  const spec = modelSpecOf(model);
  const state = stateLayout({ paramCount: spec.paramCount, gradSlots: 1, stateSlots: 2, maxBatch: 128 });
  const memory = createStateMemory(state);
  const views = new StateViews(memory.buffer, state);
  model.getWeights().forEach((w, i) => views.params(0).set(w.dataSync(), spec.weights[i].offset));
  const replica = await Replica.create(tf, {
    backend: 'wasm',
    threadsPerWorker: 1,
    stateMemory: memory,
    stateLayout: state,
    dataset: buffer,
    datasetLayout: layout,
    decode: { inputScale: 1 / 255, oneHot: 10 },
    model: spec,
    optimizer: ADAM_DEFAULTS,
    logLevel: 'silent',
    seed: 0,
  });
  // Swap off: the replica's refresh only releases, so nothing is registered and the plain kernel runs.
  let swap = true;
  const refresh = TransposedWeights.prototype.refresh;
  TransposedWeights.prototype.refresh = function (weights) {
    return swap ? refresh.call(this, weights) : this.release();
  };
  let step = 0;
  for (const B of [64, 128]) {
    const grad = () => {
      const start = (step * B) % ROWS;
      for (let i = 0; i < B; i++) views.batchIndices[i] = start + i;
      // A new committed step every call: new weights (new tensor ids), as in training.
      replica.grad({ rank: 0, micro: [{ slot: 0, start: 0, end: B }], step: step++, from: 0 });
    };
    compare(
      `grad task B=${String(B).padEnd(3)}`,
      {
        'swap off (repack W every step)': () => {
          swap = false;
          grad();
        },
        'swap on (W^T registered)': () => {
          swap = true;
          grad();
        },
      },
      { rounds: 11, n: 15 },
    );
  }
  replica.dispose();
}
