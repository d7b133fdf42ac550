#!/usr/bin/env node
/**
 * How much a step loop that never waits for the main thread could gain, measured against the
 * trainer: NOT a product feature, a measurement that guides the next design step (issue 5,
 * docs/PERFORMANCE.md "What limits scaling").
 *
 * - `trainer`: Trainer.trainStep in a loop (one piscina round trip per step, the main thread
 *   commits), exactly what `threadfit bench` times.
 * - `worker-loop`: the same Replica + ChunkUpdater on the same shared state, but W plain worker
 *   threads drive the steps themselves through Atomics: gather -> grad -> barrier -> update of
 *   their chunk -> barrier, the last one in flips COMMITTED -> next step. No fault handling, no
 *   results back to the main thread: an upper bound of what moving the commit into the workers
 *   and queueing the next step could give.
 *
 * Each configuration runs in its own process, alternating, `--pairs` times (wasm, seed MLP,
 * global batch 128, 20 warm-up + 300 timed steps).
 *
 *   npm run build && node scripts/bench-worker-loop.mjs [--workers 2] [--pairs 3]
 */
import { spawnSync } from 'node:child_process';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const BATCH = 128;
const WARMUP = 20;
const STEPS = 300;

async function loadCommon() {
  const tf = await import('@tensorflow/tfjs');
  const coordinator = await import('@threadfit/coordinator');
  const shared = await import('@threadfit/shared');
  await coordinator.coordinatorTf();
  const data = coordinator.shareImageDataset(coordinator.loadImageDataset());
  const model = coordinator.buildSeedModel(tf, { seed: 1 });
  const spec = coordinator.modelSpecOf(model);
  const initial = model.getWeights().map((w) => w.dataSync());
  const order = shared.epochPermutation(data.trainCount, 1, 0);
  return { coordinator, shared, data, spec, initial, order };
}

/** The trainer's loop: samples/s over the timed steps. */
async function runTrainer(workers) {
  const { coordinator, shared, data, spec, initial, order } = await loadCommon();
  const t = await coordinator.Trainer.create({
    workers,
    backend: 'wasm',
    model: spec,
    initialWeights: initial,
    dataset: data,
    maxBatch: BATCH,
    optimizer: shared.ADAM_DEFAULTS,
  });
  let t0 = 0;
  for (let s = 0; s < WARMUP + STEPS; s++) {
    if (s === WARMUP) t0 = performance.now();
    await t.trainStep(order.subarray(s * BATCH, (s + 1) * BATCH));
  }
  const ms = (performance.now() - t0) / STEPS;
  await t.close();
  return (BATCH * 1000) / ms;
}

/** The worker-driven prototype: samples/s over the timed steps. */
async function runWorkerLoop(workers) {
  const { shared, data, spec, initial, order } = await loadCommon();
  const layout = shared.stateLayout({ paramCount: spec.paramCount, gradSlots: workers, stateSlots: 2, maxBatch: BATCH });
  const memory = shared.createStateMemory(layout);
  const views = new shared.StateViews(memory.buffer, layout);
  for (const b of [0, 1]) initial.forEach((w, i) => views.params(b).set(w, spec.weights[i].offset));
  for (let i = 0; i < workers; i++) views.rankWeights[i] = 1 / workers;
  const indices = new Int32Array(new SharedArrayBuffer(4 * (WARMUP + STEPS) * BATCH));
  indices.set(order.subarray(0, indices.length));
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  const threads = Array.from(
    { length: workers },
    (_, rank) =>
      new Worker(fileURLToPath(import.meta.url), {
        workerData: { rank, workers, memory, layout, data: { buffer: data.buffer, layout: data.layout, decode: data.decode }, spec, barrier, indices },
        resourceLimits: { maxYoungGenerationSizeMb: 2 },
      }),
  );
  const ms = await Promise.all(threads.map((w) => new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))));
  await Promise.all(threads.map((w) => w.terminate()));
  return (BATCH * 1000) / Math.max(...ms);
}

async function workerLoopThread() {
  const { rank, workers, memory, layout, data, spec, barrier, indices } = workerData;
  const { setupBackend, Replica, ChunkUpdater } = await import('@threadfit/worker');
  const { StateViews, ADAM_DEFAULTS, Control } = await import('@threadfit/shared');
  const tf = await setupBackend({ backend: 'wasm' });
  const views = new StateViews(memory.buffer, layout);
  const init = {
    backend: 'wasm',
    threadsPerWorker: 1,
    stateMemory: memory,
    stateLayout: layout,
    dataset: data.buffer,
    datasetLayout: data.layout,
    decode: data.decode,
    model: spec,
    optimizer: ADAM_DEFAULTS,
    seed: 0,
  };
  const replica = await Replica.create(tf, init);
  const updater = new ChunkUpdater(memory, layout, ADAM_DEFAULTS);
  // A sense-reversing barrier: word 0 counts arrivals, word 1 is the generation. True for the last in.
  const meet = () => {
    const gen = Atomics.load(barrier, 1);
    if (Atomics.add(barrier, 0, 1) + 1 === workers) {
      Atomics.store(barrier, 0, 0);
      Atomics.add(barrier, 1, 1);
      Atomics.notify(barrier, 1);
      return true;
    }
    while (Atomics.load(barrier, 1) === gen) Atomics.wait(barrier, 1, gen, 50);
    return false;
  };
  const per = BATCH / workers;
  const start = rank * per;
  const end = rank === workers - 1 ? BATCH : start + per;
  meet();
  let t0 = 0;
  for (let s = 0; s < WARMUP + STEPS; s++) {
    if (s === WARMUP) t0 = performance.now();
    const from = views.committed;
    for (let i = start; i < end; i++) views.batchIndices[i] = indices[s * BATCH + i];
    replica.grad({ type: 'grad', rank, micro: [{ slot: rank, start, end }], step: s, from });
    meet();
    updater.update({ type: 'update', chunk: rank, chunks: workers, slots: workers, from, step: s + 1 });
    if (meet()) Atomics.store(views.control, Control.COMMITTED, 1 - from);
    meet(); // everyone sees the flip before reading `committed`
  }
  parentPort.postMessage((performance.now() - t0) / STEPS);
}

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);

if (!isMainThread) {
  await workerLoopThread();
} else if (args[0] === '--child') {
  const workers = Number(args[2]);
  const rate = args[1] === 'trainer' ? await runTrainer(workers) : await runWorkerLoop(workers);
  process.stdout.write(`${JSON.stringify({ samplesPerSec: Math.round(rate) })}\n`);
} else {
  const workers = opt('--workers', 2);
  const pairs = opt('--pairs', 3);
  const self = fileURLToPath(import.meta.url);
  const run = (mode) => {
    const r = spawnSync(process.execPath, [self, '--child', mode, String(workers)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()).samplesPerSec;
  };
  console.log(`wasm, seed MLP, ${workers} workers, global batch ${BATCH}, ${WARMUP} warm-up + ${STEPS} timed steps, alternating`);
  const rows = [];
  for (let p = 1; p <= pairs; p++) {
    const trainer = run('trainer');
    const loop = run('worker-loop');
    rows.push({ pair: p, trainer, workerLoop: loop, ratio: +(loop / trainer).toFixed(2) });
    console.log(
      `pair ${p}: trainer ${trainer.toLocaleString('en-US')} samples/s, worker loop ${loop.toLocaleString('en-US')} (${(loop / trainer).toFixed(2)}x)`,
    );
  }
  const mean = rows.reduce((a, r) => a + r.ratio, 0) / rows.length;
  console.log(`mean ratio ${mean.toFixed(2)}x`);
}
