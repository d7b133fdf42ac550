/**
 * One configuration of `threadfit bench --model NAME` (a zoo model, zoo/): stock `model.fit` in
 * this thread, or parallelFit in worker threads, on the model's data, timed as a user sees it.
 * Each repeat is one whole call from a fresh model (zoo-bench.ts runs each in a fresh process):
 * the call's wall time (worker start-up included), its start-up (parallelFit: from the call to
 * onTrainBegin, when the workers are up; stock fit has none to speak of) and the training rate
 * after it. Runs in a child process (child.ts), so the backend set-up and the peak RSS are this
 * configuration's alone.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import type { BackendName, NativeStepKind } from '@threadfit/shared';
import { coordinatorTf } from '../cli/train.js';
import { parallelFitRun } from '../fit/parallel-fit.js';
import { DEFAULT_STEPS_PER_EXECUTION } from '../options/train-options.js';
import { buildSeededZooModel, zooData } from '../zoo/index.js';
import { median, peakRssMb } from './measure.js';
import { stockBackend } from './stock-fit.js';
import type { Measurement, ZooRun } from './protocol.js';

type Tf = typeof tfTypes;

/** What a single-thread user runs: the backend as tfjs sets it up, plus (stock-fixed) threadfit's exported wasm kernels. */
async function stockTf(backend: BackendName, fixed: boolean): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs');
  tf.env().set('PROD', true);
  await stockBackend(tf, backend, fixed, fixed);
  return tf;
}

export async function runZoo(cfg: ZooRun, progress: (text: string) => void): Promise<Measurement> {
  const threadfit = cfg.mode === 'threadfit';
  const tf = threadfit ? await coordinatorTf() : await stockTf(cfg.backend, cfg.mode === 'stock-fixed');
  const { x, y } = zooData(tf, cfg.model, cfg.samples, 'full', cfg.seed);
  const totals: number[] = [];
  const startups: number[] = [];
  const rates: number[] = [];
  let gradPath: string | undefined;
  let nativeKind: NativeStepKind | undefined;
  let notices: string[] | undefined;
  const samples = cfg.samples * cfg.epochs;
  try {
    for (let r = 0; r < cfg.repeats; r++) {
      const model = buildSeededZooModel(tf, cfg.model, cfg.seed);
      let began = 0;
      let ended = 0;
      const timing = { onTrainBegin: async () => void (began = performance.now()), onTrainEnd: async () => void (ended = performance.now()) };
      const args = { epochs: cfg.epochs, batchSize: cfg.batchSize, verbose: 0 as const, callbacks: [timing] };
      const t0 = performance.now();
      if (threadfit) {
        // The timing callbacks are train-level, so 'auto' would run executions too; asked for
        // explicitly, so that the bench's cadence does not depend on that rule.
        const r = await parallelFitRun(model, x, y, {
          ...args,
          workers: cfg.workers,
          backend: cfg.backend,
          seed: cfg.seed,
          stepsPerExecution: DEFAULT_STEPS_PER_EXECUTION,
        });
        gradPath = r.gradPath;
        nativeKind = r.nativeKind;
        notices = [...r.notices];
      } else {
        await model.fit(x, y, args);
      }
      const t1 = performance.now();
      model.dispose();
      totals.push(t1 - t0);
      startups.push(threadfit ? began - t0 : 0);
      rates.push(samples / ((ended - began) / 1000));
      progress(`repeat ${r + 1}/${cfg.repeats}: ${((t1 - t0) / 1000).toFixed(2)} s (start-up ${((began - t0) / 1000).toFixed(2)} s)`);
    }
  } finally {
    tf.dispose([...(Array.isArray(x) ? x : [x]), ...(Array.isArray(y) ? y : [y])]);
  }
  return {
    samplesPerSec: median(rates),
    stepMs: null,
    peakRssMb: peakRssMb(),
    repeatSamplesPerSec: rates,
    totalMs: median(totals),
    startupMs: median(startups),
    ...(gradPath !== undefined && { gradPath }),
    ...(nativeKind !== undefined && { nativeKind }),
    ...(notices !== undefined && { notices }),
  };
}
