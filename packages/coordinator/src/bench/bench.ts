/**
 * `threadfit bench`: in one run on one machine, the seed model at one global batch — per backend,
 * stock `model.fit` (on wasm also with the BatchMatMul fix), then threadfit at each worker count
 * (with the dense fast path, the tape, or both) — each configuration measured in its own child
 * process (runner.ts). Prints a table and the ratios between backends, writes --json.
 */
import type { Writable } from 'node:stream';
import { ErrorCodes, ThreadfitError, type NativeStepKind } from '@threadfit/shared';
import { tensorflowInstalled } from '../engine/backend-choice.js';
import { gradientsKind, writeJsonAtomic } from '../cli/report.js';
import { checkWritableFile } from '../cli/train.js';
import type { StepMs } from '../engine/trainer.js';
import { describeMachine, machineInfo, type MachineInfo } from './machine.js';
import type { ResolvedBenchOptions, ResolvedWork } from './options.js';
import { RunKinds, type Measurement, type RunConfig, type Workload } from './protocol.js';
import { measureInChild } from './runner.js';
import { fixed, formatTable, int, round, type Column } from './table.js';
import { runZooBench, type ZooBenchReport } from './zoo-bench.js';

export type BenchName = 'tfjs-fit' | 'tfjs-fit-fixed' | 'threadfit';

export interface BenchResult {
  name: BenchName;
  backend: string;
  workers: number;
  batchSize: number;
  /** threadfit rows: 'dense' (the dense fast path) or 'tape'; null for stock fit. */
  gradients: 'dense' | 'native' | 'tape' | null;
  /** threadfit rows on the native step: its kernels ('avx512', 'tf-graph' or 'wasm-simd'); null otherwise. */
  nativeKernels: NativeStepKind | null;
  /** threadfit rows: steps the workers ran per execution (1: a round trip per step); null for stock fit. */
  stepsPerExecution: number | null;
  /** threadfit rows: 'memory' (the shared data set) or 'dataset' (streamed through parallelFitDataset); null for stock fit. */
  input: 'memory' | 'dataset' | null;
  samplesPerSec: number;
  /** Per-step breakdown; all null for stock fit, which is one opaque call. */
  stepMs: StepMs | { grad: null; update: null; coord: null; data: null };
  peakRssMb: number;
}

export interface BenchReport {
  machine: MachineInfo;
  results: BenchResult[];
}

export interface CommandIO {
  /** Results (the table). */
  out: Writable;
  /** Progress lines, so that a long run is not silent. */
  err: Writable;
}

/** Refuses --backend tensorflow up front when it cannot load, instead of once per child. */
export function checkBackendAvailable(o: ResolvedWork & { backends?: readonly string[] }): void {
  if ((o.backends ?? [o.backend]).includes('tensorflow') && !tensorflowInstalled()) {
    throw new ThreadfitError(ErrorCodes.BACKEND, "backend 'tensorflow' is not available: @tensorflow/tfjs-node is not installed; use --backend wasm or cpu");
  }
}

export function workloadOf(o: ResolvedWork, batchSize: number): Workload {
  return { backend: o.backend, batchSize, warmup: o.warmup, steps: o.steps, epochs: o.epochs, repeats: o.repeats, seed: o.seed, dataDir: o.dataDir };
}

/** What one repeat is, in words, for the heading and --help. */
export function describeWork(o: ResolvedWork): string {
  const repeat = o.epochs === undefined ? `${o.steps} steps` : `${o.epochs} epoch${o.epochs === 1 ? '' : 's'}`;
  return `warm-up ${o.warmup} step${o.warmup === 1 ? '' : 's'} excluded, then the median of ${o.repeats} repeat${o.repeats === 1 ? '' : 's'} of ${repeat}`;
}

interface Planned {
  name: BenchName;
  config: RunConfig;
}

function plan(o: ResolvedBenchOptions): Planned[] {
  const runs: Planned[] = [];
  for (const backend of o.backends) {
    const work = workloadOf({ ...o, backend }, o.batchSize);
    runs.push({ name: 'tfjs-fit', config: { kind: RunKinds.STOCK, matMulFix: false, ...work } });
    // The fix is a wasm kernel: on another backend there is nothing to fix.
    if (backend === 'wasm') runs.push({ name: 'tfjs-fit-fixed', config: { kind: RunKinds.STOCK, matMulFix: true, ...work } });
    for (const workers of o.workers) {
      for (const gradients of o.gradients) {
        for (const stepsPerExecution of o.stepsPerExecution) {
          for (const input of o.input)
            runs.push({ name: 'threadfit', config: { kind: RunKinds.THREADFIT, workers, gradients, stepsPerExecution, input, ...work } });
        }
      }
    }
  }
  return runs;
}

