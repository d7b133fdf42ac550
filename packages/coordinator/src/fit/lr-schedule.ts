/**
 * Learning-rate schedules for large batches: the linear scaling rule (lr x batch / baseBatch,
 * Goyal et al. 2017), linear warm-up over the first epochs, then step or cosine decay. Computed
 * per optimizer step by the coordinator and sent with the step's update tasks.
 */
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';

export type LrDecay = { kind: 'none' } | { kind: 'step'; everyEpochs: number; gamma: number } | { kind: 'cosine'; minLr: number };

export interface LrScheduleOptions {
  /** The optimizer's learning rate (at baseBatch). */
  base: number;
  /** 'linear': scale the peak by batch / baseBatch. */
  scale: 'none' | 'linear';
  baseBatch: number;
  /** The effective global batch of a step (batchSize x accumulate). */
  batch: number;
  warmupEpochs: number;
  decay: LrDecay;
  epochs: number;
  stepsPerEpoch: number;
}

/** The option text of a decay (parseLrDecay's inverse). */
export function lrDecayText(d: LrDecay): string {
  return d.kind === 'none' ? 'none' : d.kind === 'cosine' ? `cosine:${d.minLr}` : `step:${d.everyEpochs}:${d.gamma}`;
}

/** Parses `none`, `cosine`, `cosine:MIN` or `step:EVERY_EPOCHS:GAMMA`. */
export function parseLrDecay(text: unknown, where: string): LrDecay {
  if (text === undefined || text === 'none') return { kind: 'none' };
  const s = String(text);
  let m = /^cosine(?::([0-9.eE+-]+))?$/.exec(s);
  if (m) return { kind: 'cosine', minLr: m[1] === undefined ? 0 : Number(m[1]) };
  m = /^step:(\d+(?:\.\d+)?):([0-9.eE+-]+)$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[2]) > 0 && Number(m[2]) <= 1) return { kind: 'step', everyEpochs: Number(m[1]), gamma: Number(m[2]) };
  throw new ThreadfitError(
    ErrorCodes.INVALID_OPTION,
    `${where} must be none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA (0 < GAMMA <= 1), got ${JSON.stringify(text)}`,
  );
}

/** The peak learning rate after the scaling rule. */
export function peakLr(o: Pick<LrScheduleOptions, 'base' | 'scale' | 'baseBatch' | 'batch'>): number {
  return o.scale === 'linear' ? (o.base * o.batch) / o.baseBatch : o.base;
}

/** True when the schedule is the constant base rate (then no rate travels with the tasks). */
export function isConstant(o: LrScheduleOptions): boolean {
  return o.scale === 'none' && o.warmupEpochs === 0 && o.decay.kind === 'none';
}

/** The learning rate of the step with 0-based index `step` in the run. */
export function lrAt(o: LrScheduleOptions, step: number): number {
  const peak = peakLr(o);
  const warmupSteps = Math.round(o.warmupEpochs * o.stepsPerEpoch);
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  switch (o.decay.kind) {
    case 'none':
      return peak;
    case 'step':
      return peak * o.decay.gamma ** Math.floor(step / o.stepsPerEpoch / o.decay.everyEpochs);
    case 'cosine': {
      const total = Math.max(1, o.epochs * o.stepsPerEpoch - warmupSteps);
      const progress = Math.min(1, (step - warmupSteps) / total);
      return o.decay.minLr + (peak - o.decay.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
  }
}
