/**
 * The schema's options of the training itself: checkpoints and faults, the step (gradients,
 * executions, determinism, accumulation) and the learning-rate schedule (see schema.ts).
 */
import { parseFault } from '../engine/faults.js';
import { parseLrDecay } from '../fit/lr-schedule.js';
import { bool, fn, int, intList, num, oneOf, orWord, parsed, path } from './kinds.js';
import { DEFAULT_STEPS_PER_EXECUTION, MAX_STEPS_PER_EXECUTION, on, type OptionEntry } from './spec.js';

const spe = () => int(1, MAX_STEPS_PER_EXECUTION);

export const TRAINING_OPTIONS = {
  /** Write checkpoints of the committed state here (atomic; the newest keepCheckpoints kept; model.json loadable by tfjs). */
  checkpointDir: {
    doc: 'write checkpoints here (atomic; model.json loadable by tfjs)',
    value: 'DIR',
    train: on(path()),
    fit: on(path()),
  },
  /** Checkpoint every N steps, or 'epoch' (default): at every epoch end. Needs checkpointDir. */
  checkpointEvery: {
    doc: 'checkpoint every N steps, or at every epoch end; the final state is always checkpointed',
    value: 'N|epoch',
    train: on(orWord('epoch', int(1)), { default: 'epoch' }),
    fit: on(orWord('epoch', int(1)), { default: 'epoch' }),
  },
  /** How many of the newest checkpoints to keep. Default 2. Needs checkpointDir. */
  keepCheckpoints: {
    doc: "how many of this run's newest checkpoints to keep (another run's are never deleted)",
    value: 'K',
    train: on(int(1, 1000), { default: 2 }),
    fit: on(int(1, 1000), { default: 2 }),
  },
  /** Continue from the newest valid checkpoint in checkpointDir (what is done is not done again). Default false. */
  resume: {
    doc: "continue the run in --checkpoint-dir from its newest valid checkpoint; without it, a directory holding another run's checkpoints is refused",
    train: on(bool(), { default: false }),
    fit: on(bool(), { default: false, doc: 'continue from the newest valid checkpoint in checkpointDir (exact resume)' }),
  },
  /** Reruns of failed steps (crashed or hung workers) allowed over the run. Default 3. */
  maxRestarts: {
    doc: 'reruns of failed steps (crashed or hung workers) before giving up',
    value: 'N',
    train: on(int(0, 1_000_000), { default: 3 }),
    fit: on(int(0, 1_000_000), { default: 3 }),
  },
  /** Non-finite steps allowed in a row. Default 5. */
  maxSkippedSteps: {
    doc: 'non-finite steps in a row before giving up',
    value: 'N',
    train: on(int(0, 1_000_000), { default: 5 }),
    fit: on(int(0, 1_000_000), { default: 5 }),
  },
  /** A step phase slower than this many ms is hung: its workers are replaced. Default adaptive: max(30 s, 50 x median step). */
  stepTimeoutMs: {
    doc: 'a step phase slower than this is hung: its workers are replaced',
    flag: 'step-timeout',
    value: 'MS',
    train: on(int(1, 86_400_000), { defaultDoc: 'max(30000, 50 x median step)', deprecated: 'stepTimeout' }),
    fit: on(int(1, 86_400_000), { defaultDoc: 'max(30000, 50 x median step)' }),
  },
  /** Testing aid: `crash|exit|hang|nan@step=S,rank=R[,times=T]` (rank < workers). */
  injectFault: {
    doc: 'testing aid: crash|exit|hang|nan@step=S,rank=R[,times=T]',
    value: 'SPEC',
    train: on(parsed('crash|exit|hang|nan@step=S,rank=R[,times=T]', parseFault)),
    fit: on(parsed('crash|exit|hang|nan@step=S,rank=R[,times=T]', parseFault)),
  },
  /** TensorFlow intra/inter-op threads per worker (tensorflow backend). Default 1. */
  threadsPerWorker: {
    doc: 'TensorFlow intra/inter-op threads per worker (--backend tensorflow)',
    value: 'N',
    train: on(int(1, 256), { default: 1 }),
    fit: on(int(1, 256), { default: 1, doc: 'TensorFlow intra/inter-op threads per worker (tensorflow backend)' }),
  },
  /**
   * 'auto' (default): a chain of Dense layers computes its gradients with the backward pass written
   * out (the dense fast path, docs/ARCHITECTURE.md), any other model on tfjs's tape. 'tape': always
   * the tape (slower; results then follow model.fit's op order exactly). Bench also takes 'both'.
   */
  gradients: {
    doc: "auto|tape: auto computes a chain of Dense layers' gradients without tfjs's tape (faster); tape always uses the tape",
    value: 'HOW',
    train: on(oneOf(['auto', 'tape']), {
      default: 'auto',
      note: "the dense fast path: docs/ARCHITECTURE.md; its gradients equal the tape's to float32 rounding",
    }),
    fit: on(oneOf(['auto', 'tape']), {
      default: 'auto',
      note: "the dense fast path: docs/ARCHITECTURE.md; its gradients equal the tape's to float32 rounding",
    }),
    bench: on(oneOf(['auto', 'tape', 'both']), { default: 'auto', doc: 'threadfit rows: auto (dense fast path), tape, or both (a row of each, same run)' }),
    scale: on(oneOf(['auto', 'tape']), { default: 'auto', doc: 'auto (dense fast path) or tape' }),
  },
  /**
   * The most steps the workers run on their own, without a round trip to the coordinator (Keras's
   * steps_per_execution; docs/ARCHITECTURE.md). Executions end at epoch ends, at the last partial
   * batch and where a checkpoint is due; 1 makes every step a round trip; the weights are the same
   * bits either way. `threadfit train`: default 32 (1 across hosts). parallelFit: default 'auto' = 1 where a callback acts between
   * batches (every batch callback before the next batch, as model.fit), else 32; above 1, an execution's batch callbacks are
   * called once it returns and `model.stopTraining` takes effect after it.
   */
  stepsPerExecution: {
    doc: 'the most steps the workers run without a round trip to the coordinator (1: every step; same weights either way)',
    value: 'N',
    train: on(spe(), {
      default: DEFAULT_STEPS_PER_EXECUTION,
      note:
        "Keras's `steps_per_execution`: less per-step overhead. Executions end at epoch ends, at the last partial batch and where a checkpoint is due; " +
        'a signal stops after the execution in flight (~0.3 s for the reference run at W=2; N x the step time in general)',
    }),
    fit: on(orWord('auto', spe()), {
      default: 'auto',
      doc: "steps the workers run between visits of the fit loop; 'auto': 1 where a callback acts between batches (onBatchBegin, onBatchEnd, onYield: each batch before the next, as model.fit), else 32 (epoch and run callbacks, such as tf.callbacks.earlyStopping, see the same; a round trip per step costs ~0.5-1 ms)",
    }),
    bench: on(intList(1, MAX_STEPS_PER_EXECUTION), {
      default: DEFAULT_STEPS_PER_EXECUTION,
      value: 'LIST',
      doc: 'threadfit rows: steps the workers run per execution, or a list such as 1,32 (a row each, same run)',
    }),
    scale: on(spe(), { default: DEFAULT_STEPS_PER_EXECUTION, doc: 'steps the workers run per execution (1: a round trip per step)' }),
  },
  /** The same weights, bit for bit, for any worker count: microBatches fixed micro-batches per step. Default false. */
  deterministic: {
    doc: 'the same weights, bit for bit, for any worker count (fixed micro-batches)',
    train: on(bool(), { default: false }),
    fit: on(bool(), { default: false }),
  },
  /** Micro-batches per step in deterministic mode. Default 8. */
  microBatches: {
    doc: 'micro-batches per step in deterministic mode',
    value: 'M',
    train: on(int(1, 256), { default: 8 }),
    fit: on(int(1, 256), { default: 8 }),
  },
  /** Gradient accumulation: accumulate x batchSize samples per optimizer step, as accumulate micro-batches per rank. Default 1. */
  accumulate: {
    doc: 'gradient accumulation: N x batch size samples per optimizer step',
    value: 'N',
    train: on(int(1, 1024), { default: 1 }),
    fit: on(int(1, 1024), { default: 1, doc: 'gradient accumulation: accumulate x batchSize samples per optimizer step' }),
  },
  /** Linear learning-rate warm-up over this many (possibly fractional) epochs. Default 0. */
  lrWarmupEpochs: {
    doc: 'linear learning-rate warm-up over the first EPOCHS',
    flag: 'lr-warmup',
    value: 'EPOCHS',
    train: on(
      num((x) => x >= 0, 'a number of epochs >= 0'),
      { default: 0, deprecated: 'lrWarmup' },
    ),
    fit: on(
      num((x) => x >= 0, 'a number of epochs >= 0'),
      { default: 0 },
    ),
  },
  /** 'linear': the linear scaling rule, lr x (batchSize x accumulate) / lrBaseBatch. Default 'none'. */
  lrScale: {
    doc: 'none|linear (lr x effective batch / --lr-base-batch)',
    value: 'RULE',
    train: on(oneOf(['none', 'linear']), { default: 'none' }),
    fit: on(oneOf(['none', 'linear']), { default: 'none', doc: 'none|linear (lr x batchSize x accumulate / lrBaseBatch)' }),
  },
  /** Reference batch of the linear scaling rule. Default 128. Needs lrScale 'linear'. */
  lrBaseBatch: {
    doc: 'reference batch of the linear scaling rule',
    value: 'N',
    train: on(int(1, 1 << 24), { default: 128 }),
    fit: on(int(1, 1 << 24), { default: 128 }),
  },
  /** 'none' (default), 'cosine[:MIN_LR]' or 'step:EVERY_EPOCHS:GAMMA', after the warm-up. */
  lrDecay: {
    doc: 'none | cosine[:MIN_LR] | step:EVERY_EPOCHS:GAMMA',
    value: 'SCHED',
    train: on(parsed('none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA', parseLrDecay), { default: 'none' }),
    fit: on(parsed('none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA', parseLrDecay), { default: 'none' }),
  },
  /** Elastic resize: called at every epoch end, returns the worker count for the next epoch (1..workers). */
  workersForEpoch: {
    doc: 'elastic resize at an epoch boundary: returns the worker count of the next epoch',
    fit: on(fn<(epoch: number) => number | undefined>()),
  },
} satisfies Record<string, OptionEntry>;