function resultOf(p: Planned, m: Measurement): BenchResult {
  const { config } = p;
  return {
    name: p.name,
    backend: config.backend,
    workers: config.kind === RunKinds.THREADFIT ? config.workers : 1,
    batchSize: config.batchSize,
    gradients: config.kind === RunKinds.THREADFIT ? gradientsKind(m.gradPath ?? '') : null,
    nativeKernels: m.nativeKind ?? null,
    stepsPerExecution: config.kind === RunKinds.THREADFIT ? (m.stepsPerExecution ?? config.stepsPerExecution) : null,
    input: config.kind === RunKinds.THREADFIT ? config.input : null,
    samplesPerSec: Math.round(m.samplesPerSec),
    stepMs:
      m.stepMs === null
        ? { grad: null, update: null, coord: null, data: null }
        : { grad: round(m.stepMs.grad, 3), update: round(m.stepMs.update, 3), coord: round(m.stepMs.coord, 3), data: round(m.stepMs.data, 3) },
    peakRssMb: round(m.peakRssMb, 1),
  };
}

export function label(name: string, workers: number, batchSize: number, backend: string, gradients?: string, stepsPerExecution?: number): string {
  const grads = gradients === undefined ? '' : gradients === 'tape' ? ', tape' : ', dense fast path when eligible';
  const exec = stepsPerExecution === undefined ? '' : `, ${stepsPerExecution} step${stepsPerExecution === 1 ? '' : 's'} per execution`;
  return `${name} (${backend}, ${workers} ${name === 'threadfit' ? 'worker' : 'thread'}${workers === 1 ? '' : 's'}, global batch ${batchSize}${grads}${exec})`;
}

export async function runBench(o: ResolvedBenchOptions, io: CommandIO): Promise<BenchReport | ZooBenchReport> {
  if (o.model !== 'seed') return runZooBench({ ...o, model: o.model }, io);
  if (o.json !== undefined) checkWritableFile(o.json, '--json');
  checkBackendAvailable(o);
  const machine = machineInfo();
  const runs = plan(o);
  io.err.write(`threadfit bench: ${runs.length} configurations on ${describeMachine(machine)}; ${describeWork(o)}\n`);
  const results: BenchResult[] = [];
  for (const [i, p] of runs.entries()) {
    const c = p.config;
    const tf = c.kind === RunKinds.THREADFIT ? c : undefined;
    const tag = `[bench ${i + 1}/${runs.length}] ${label(p.name, tf?.workers ?? 1, o.batchSize, c.backend, tf?.gradients, tf?.stepsPerExecution)}${tf?.input === 'dataset' ? ' from a dataset' : ''}`;
    io.err.write(`${tag}: starting\n`);
    const m = await measureInChild(p.config, (text) => io.err.write(`${tag}: ${text}\n`));
    results.push(resultOf(p, m));
    io.err.write(`${tag}: ${int(m.samplesPerSec)} samples/s, peak RSS ${int(m.peakRssMb)} MB\n`);
  }
  const report: BenchReport = { machine, results };
  io.out.write(formatBench(report, o));
  if (o.json !== undefined) {
    writeJsonAtomic(o.json, report);
    io.out.write(`Results written to ${o.json}\n`);
  }
  return report;
}

const stepTotal = (r: BenchResult): number | null => {
  const s = r.stepMs;
  if (s.grad === null) return (1000 * r.batchSize) / r.samplesPerSec;
  return s.grad + s.update! + s.coord! + s.data!;
};

