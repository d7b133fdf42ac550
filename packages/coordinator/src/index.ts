export { Trainer, type TrainerConfig, type StepStats, type StepMs, type EvalStats } from './trainer.js';
export { runFitLoop, type FitCallbacks, type FitLoopOptions, type FitResult, type Logs, type EpochRecord } from './fit-loop.js';
export { runTraining, coordinatorTf } from './train.js';
export { validateTrainOptions, TRAIN_DEFAULTS, type TrainOptions, type ResolvedTrainOptions, type ReliabilityOptions } from './options.js';
export { loadImageDataset, bundledMnistDir, MNIST_FILES, MNIST_MD5, type ImageDataset } from './mnist.js';
export { shareImageDataset, type SharedDataset } from './dataset.js';
export { buildSeedModel } from './seed-model.js';
export { modelSpecOf, weightsSha256 } from './model-spec.js';
export { ProgressReporter } from './progress.js';
export type { TrainReport } from './report.js';
export { learningCurvesSpec, writeLearningCurves, readReport, checkPlottable, CURVE_SPLITS, type EpochHistory, type PlottableReport } from './plot.js';
export { renderSvg } from './chart-svg.js';
export { VERSION } from './version.js';
export { installWasmMatMulFix } from '@threadfit/worker';
export {
  writeCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  checkCheckpointDir,
  checkCompatible,
  checkpointName,
  CorruptCheckpointError,
  CHECKPOINT_FILES,
  type CheckpointState,
  type CheckpointWeightSpec,
  type OptimizerSlot,
  type DataShape,
  type CheckpointEntry,
  type CheckpointExpectation,
  type LoadedCheckpoint,
  type LoadResult,
  type WriteCheckpointOptions,
} from './checkpoint.js';
export { checkpointWeightSpecs, readOptimizerSlots, restoreOptimizerState } from './checkpoint-state.js';
export { checkpointIOHandler } from './checkpoint-io.js';
export { runEvaluate, validateEvaluateOptions, resolveCheckpoint, type EvaluateOptions, type EvaluateReport } from './evaluate.js';
export { parallelFit, type ParallelFitOptions } from './parallel-fit.js';
export { FIT_DEFAULTS } from './fit-options.js';
export type { TensorInput, ShapedArray } from './tensor-dataset.js';
