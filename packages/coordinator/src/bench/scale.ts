/**
 * `threadfit scale`: strong scaling (global batch fixed) and weak scaling (per-worker batch fixed)
 * over W workers, each configuration in its own child process (runner.ts). Writes scale.csv,
 * scale.json and two SVG charts (charts.ts) into --out.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';
import { writeJsonAtomic } from '../cli/report.js';
import type { StepMs } from '../engine/trainer.js';
import { checkBackendAvailable, describeWork, workloadOf, type CommandIO } from './bench.js';
import { describeMachine, machineInfo, type MachineInfo } from './machine.js';
import { STEP_PHASES } from './measure.js';
import type { ResolvedScaleOptions } from './options.js';
import { RunKinds } from './protocol.js';
import { measureInChild } from './runner.js';
import { fixed, formatTable, int, round, toCsv } from './table.js';

export type ScaleMode = 'strong' | 'weak';

export interface ScaleRun {
  mode: ScaleMode;
  /** GLOBAL batch size of the run. */
  batchSize: number;
  workers: number;
  samplesPerSec: number;
  /** samplesPerSec / the same series' samplesPerSec at W=1. */
  speedup: number;
  /** speedup / workers. */
  efficiency: number;
  stepMs: StepMs;
}

export interface ScaleReport {
  machine: MachineInfo;
  runs: ScaleRun[];
}

export const SCALE_FILES = { csv: 'scale.csv', json: 'scale.json', throughput: 'throughput.svg', breakdown: 'breakdown.svg' } as const;

interface Planned {
  mode: ScaleMode;
  batchSize: number;
  workers: number;
}

function plan(o: ResolvedScaleOptions): Planned[] {
  const runs: Planned[] = [];
  for (const batchSize of o.strongBatchSizes) for (const workers of o.workers) runs.push({ mode: 'strong', batchSize, workers });
  for (const workers of o.workers) runs.push({ mode: 'weak', batchSize: o.weakBatchSize * workers, workers });
  return runs;
}

/** Creates --out (and parents) or refuses it, before any measurement. */
function prepareOutDir(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `--out ${dir}: is not a directory`);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `--out ${dir}: cannot create or write to it (${(err as Error).message})`);
  }
}

/** Fills in speed-up and efficiency against each series' W=1 run. */
function withSpeedups(runs: Array<Omit<ScaleRun, 'speedup' | 'efficiency'>>): ScaleRun[] {
  return runs.map((r) => {
    const base = runs.find((b) => b.mode === r.mode && b.workers === 1 && (r.mode === 'weak' || b.batchSize === r.batchSize));
    const speedup = base ? r.samplesPerSec / base.samplesPerSec : NaN;
    // Key order as documented: mode, batchSize, workers, samplesPerSec, speedup, efficiency, stepMs.
    const { stepMs, ...head } = r;
    return { ...head, speedup: round(speedup, 3), efficiency: round(speedup / r.workers, 3), stepMs };
  });
}

export function scaleCsv(report: ScaleReport): string {
  const header = ['mode', 'batchSize', 'workers', 'samplesPerSec', 'speedup', 'efficiency', ...STEP_PHASES.map((p) => `${p}Ms`)];
  return toCsv(
    header,
    report.runs.map((r) => [r.mode, r.batchSize, r.workers, r.samplesPerSec, r.speedup, r.efficiency, ...STEP_PHASES.map((p) => r.stepMs[p])]),
  );
}

export function formatScale(report: ScaleReport): string {
  return formatTable(report.runs, [
    { header: 'mode', cell: (r) => r.mode },
    { header: 'batch', cell: (r) => String(r.batchSize), right: true },
    { header: 'workers', cell: (r) => String(r.workers), right: true },
    { header: 'samples/s', cell: (r) => int(r.samplesPerSec), right: true },
    { header: 'speed-up', cell: (r) => fixed(r.speedup, 2), right: true },
    { header: 'efficiency', cell: (r) => `${fixed(100 * r.efficiency, 0)}%`, right: true },
    ...STEP_PHASES.map((p) => ({ header: p, cell: (r: ScaleRun) => fixed(r.stepMs[p], 2), right: true })),
  ]);
}

export async function runScale(o: ResolvedScaleOptions, io: CommandIO): Promise<ScaleReport> {
  prepareOutDir(o.out);
  checkBackendAvailable(o);
  const machine = machineInfo();
  const runs = plan(o);
  io.err.write(`threadfit scale: ${runs.length} configurations on ${describeMachine(machine)}; ${describeWork(o)}\n`);
  const measured: Array<Omit<ScaleRun, 'speedup' | 'efficiency'>> = [];
  for (const [i, p] of runs.entries()) {
    const tag = `[scale ${i + 1}/${runs.length}] ${p.mode}, ${p.workers} worker${p.workers === 1 ? '' : 's'}, global batch ${p.batchSize}`;
    io.err.write(`${tag}: starting\n`);
    const m = await measureInChild(
      {
        kind: RunKinds.THREADFIT,
        workers: p.workers,
        gradients: o.gradients,
        stepsPerExecution: o.stepsPerExecution,
        input: 'memory',
        ...workloadOf(o, p.batchSize),
      },
      (text) => io.err.write(`${tag}: ${text}\n`),
    );
    const s = m.stepMs!;
    measured.push({
      mode: p.mode,
      batchSize: p.batchSize,
      workers: p.workers,
      samplesPerSec: Math.round(m.samplesPerSec),
      stepMs: { grad: round(s.grad, 3), update: round(s.update, 3), coord: round(s.coord, 3), data: round(s.data, 3) },
    });
    io.err.write(`${tag}: ${int(m.samplesPerSec)} samples/s\n`);
  }
  const report: ScaleReport = { machine, runs: withSpeedups(measured) };

  const { breakdownSpec, renderSvg, throughputSpec } = await import('./charts.js');
  writeFileSync(join(o.out, SCALE_FILES.csv), scaleCsv(report));
  writeJsonAtomic(join(o.out, SCALE_FILES.json), report);
  // The charts and the heading say which gradient path was measured (the figures depend on it).
  const setup = `${o.backend}, ${o.gradients === 'tape' ? 'gradients on the tape' : 'dense fast path'}, ${o.stepsPerExecution} step${o.stepsPerExecution === 1 ? '' : 's'} per execution`;
  writeFileSync(join(o.out, SCALE_FILES.throughput), await renderSvg(throughputSpec(report.runs, o.weakBatchSize, machine, setup)));
  writeFileSync(join(o.out, SCALE_FILES.breakdown), await renderSvg(breakdownSpec(report.runs, o.weakBatchSize, machine, setup)));

  io.out.write(
    `threadfit scale: seed MLP on ${o.dataDir ?? 'MNIST'}, backend ${setup}, ${describeMachine(machine)}\n${describeWork(o)}; step-time columns in ms per step\n\n`,
  );
  io.out.write(formatScale(report));
  io.out.write(`\nWritten to ${o.out}: ${Object.values(SCALE_FILES).join(', ')}\n`);
  return report;
}
