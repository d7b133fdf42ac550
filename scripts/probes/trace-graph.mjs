// Probe for issue 20's second route (not part of the product): record tfjs-node's kernel calls
// (binding.executeOp, binding.createTensor) for one training step of a tfjs-examples model, build
// one TF graph from the record (trace-graph/src/trace_graph.cc), replay it on new inputs, and
// compare its gradients and its time with the eager step's. The product does this in
// packages/worker/src/traced-step.ts; this probe measures it alone, for any zoo model.
//
//   node scripts/probes/trace-graph.mjs [model] [rows]     (default: sentiment-lstm 64; needs
//                                                          npm run setup:tensorflow)
//
// Every tensor a step uses is: an input (x, y: placeholders), a weight (placeholders, fed from
// the variables), made by a recorded kernel, or made from JS values during the step (a constant
// of the graph). A step whose JS-made values change from one step to the next (dropout's masks)
// cannot be one fixed graph: the probe records two steps and says so.
process.env.TF_NUM_INTRAOP_THREADS ??= '1';
process.env.TF_NUM_INTEROP_THREADS ??= '1';
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const require = createRequire(join(ROOT, 'package.json'));
// The product's builder (packages/worker/native/src/traced_graph.cc, in the graph_step addon that
// npm run setup:tensorflow builds).
const ADDON = join(ROOT, 'packages', 'worker', 'native', 'build', 'Release', 'graph_step.node');
if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run npm run setup:tensorflow`);
const addon = require(ADDON);
const graph = { build: addon.buildTracedGraph, run: addon.runTracedGraph };
const tf = await import('@tensorflow/tfjs-node');
const { buildZooModel } = await import(join(ROOT, 'packages/coordinator/dist/zoo/models.js'));
const { zooData } = await import(join(ROOT, 'packages/coordinator/dist/zoo/data.js'));

const [name = 'sentiment-lstm', rowsArg = '64'] = process.argv.slice(2);
const n = Number(rowsArg);
const model = buildZooModel(tf, name, 'full');
const lossName =
  model.loss ?? (name.startsWith('sentiment') ? 'binaryCrossentropy' : name.startsWith('jena') ? 'meanAbsoluteError' : 'categoricalCrossentropy');
const lossFn =
  tf.losses[
    { binaryCrossentropy: 'sigmoidCrossEntropy', meanAbsoluteError: 'absoluteDifference', categoricalCrossentropy: 'softmaxCrossEntropy' }[lossName] ??
      'meanSquaredError'
  ];
const data = (seed) => {
  const d = zooData(tf, name, n, 'full', seed);
  return { x: Array.isArray(d.x) ? d.x[0] : d.x, y: Array.isArray(d.y) ? d.y[0] : d.y };
};
const vars = model.trainableWeights.map((w) => w.val);
const stepOn = ({ x, y }) => tf.variableGrads(() => lossFn(y, model.apply(x, { training: true })), vars);

// ---- recording -------------------------------------------------------------------------------
const backend = tf.backend();
const real = backend.binding;
const rec = Object.create(real);
backend.binding = rec;
let trace;
Object.defineProperty(rec, 'createTensor', {
  value: (shape, dtype, values) => {
    const id = real.createTensor(shape, dtype, values);
    trace?.made.set(id, { shape: [...shape], dtype, data: values.slice() });
    return id;
  },
});
Object.defineProperty(rec, 'executeOp', {
  value: (op, attrs, inputs, nOut) => {
    const out = real.executeOp(op, attrs, inputs, nOut);
    trace?.ops.push({ name: op, attrs: attrs.map((a) => ({ ...a })), inputs: [...inputs], outputs: out.map((o) => o.id) });
    return out;
  },
});
const idOf = (t) => backend.getInputTensorIds([t])[0];

function record(batch) {
  // Inputs and weights get their TF handles before the step, so that they are not recorded as
  // JS-made constants.
  const inputs = [idOf(batch.x), idOf(batch.y), ...vars.map(idOf)];
  trace = { ops: [], made: new Map() };
  const t0 = performance.now();
  const { value, grads } = stepOn(batch);
  const outs = vars.map((v) => grads[v.name]);
  const eagerMs = performance.now() - t0;
  const fetches = outs.map(idOf);
  const r = { ...trace, inputs, fetches, eager: outs.map((g) => g.dataSync().slice()), eagerMs };
  trace = undefined;
  tf.dispose([value, ...outs]);
  return r;
}

const a = record(data(1));
const b = record(data(2));
const sameOps = a.ops.length === b.ops.length && a.ops.every((o, i) => o.name === b.ops[i].name);
const made = [...a.made.values()];
const madeB = [...b.made.values()];
const changing = made.filter(
  (m, i) => madeB[i] === undefined || m.data.length !== madeB[i].data.length || m.data.some((v, j) => v !== madeB[i].data[j]),
).length;
console.log(
  `${name}, ${n} rows: ${a.ops.length} kernels, ${a.made.size} JS-made tensors per step; the same kernels in two steps: ${sameOps}; JS-made values that changed: ${changing}`,
);

// ---- the graph ---------------------------------------------------------------------------------
const external = new Set();
const produced = new Set(a.inputs);
for (const id of a.made.keys()) produced.add(id);
for (const o of a.ops) {
  for (const i of o.inputs) if (!produced.has(i)) external.add(i);
  for (const id of o.outputs) produced.add(id);
}
// Tensors made before the step and used by it (tfjs's cached scalars, ...): constants too.
const consts = [...a.made].map(([id, m]) => ({ id, dtype: m.dtype, shape: m.shape, data: m.data }));
for (const id of external) {
  const t = [...backend.tensorMap.values()].find((e) => e.id === id);
  if (t === undefined) throw new Error(`tensor ${id} is used by the step but neither made in it nor known`);
  consts.push({ id, dtype: t.dtype, shape: t.shape, data: real.tensorDataSync(id) });
}
const tfType = (t) => ({ float32: real.TF_FLOAT, int32: real.TF_INT32, bool: real.TF_BOOL })[t.dtype];
const feedsOf = (batch) => [batch.x, batch.y, ...vars].map((t) => t.dataSync());
const placeholders = [data(1).x, data(1).y, ...vars].map((t, i) => ({ id: a.inputs[i], dtype: tfType(t), shape: t.shape }));
let t0 = performance.now();
const g = graph.build({ ops: a.ops, consts, placeholders, fetches: a.fetches });
console.log(`graph built in ${(performance.now() - t0).toFixed(0)} ms (${consts.length} constants)`);

// Replay step 2's batch: the gradients must be the eager step's.
const batch2 = data(2);
t0 = performance.now();
const replay = graph.run(g, feedsOf(batch2));
console.log(`first run (TF instantiates the kernels): ${(performance.now() - t0).toFixed(0)} ms`);
let worst = 0;
replay.forEach((r, i) => {
  const e = b.eager[i];
  let d = 0;
  let s = 1e-12;
  for (let j = 0; j < e.length; j++) {
    d = Math.max(d, Math.abs(r[j] - e[j]));
    s = Math.max(s, Math.abs(e[j]));
  }
  worst = Math.max(worst, d / s);
});
console.log(
  `replayed on another batch: gradients within ${worst.toExponential(2)} (max |diff| / max |g|, over ${replay.length} variables) of the eager step's`,
);

// ---- time --------------------------------------------------------------------------------------
const reps = 10;
for (let i = 0; i < 2; i++) tf.dispose(Object.values(stepOn(batch2).grads));
t0 = performance.now();
for (let i = 0; i < reps; i++) {
  const { value, grads } = stepOn(batch2);
  for (const v of vars) grads[v.name].dataSync();
  tf.dispose([value, ...Object.values(grads)]);
}
const eagerMs = (performance.now() - t0) / reps;
const feeds = feedsOf(batch2);
for (let i = 0; i < 2; i++) graph.run(g, feeds);
t0 = performance.now();
for (let i = 0; i < reps * 5; i++) graph.run(g, feeds);
const graphMs = (performance.now() - t0) / (reps * 5);
console.log(
  `per ${n}-row step, one thread: eager (tfjs-node, tape) ${eagerMs.toFixed(1)} ms; the traced graph ${graphMs.toFixed(1)} ms (${(eagerMs / graphMs).toFixed(1)}x)`,
);
