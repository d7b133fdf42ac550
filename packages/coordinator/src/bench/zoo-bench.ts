/**
 * `threadfit bench --model NAME`: a model of tfjs-examples (zoo/) as its user would train it, in
 * one run on one machine: per backend, stock `model.fit` in one thread (on wasm also with
 * threadfit's exported kernels, without which conv nets and embeddings cannot train there), then
 * parallelFit at each worker count. Each repeat is one whole call from a fresh model in a fresh
 * child process (runner.ts), as a user's first call: medians over the repeats. Reported apart: the call's wall time (worker
 * start-up included, what a user waits for), the start-up, and the training rate after it.
 */
import type { NativeStepKind } from '@threadfit/shared';
import { gradientsKind, writeJsonAtomic } from '../cli/report.js';
import { checkWritableFile } from '../cli/train.js';
import { ZOO_TRAINING } from '../zoo/data.js';
import type { ZooModelName } from '../zoo/models.js';
import { checkBackendAvailable, type CommandIO } from './bench.js';
import { describeMachine, machineInfo, type MachineInfo } from './machine.js';
import type { ResolvedBenchOptions } from './options.js';
import { median } from './measure.js';
import { RunKinds, type Measurement, type ZooRun } from './protocol.js';
import { measureInChild } from './runner.js';
import { fixed, formatTable, int, round, type Column } from './table.js';

export interface ZooBenchResult {
  model: ZooModelName;
  /** 'tfjs-fit', 'tfjs-fit-fixed' (wasm, with installWasmMatMulFix + installWasmGradientKernels) or 'parallelFit'. */
  name: 'tfjs-fit' | 'tfjs-fit-fixed' | 'parallelFit';
  backend: string;
  workers: number;
  batchSize: number;
  epochs: number;
  samples: number;
  /** Median wall time of the whole call, s; null when the configuration failed. */
  totalSeconds: number | null;
  /** Median start-up (parallelFit: the call to onTrainBegin), s. */
  startupSeconds: number | null;
  /** Training samples/s after start-up (onTrainBegin to onTrainEnd). */
  samplesPerSec: number | null;
  peakRssMb: number | null;
  /** parallelFit: how the replicas computed gradients, as the seed bench and the train report say it. */
  gradients?: 'dense' | 'native' | 'tape';
  /** parallelFit: the same with the tape's reason ('tape (why)'). */
  gradPath?: string;
  /** parallelFit on the native step: its kernels, as the seed bench's nativeKernels. */
  nativeKernels?: NativeStepKind;
  /** parallelFit: the workers' notices (which row counts ran as a traced TensorFlow graph, or why not). */
  notices?: string[];
  /** Why the configuration failed (stock fit on wasm without the kernels, for conv nets). */
  error?: string;
}

export interface ZooBenchReport {
  machine: MachineInfo;
  model: ZooModelName;
  results: ZooBenchResult[];
}

function plan(o: ResolvedBenchOptions & { model: ZooModelName }): ZooRun[] {
  const t = ZOO_TRAINING[o.model];
  const work = {
    kind: RunKinds.ZOO,
    model: o.model,
    batchSize: o.batchSizeGiven ? o.batchSize : t.batchSize,
    epochs: o.epochs ?? t.bench.epochs,
    samples: o.samples ?? t.bench.samples,
    repeats: o.repeats,
    seed: o.seed,
  };
  const runs: ZooRun[] = [];
  for (const backend of o.backends) {
    runs.push({ ...work, backend, mode: 'stock', workers: 1 });
    if (backend === 'wasm') runs.push({ ...work, backend, mode: 'stock-fixed', workers: 1 });
    for (const workers of o.workers) runs.push({ ...work, backend, mode: 'threadfit', workers });
  }
  return runs;
}

const nameOf = (r: ZooRun): ZooBenchResult['name'] => (r.mode === 'threadfit' ? 'parallelFit' : r.mode === 'stock' ? 'tfjs-fit' : 'tfjs-fit-fixed');

