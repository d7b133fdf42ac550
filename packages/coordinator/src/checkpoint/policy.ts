/**
 * Checkpoints of a `threadfit train` run: what to resume from, and writing the committed state at
 * a position of the fit loop. (The format and the atomic writes are checkpoint.ts's.)
 */
import { randomBytes } from 'node:crypto';
import { ErrorCodes, ThreadfitError, stateSlotsOf, type Logger, type ModelSpec, type OptimizerSpec } from '@threadfit/shared';
import { checkCheckpointDir, checkpointRecords, loadLatestCheckpoint, writeCheckpoint, type CheckpointRecord, type LoadedCheckpoint } from './store.js';
import type { CheckpointWeightSpec, DataShape } from './format.js';
import { readOptimizerSlots, restoreOptimizerState } from './optimizer-state.js';
import type { FitLoopOptions, FitPosition } from '../fit/fit-loop.js';
import type { Trainer } from '../engine/trainer.js';
import type { LrDecay } from '../fit/lr-schedule.js';

export interface RunIdentity {
  spec: ModelSpec;
  optimizer: OptimizerSpec;
  weightSpecs: CheckpointWeightSpec[];
  dataShape: DataShape;
  seed: number;
  config: Record<string, unknown>;
  /** What decides the path of the steps after a resume; must match to resume. */
  trajectory: Record<string, unknown>;
}

export interface TrajectoryInput {
  batchSize: number;
  accumulate: number;
  seed: number;
  shuffle: boolean;
  deterministic: boolean;
  microBatches: number;
  workers: number;
  optimizer: OptimizerSpec;
  lr: { scale: string; baseBatch: number; warmupEpochs: number; decay: LrDecay; epochs: number };
}

/** The settings a resumed run must share with the checkpoint's run to continue it exactly. */
export function trajectoryOf(t: TrajectoryInput): Record<string, unknown> {
  return {
    batchSize: t.batchSize,
    accumulate: t.accumulate,
    seed: t.seed,
    shuffle: t.shuffle,
    deterministic: t.deterministic,
    // Deterministic mode fixes the micro-batches; otherwise the worker count cuts the batch.
    ...(t.deterministic ? { microBatches: t.microBatches } : { workers: t.workers }),
    optimizer: t.optimizer,
    // Cosine decay spans the run, so its length is part of the schedule.
    lrSchedule: { ...t.lr, epochs: t.lr.decay.kind === 'cosine' ? t.lr.epochs : undefined },
  };
}

/** How the caller names things in messages: the CLI's flags or parallelFit's options. */
export interface CheckpointLabels {
  dir: string;
  resume: string;
  epochs: string;
}
export const CLI_LABELS: CheckpointLabels = { dir: '--checkpoint-dir', resume: '--resume', epochs: '--epochs' };
export const FIT_LABELS: CheckpointLabels = { dir: 'options.checkpointDir', resume: 'options.resume', epochs: 'options.epochs' };

export interface OpenOptions {
  /** Whether the run continues the directory's run; a fresh run refuses a directory holding one. */
  resume: boolean;
  /** The run id of a fresh run (several hosts derive the same one); default random. */
  runId?: string;
  labels?: CheckpointLabels;
}

const runName = (r: CheckpointRecord): string =>
  r.meta === undefined ? 'unknown (meta.json unusable)' : (r.meta.runId ?? 'without a run id (older threadfit)');

/** "ckpt-000080, ckpt-000085 (run 1a2b..., newest at epoch 2, step 85, of 4 epochs)": one run's checkpoints. */
function describeRun(records: CheckpointRecord[]): string {
  const newest = records[0];
  const m = newest.meta;
  const where = m ? `, newest at epoch ${m.epoch}, step ${m.globalStep}${typeof m.config.epochs === 'number' ? `, of ${m.config.epochs} epochs` : ''}` : '';
  return `${records
    .map((r) => r.name)
    .reverse()
    .join(', ')} (run ${runName(newest)}${where})`;
}

/** Groups records by run (records newest name first; groups in that order). */
function byRun(records: CheckpointRecord[]): CheckpointRecord[][] {
  const groups = new Map<string, CheckpointRecord[]>();
  for (const r of records) {
    const key = r.meta === undefined ? `?${r.name}` : (r.meta.runId ?? '');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()];
}

