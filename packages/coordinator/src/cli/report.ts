/** The JSON report of a training run (`--report FILE`); keys and order as documented in the README. */
import { writeFileSync, renameSync } from 'node:fs';
import type { NativeStepKind } from '@threadfit/shared';
import type { FitResult } from '../fit/fit-loop.js';

export interface TrainReport {
  threadfit: string;
  config: {
    workers: number;
    epochs: number;
    batchSize: number;
    learningRate: number;
    seed: number;
    backend: string;
    dataset: string;
    /** 'dense' (the dense fast path), 'native' (its native step: tensorflow, or a small chain on wasm) or 'tape'. */
    gradients?: 'dense' | 'native' | 'tape';
    /** On the native step: its kernels (NativeStepKind: 'avx512', 'tf-graph' or 'wasm-simd'). */
    nativeKernels?: NativeStepKind;
    /** On the tape, tensorflow: the traced graph step's decisions, per row count (which ran as one graph, which kept the tape and why). */
    gradientNotices?: string[];
  };
  history: Record<string, number[]>;
  epochs: Array<{ epoch: number; steps: number; seconds: number; samplesPerSec: number; hosts?: HostRow[] }>;
  test: { loss: number; acc: number };
  weightsSha256: string;
  /** Several hosts only: the group at the end of the run. */
  cluster?: { job: string; hostsAtLaunch: number; hosts: number; members: number[]; generation: number };
}

/** One host's line of the straggler table (ms are per-step means). */
export interface HostRow {
  hostRank: number;
  samplesPerSec: number;
  stepMs: { grad: number; update: number; comm: number; coord: number; data: number };
}

/** A gradient path ('dense', 'native' or 'tape (why)') as reports and bench JSON name it. */
export function gradientsKind(gradPath: string): 'dense' | 'native' | 'tape' {
  return gradPath === 'dense' || gradPath === 'native' ? gradPath : 'tape';
}

/** What each native step's kernels are, for the log line. */
const NATIVE_KERNELS: Record<NativeStepKind, string> = {
  avx512: "the dense fast path on threadfit's AVX-512 kernels",
  'tf-graph': 'the dense fast path as one TensorFlow graph run per pass',
  'wasm-simd': "the dense fast path on threadfit's WebAssembly SIMD kernels",
};

/** The log line that says how gradients are computed (train and train --model). */
export function gradientsMessage(gradPath: string, nativeKind: NativeStepKind | undefined): string {
  if (gradPath === 'dense') return 'gradients: dense fast path';
  if (gradPath === 'native' && nativeKind !== undefined) return `gradients: native step (${NATIVE_KERNELS[nativeKind]})`;
  return `gradients: ${gradPath}`;
}

export function epochsOf(fit: FitResult): TrainReport['epochs'] {
  return fit.epochs.map((e) => ({
    epoch: e.epoch,
    steps: e.steps,
    seconds: round(e.seconds, 3),
    samplesPerSec: Math.round(e.samplesPerSec),
    ...(e.hosts && {
      hosts: e.hosts.map((h) => ({
        hostRank: h.hostRank,
        samplesPerSec: Math.round(h.samplesPerSec),
        stepMs: Object.fromEntries(Object.entries(h.stepMs).map(([k, v]) => [k, round(v, 3)])) as HostRow['stepMs'],
      })),
    }),
  }));
}

/** The straggler table of an epoch: one line per host, the slowest marked. */
export function hostTable(rows: HostRow[]): string {
  const slowest = Math.min(...rows.map((r) => r.samplesPerSec));
  const lines = rows.map((r) => {
    const ms = r.stepMs;
    const cells = [r.hostRank, r.samplesPerSec, ms.grad, ms.update, ms.comm, ms.coord, ms.data].map((v) =>
      typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v),
    );
    return `  ${cells.map((c) => c.padStart(9)).join('')}${r.samplesPerSec === slowest && rows.length > 1 ? '  <- slowest' : ''}`;
  });
  return [`  ${['host', 'samples/s', 'grad', 'update', 'comm', 'coord', 'data'].map((c) => c.padStart(9)).join('')}   (ms per step)`, ...lines].join('\n');
}

/** History in reading order: loss, metrics, then their val_ twins (model.fit stores val_ first). */
export function historyForReport(history: Record<string, number[]>): Record<string, number[]> {
  const keys = Object.keys(history);
  const train = keys.filter((k) => !k.startsWith('val_'));
  const ordered = [
    ...train,
    ...train.map((k) => `val_${k}`).filter((k) => k in history),
    ...keys.filter((k) => k.startsWith('val_') && !train.includes(k.slice(4))),
  ];
  return Object.fromEntries(ordered.map((k) => [k, history[k]]));
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** Writes via a temporary file and a rename, so a reader never sees half a report. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}