export async function runZooBench(o: ResolvedBenchOptions & { model: ZooModelName }, io: CommandIO): Promise<ZooBenchReport> {
  if (o.json !== undefined) checkWritableFile(o.json, '--json');
  checkBackendAvailable(o);
  const machine = machineInfo();
  const runs = plan(o);
  const w = runs[0];
  io.err.write(
    `threadfit bench --model ${o.model}: ${runs.length} configurations on ${describeMachine(machine)}; ${o.repeats} repeat${o.repeats === 1 ? '' : 's'} of ${w.epochs} epoch${w.epochs === 1 ? '' : 's'} x ${w.samples} samples, batch ${w.batchSize}\n`,
  );
  const results: ZooBenchResult[] = [];
  for (const [i, run] of runs.entries()) {
    const tag = `[bench ${i + 1}/${runs.length}] ${nameOf(run)} (${run.backend}, ${run.workers} ${run.mode === 'threadfit' ? 'worker' : 'thread'}${run.workers === 1 ? '' : 's'})`;
    io.err.write(`${tag}: starting\n`);
    const base = {
      model: o.model,
      name: nameOf(run),
      backend: run.backend,
      workers: run.workers,
      batchSize: run.batchSize,
      epochs: run.epochs,
      samples: run.samples,
    };
    try {
      // One child process per repeat: each call is a user's first in a fresh process (stock fit's
      // first call pays its own warm-up, as parallelFit's workers pay theirs), not a warm rerun.
      const repeats: Measurement[] = [];
      for (let r = 0; r < run.repeats; r++) {
        repeats.push(
          await measureInChild({ ...run, repeats: 1 }, (text) => io.err.write(`${tag}: ${text.replace(/^repeat 1\/1/, `repeat ${r + 1}/${run.repeats}`)}\n`)),
        );
      }
      const totalMs = median(repeats.map((m) => m.totalMs!));
      const rate = median(repeats.map((m) => m.samplesPerSec));
      results.push({
        ...base,
        totalSeconds: round(totalMs / 1000, 3),
        startupSeconds: round(median(repeats.map((m) => m.startupMs!)) / 1000, 3),
        samplesPerSec: Math.round(rate),
        peakRssMb: round(Math.max(...repeats.map((m) => m.peakRssMb)), 1),
        ...(repeats[0].gradPath !== undefined && { gradients: gradientsKind(repeats[0].gradPath), gradPath: repeats[0].gradPath }),
        ...(repeats[0].nativeKind !== undefined && { nativeKernels: repeats[0].nativeKind }),
        ...(repeats[0].notices !== undefined && { notices: repeats[0].notices }),
      });
      io.err.write(`${tag}: ${fixed(totalMs / 1000, 2)} s, ${int(rate)} samples/s after start-up\n`);
    } catch (err) {
      // Stock fit on wasm cannot train a conv net (no Conv2DBackpropFilter there): a row that says so.
      const error = (err as Error).message.split('\n')[0];
      results.push({ ...base, totalSeconds: null, startupSeconds: null, samplesPerSec: null, peakRssMb: null, error });
      io.err.write(`${tag}: failed: ${error}\n`);
    }
  }
  const report: ZooBenchReport = { machine, model: o.model, results };
  io.out.write(formatZooBench(report));
  if (o.json !== undefined) {
    writeJsonAtomic(o.json, report);
    io.out.write(`Results written to ${o.json}\n`);
  }
  return report;
}

export function formatZooBench(report: ZooBenchReport): string {
  const { results } = report;
  // Each row against stock model.fit on its own backend (the whole call, and the rate after
  // start-up); where plain stock fit cannot train the model (a conv net on wasm), against stock
  // fit with threadfit's exported kernels.
  const stock = (r: ZooBenchResult) =>
    results.find((s) => s.name === 'tfjs-fit' && s.backend === r.backend && s.totalSeconds !== null) ??
    results.find((s) => s.name === 'tfjs-fit-fixed' && s.backend === r.backend && s.totalSeconds !== null);
  const columns: Column<ZooBenchResult>[] = [
    { header: 'name', cell: (r) => r.name },
    { header: 'backend', cell: (r) => r.backend },
    { header: 'workers', cell: (r) => String(r.workers), right: true },
    { header: 'total s', cell: (r) => fixed(r.totalSeconds, 2), right: true },
    { header: 'start-up s', cell: (r) => (r.name === 'parallelFit' ? fixed(r.startupSeconds, 2) : '-'), right: true },
    { header: 'samples/s', cell: (r) => int(r.samplesPerSec), right: true },
    { header: 'x fit (total)', cell: (r) => (stock(r) && r.totalSeconds ? fixed(stock(r)!.totalSeconds! / r.totalSeconds, 2) : '-'), right: true },
    { header: 'x fit (rate)', cell: (r) => (stock(r) && r.samplesPerSec ? fixed(r.samplesPerSec / stock(r)!.samplesPerSec!, 2) : '-'), right: true },
    { header: 'peak RSS MB', cell: (r) => int(r.peakRssMb), right: true },
  ];
  const first = results[0];
  const head =
    `threadfit bench --model ${report.model}: ${ZOO_TRAINING[report.model].note}\n` +
    `this run: ${first.epochs} epoch${first.epochs === 1 ? '' : 's'} x ${first.samples} samples, batch ${first.batchSize}, ${describeMachine(report.machine)}\n` +
    `total: the whole call (parallelFit: worker start-up included); samples/s: after start-up; x fit: against tfjs-fit on the same backend\n\n`;
  const failed = results
    .filter((r) => r.error !== undefined)
    .map((r) => `${r.name} (${r.backend}) failed: ${r.error}${r.name === 'tfjs-fit' ? `; x fit on ${r.backend} is against tfjs-fit-fixed` : ''}`);
  // Which gradient path each parallelFit row ran, and the traced graph step's decisions.
  const paths = results
    .filter((r) => r.gradPath !== undefined)
    .map((r) => {
      const path = r.nativeKernels === undefined ? r.gradPath : `${r.gradPath} (${r.nativeKernels})`;
      return `gradients of parallelFit (${r.backend}, W=${r.workers}): ${[path, ...(r.notices ?? [])].join('; ')}`;
    });
  const notes = [...failed, ...paths];
  return head + formatTable(results, columns) + (notes.length > 0 ? `\n${notes.join('\n')}\n` : '');
}