export class RunCheckpoints {
  #written = 0;
  #runId: string | undefined;
  #last: { globalStep: number; path: string } | undefined;
  private constructor(
    readonly dir: string,
    private readonly id: RunIdentity,
    private readonly keep: number,
    private readonly log: Logger,
    private readonly labels: CheckpointLabels,
    runId: string,
  ) {
    this.#runId = runId;
  }

  /**
   * Refuses an unwritable or foreign directory before any thread starts, and, for a fresh run,
   * one that already holds another run's checkpoints (its pruning would mix the two runs, and a
   * later resume continue the wrong one).
   */
  static async open(dir: string, id: RunIdentity, keep: number, log: Logger, o: OpenOptions): Promise<RunCheckpoints> {
    const labels = o.labels ?? CLI_LABELS;
    await checkCheckpointDir(dir, labels.dir);
    if (!o.resume) {
      const records = await checkpointRecords(dir, labels.dir);
      if (records.length > 0) {
        throw new ThreadfitError(
          ErrorCodes.INVALID_OPTION,
          `${labels.dir} ${dir} holds the checkpoints of another run: ${byRun(records).map(describeRun).join('; ')}; pass ${labels.resume} to continue it, or give another ${labels.dir}`,
        );
      }
    }
    return new RunCheckpoints(dir, id, keep, log, labels, o.runId ?? randomBytes(8).toString('hex'));
  }

  /** This run's id, written into every checkpoint: a resumed run keeps the id of the run it continues. */
  get runId(): string | undefined {
    return this.#runId;
  }