export function formatBench(report: BenchReport, o: ResolvedWork & { batchSize: number }): string {
  // Each row against stock model.fit on its own backend.
  const base = (r: BenchResult) => report.results.find((s) => s.name === 'tfjs-fit' && s.backend === r.backend)?.samplesPerSec;
  const columns: Column<BenchResult>[] = [
    { header: 'name', cell: (r) => r.name },
    { header: 'backend', cell: (r) => r.backend },
    { header: 'gradients', cell: (r) => (r.nativeKernels === null || r.nativeKernels === undefined ? (r.gradients ?? '-') : `native (${r.nativeKernels})`) },
    { header: 'input', cell: (r) => r.input ?? '-' },
    { header: 'steps/exec', cell: (r) => (r.stepsPerExecution === null ? '-' : String(r.stepsPerExecution)), right: true },
    { header: 'workers', cell: (r) => String(r.workers), right: true },
    { header: 'batch', cell: (r) => String(r.batchSize), right: true },
    { header: 'samples/s', cell: (r) => int(r.samplesPerSec), right: true },
    { header: 'x tfjs-fit', cell: (r) => (base(r) ? fixed(r.samplesPerSec / base(r)!, 2) : '-'), right: true },
    { header: 'step ms', cell: (r) => fixed(stepTotal(r), 2), right: true },
    { header: 'grad', cell: (r) => fixed(r.stepMs.grad, 2), right: true },
    { header: 'update', cell: (r) => fixed(r.stepMs.update, 2), right: true },
    { header: 'coord', cell: (r) => fixed(r.stepMs.coord, 2), right: true },
    { header: 'data', cell: (r) => fixed(r.stepMs.data, 2), right: true },
    { header: 'peak RSS MB', cell: (r) => int(r.peakRssMb), right: true },
  ];
  const head = `threadfit bench: seed MLP on ${o.dataDir ?? 'MNIST'}, global batch ${o.batchSize}, ${describeMachine(report.machine)}\n${describeWork(o)}; step-time columns in ms per step\n\n`;
  return head + formatTable(report.results, columns) + formatRatios(report.results);
}

/**
 * The comparisons the table does not show at a glance, between threadfit rows of the same run at
 * the largest worker count (and the most steps per execution): the dense fast path against the
 * tape, executions against a round trip per step, a dataset's batches against the shared data
 * set's, each backend against the first one measured, and the share of the step that is not
 * gradient work.
 */
export function formatRatios(results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.name === 'threadfit');
  if (rows.length === 0) return '';
  const w = Math.max(...rows.map((r) => r.workers));
  const spe = Math.max(...rows.map((r) => r.stepsPerExecution ?? 1));
  // The comparisons are between rows reading the shared data set, but the one of the two inputs.
  const at = (backend: string, gradients: string, steps = spe, input = 'memory') =>
    rows.find(
      (r) => r.workers === w && r.backend === backend && r.gradients === gradients && (r.stepsPerExecution ?? 1) === steps && (r.input ?? 'memory') === input,
    );
  const lines: string[] = [];
  const backends = [...new Set(rows.map((r) => r.backend))];
  for (const b of backends) {
    for (const g of ['dense', 'tape']) {
      const runs = at(b, g);
      const oneByOne = at(b, g, 1);
      if (spe > 1 && runs && oneByOne) {
        lines.push(`${b}, ${w} workers (${g}): ${spe} steps per execution / 1 = ${fixed(runs.samplesPerSec / oneByOne.samplesPerSec, 2)}x`);
      }
    }
  }
  for (const r of rows.filter((x) => x.workers === w && (x.stepsPerExecution ?? 1) === spe)) {
    const s = r.stepMs;
    const total = stepTotal(r);
    if (s.update !== null && total !== null && total > 0) {
      lines.push(
        `${r.backend}, ${w} workers (${r.gradients}, ${spe} steps per execution${r.input === 'dataset' ? ', from a dataset' : ''}): update + coord = ${fixed((100 * (s.update + s.coord!)) / total, 1)}% of the step`,
      );
    }
  }
  for (const b of backends) {
    const dense = at(b, 'dense');
    const tape = at(b, 'tape');
    if (dense && tape) lines.push(`${b}, ${w} workers: dense fast path / tape = ${fixed(dense.samplesPerSec / tape.samplesPerSec, 2)}x`);
  }
  for (const b of backends) {
    for (const g of ['dense', 'tape']) {
      const memory = at(b, g);
      const streamed = at(b, g, spe, 'dataset');
      if (memory && streamed) lines.push(`${b}, ${w} workers (${g}): dataset / memory = ${fixed(streamed.samplesPerSec / memory.samplesPerSec, 2)}x`);
    }
  }
  const grads = at(backends[0], 'dense') ? 'dense' : 'tape';
  const first = at(backends[0], grads);
  for (const b of backends.slice(1)) {
    const other = at(b, grads);
    if (first && other)
      lines.push(`threadfit ${b} / threadfit ${backends[0]}, ${w} workers (${grads}): ${fixed(other.samplesPerSec / first.samplesPerSec, 2)}x`);
  }
  return lines.length === 0 ? '' : `\n${lines.join('\n')}\n`;
}
