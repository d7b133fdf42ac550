/** The JSON report of a training run (`--report FILE`); keys and order as documented in the README. */
import { writeFileSync, renameSync } from 'node:fs';
import type { FitResult } from './fit-loop.js';

export interface TrainReport {
  threadfit: string;
  config: { workers: number; epochs: number; batchSize: number; learningRate: number; seed: number; backend: string; dataset: string };
  history: Record<string, number[]>;
  epochs: Array<{ epoch: number; steps: number; seconds: number; samplesPerSec: number }>;
  test: { loss: number; acc: number };
  weightsSha256: string;
}

export function epochsOf(fit: FitResult): TrainReport['epochs'] {
  return fit.epochs.map((e) => ({ epoch: e.epoch, steps: e.steps, seconds: round(e.seconds, 3), samplesPerSec: Math.round(e.samplesPerSec) }));
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