  /**
   * The newest valid checkpoint of this model and data shape, or undefined (a fresh start). A
   * directory holding several runs, a checkpoint made with other settings, and one whose run is
   * already finished (or past `epochs`) are refused, naming what is wrong.
   */
  async latest(run: { epochs: number; stepsPerEpoch: number }): Promise<LoadedCheckpoint | undefined> {
    const runs = byRun(await checkpointRecords(this.dir, this.labels.dir));
    if (runs.length > 1) {
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        `${this.labels.dir} ${this.dir} holds the checkpoints of ${runs.length} runs: ${runs.map(describeRun).join('; ')}; ${this.labels.resume} continues one run: move the others' checkpoints elsewhere`,
      );
    }
    const { checkpoint, warnings } = await loadLatestCheckpoint(
      this.dir,
      { weights: this.id.spec.weights, topology: this.id.spec.topology, dataShape: this.id.dataShape },
      this.labels.dir,
    );
    for (const w of warnings) this.log.warn({ dir: this.dir }, w);
    if (checkpoint === undefined) return undefined;
    // One made with another trajectory (batch, seed, accumulation, micro-batches, workers outside
    // deterministic mode, optimizer, learning-rate schedule) would not continue the same run.
    const saved = (checkpoint.config.trajectory ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(this.id.trajectory)) {
      if (key in saved && JSON.stringify(saved[key]) !== JSON.stringify(value)) {
        throw new ThreadfitError(
          ErrorCodes.INVALID_OPTION,
          `checkpoint ${checkpoint.name} in ${this.dir} was made with ${key} ${JSON.stringify(saved[key])}, this run has ${JSON.stringify(value)}: resume with the same settings, or use another checkpoint directory`,
        );
      }
    }
    // A state after an epoch's last step counts that epoch as done (the fit loop starts the next).
    const done = checkpoint.epoch + (checkpoint.stepInEpoch >= run.stepsPerEpoch ? 1 : 0);
    if (done >= run.epochs) {
      const at = `${checkpoint.path} holds the state after epoch ${done} (step ${checkpoint.globalStep})`;
      throw new ThreadfitError(
        ErrorCodes.INVALID_OPTION,
        done === run.epochs
          ? `the run in ${this.labels.dir} ${this.dir} is finished: ${at}, the last of ${this.labels.epochs} ${run.epochs}; nothing to resume (pass a larger ${this.labels.epochs} to train further)`
          : `${at}, past ${this.labels.epochs} ${run.epochs}: nothing to train (pass ${this.labels.epochs} above ${done} to train further, or give another ${this.labels.dir})`,
      );
    }
    this.#runId = checkpoint.runId;
    this.#last = { globalStep: checkpoint.globalStep, path: checkpoint.path };
    return checkpoint;
  }

  /** Puts a checkpoint's optimizer state into a fresh trainer (its weights went in at create). */
  restore(trainer: Trainer, ckpt: LoadedCheckpoint): void {
    restoreOptimizerState(trainer.views, this.id.spec, ckpt.optimizer, stateSlotsOf(this.id.optimizer));
  }

  /** Writes the trainer's committed state as the state at `pos`. Between steps only. */
  async write(trainer: Trainer, pos: FitPosition, history: Record<string, number[]>): Promise<string> {
    const { kind, ...config } = this.id.optimizer;
    let entry;
    try {
      entry = await writeCheckpoint(
        this.dir,
        {
          modelTopology: this.id.spec.topology,
          loss: this.id.spec.loss,
          metrics: this.id.spec.metrics,
          weightSpecs: this.id.weightSpecs,
          weights: trainer.committedWeights(),
          optimizer: { kind, config, step: trainer.step, slots: readOptimizerSlots(trainer.views, this.id.spec, stateSlotsOf(this.id.optimizer)) },
          epoch: pos.epoch,
          stepInEpoch: pos.stepInEpoch,
          globalStep: pos.globalStep,
          rng: { seed: this.id.seed },
          config: { ...this.id.config, trajectory: this.id.trajectory, history },
          dataShape: this.id.dataShape,
          ...(this.#runId !== undefined && { runId: this.#runId }),
        },
        { keep: this.keep },
      );
    } catch (err) {
      if ((err as ThreadfitError).code !== ErrorCodes.IO) throw err;
      const hint = /the last complete checkpoint is/.test((err as Error).message)
        ? `: resume from it with ${this.labels.dir} ${this.dir} ${this.labels.resume} once the cause is fixed`
        : '';
      throw new ThreadfitError(ErrorCodes.IO, `${(err as Error).message}${hint}`, { cause: (err as Error).cause });
    }
    for (const name of entry.madeRoom)
      this.log.warn({ dir: this.dir, removed: name }, `disk full: removed ${name}, this run's oldest checkpoint, to make room`);
    this.#written++;
    this.#last = { globalStep: pos.globalStep, path: entry.path };
    this.log.info(
      { checkpoint: entry.path, epoch: pos.epoch, stepInEpoch: pos.stepInEpoch, globalStep: pos.globalStep, bytes: entry.bytes },
      'checkpoint written',
    );
    return entry.path;
  }

  /**
   * At the end of a run (finished, stopped or failed): checkpoints the committed state unless
   * the last checkpoint already holds it. Returns the checkpoint holding it.
   */
  async writeFinal(trainer: Trainer, pos: FitPosition, history: Record<string, number[]>): Promise<string> {
    if (this.#last?.globalStep === pos.globalStep) return this.#last.path;
    return this.write(trainer, pos, history);
  }

  get written(): number {
    return this.#written;
  }

  /**
   * The fit loop's afterStep/afterStepDue/afterEpoch hooks for a policy: every N steps, or at
   * every epoch end, and always after the run's last epoch (`epochs`), so that the final state
   * is checkpointed whatever N. `history()` is what the checkpoint records as the run's History
   * so far; `onWritten` learns the path of each checkpoint.
   */
  hooks(
    trainer: Trainer,
    every: number | 'epoch',
    epochs: number,
    history: () => Record<string, number[]>,
    onWritten: (path: string) => void,
  ): Pick<FitLoopOptions, 'afterStep' | 'afterStepDue' | 'afterEpoch'> {
    const write = async (pos: FitPosition) => onWritten(await this.write(trainer, pos, history()));
    return {
      afterStep: typeof every === 'number' ? async (pos) => (pos.globalStep % every === 0 ? write(pos) : undefined) : undefined,
      afterStepDue: typeof every === 'number' ? (globalStep) => globalStep % every === 0 : undefined,
      afterEpoch: async (pos) => (epochEndDue(every, epochs, pos) ? write(pos) : undefined),
    };
  }
}

/** Whether a checkpoint is due at an epoch end: every epoch, every N steps, or the run's last epoch. */
export const epochEndDue = (every: number | 'epoch', epochs: number, pos: FitPosition): boolean =>
  every === 'epoch' || pos.globalStep % every === 0 || pos.epoch >= epochs;
