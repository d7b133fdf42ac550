export { Trainer, type TrainerConfig, type StepStats, type StepMs, type EvalStats } from './engine/trainer.js';
export { runFitLoop, type FitCallbacks, type FitLoopOptions, type FitResult, type Logs, type EpochRecord } from './fit/fit-loop.js';
export { runTraining, coordinatorTf } from './cli/train.js';
export { validateTrainOptions, TRAIN_DEFAULTS, type TrainOptions, type ResolvedTrainOptions, type ReliabilityOptions } from './options/train-options.js';
export { loadImageDataset, bundledMnistDir, MNIST_FILES, MNIST_MD5, type ImageDataset } from './data/mnist.js';
export { shareImageDataset, type SharedDataset } from './data/dataset.js';
export { buildSeedModel } from './data/seed-model.js';
export { modelSpecOf, weightsSha256 } from './engine/model-spec.js';
export { ProgressReporter } from './fit/progress.js';
export type { TrainReport } from './cli/report.js';
export { learningCurvesSpec, writeLearningCurves, readReport, checkPlottable, CURVE_SPLITS, type EpochHistory, type PlottableReport } from './cli/plot.js';
export { renderSvg } from './cli/chart-svg.js';
export { VERSION } from './version.js';
export { installWasmMatMulFix, installWasmGradientKernels, installTensorflowReluGrad, isTensorflowReluGradInstalled } from '@threadfit/worker';
export {
  writeCheckpoint,
  listCheckpoints,
  checkpointRecords,
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
  type CheckpointRecord,
  type WrittenCheckpoint,
  type CheckpointExpectation,
  type LoadedCheckpoint,
  type LoadResult,
  type WriteCheckpointOptions,
  checkpointWeightSpecs,
  readOptimizerSlots,
  restoreOptimizerState,
  checkpointIOHandler,
} from './checkpoint/index.js';
export { runEvaluate, validateEvaluateOptions, resolveCheckpoint, type EvaluateOptions, type EvaluateReport } from './cli/evaluate.js';
export { parallelFit, type ParallelFitOptions } from './fit/parallel-fit.js';
export { parallelFitDataset, RING_BYTES, type ParallelFitDatasetOptions, type DatasetLike } from './fit/parallel-fit-dataset.js';
export { releaseWarmWorkers, warmTakeovers, WARM_IDLE_MS } from './fit/warm-workers.js';
export { FIT_DEFAULTS } from './options/fit-options.js';
export type { TensorInput, ShapedArray } from './fit/tensor-dataset.js';
export {
  buildZooModel,
  buildSeededZooModel,
  zooData,
  ZOO_MODELS,
  ZOO_TRAINING,
  type ZooModelName,
  type ZooSize,
  type ZooData,
  type ZooTraining,
} from './zoo/index.js';
