/**
 * Checkpoints of a `threadfit train` run: what to resume from, and writing the committed state at
 * a position of the fit loop. (The format and the atomic writes are checkpoint.ts's.)
 */
import { ErrorCodes, ThreadfitError, stateSlotsOf, type Logger, type ModelSpec, type OptimizerSpec } from '@threadfit/shared';
import { checkCheckpointDir, loadLatestCheckpoint, writeCheckpoint, type LoadedCheckpoint } from './store.js';
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

export class RunCheckpoints {
  #written = 0;
  constructor(
    readonly dir: string,
    private readonly id: RunIdentity,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  /** Refuses an unwritable or foreign directory before any thread starts. */
  static async open(dir: string, id: RunIdentity, keep: number, log: Logger): Promise<RunCheckpoints> {
    await checkCheckpointDir(dir, '--checkpoint-dir');
    return new RunCheckpoints(dir, id, keep, log);
  }

  /** The newest valid checkpoint of this model and data shape, or undefined (a fresh start). */
  async latest(): Promise<LoadedCheckpoint | undefined> {
    const { checkpoint, warnings } = await loadLatestCheckpoint(
      this.dir,
      { weights: this.id.spec.weights, topology: this.id.spec.topology, dataShape: this.id.dataShape },
      '--checkpoint-dir',
    );
    for (const w of warnings) this.log.warn({ dir: this.dir }, w);
    // One made with another trajectory (batch, seed, accumulation, micro-batches, workers outside
    // deterministic mode, optimizer, learning-rate schedule) would not continue the same run.
    if (checkpoint !== undefined) {
      const saved = (checkpoint.config.trajectory ?? {}) as Record<string, unknown>;
      for (const [key, value] of Object.entries(this.id.trajectory)) {
        if (key in saved && JSON.stringify(saved[key]) !== JSON.stringify(value)) {
          throw new ThreadfitError(
            ErrorCodes.INVALID_OPTION,
            `checkpoint ${checkpoint.name} in ${this.dir} was made with ${key} ${JSON.stringify(saved[key])}, this run has ${JSON.stringify(value)}: resume with the same settings, or use another checkpoint directory`,
          );
        }
      }
    }
    return checkpoint;
  }

  /** Puts a checkpoint's optimizer state into a fresh trainer (its weights went in at create). */
  restore(trainer: Trainer, ckpt: LoadedCheckpoint): void {
    restoreOptimizerState(trainer.views, this.id.spec, ckpt.optimizer, stateSlotsOf(this.id.optimizer));
  }

  /** Writes the trainer's committed state as the state at `pos`. Between steps only. */
  async write(trainer: Trainer, pos: FitPosition, history: Record<string, number[]>): Promise<string> {
    const { kind, ...config } = this.id.optimizer;
    const entry = await writeCheckpoint(
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
      },
      { keep: this.keep },
    );
    this.#written++;
    this.log.info({ checkpoint: entry.path, epoch: pos.epoch, stepInEpoch: pos.stepInEpoch, globalStep: pos.globalStep }, 'checkpoint written');
    return entry.path;
  }

  get written(): number {
    return this.#written;
  }

  /**
   * The fit loop's afterStep/afterEpoch hooks for a policy: every N steps, or at every epoch end.
   * `history()` is what the checkpoint records as the run's History so far; `onWritten` learns
   * the path of each checkpoint.
   */
  hooks(
    trainer: Trainer,
    every: number | 'epoch',
    history: () => Record<string, number[]>,
    onWritten: (path: string) => void,
  ): Pick<FitLoopOptions, 'afterStep' | 'afterStepDue' | 'afterEpoch'> {
    const write = async (pos: FitPosition) => onWritten(await this.write(trainer, pos, history()));
    return {
      afterStep: typeof every === 'number' ? async (pos) => (pos.globalStep % every === 0 ? write(pos) : undefined) : undefined,
      afterStepDue: typeof every === 'number' ? (globalStep) => globalStep % every === 0 : undefined,
      afterEpoch: async (pos) => (every === 'epoch' || pos.globalStep % every === 0 ? write(pos) : undefined),
    };
  }
}
