/**
 * `threadfit train`: the reference run. Loads the data set into shared memory, builds the seed
 * MLP, trains it data-parallel, validates on the test split every epoch, and reports.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import * as tf from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError, optimizerSpecOf, stepsPerEpoch, type Logger } from '@threadfit/shared';
import { checkpointWeightSpecs } from '../checkpoint/optimizer-state.js';
import { CLI_LABELS, RunCheckpoints, epochEndDue, trajectoryOf } from '../checkpoint/policy.js';
import { onStopSignals, type StopSignal } from './signals.js';
import { resolveBackend } from '../engine/backend-choice.js';
import { shareImageDataset } from '../data/dataset.js';
import { runFitLoop, type FitLoopOptions, type FitPosition } from '../fit/fit-loop.js';
import { isConstant, lrAt, peakLr, type LrScheduleOptions } from '../fit/lr-schedule.js';
import { loadImageDataset } from '../data/mnist.js';
import { modelSpecOf, weightsSha256 } from '../engine/model-spec.js';
import { checkBatchFitsData, type ResolvedTrainOptions } from '../options/train-options.js';
import { ProgressReporter } from '../fit/progress.js';
import { LogReporter } from '../fit/log-reporter.js';
import { epochsOf, gradientsKind, gradientsMessage, historyForReport, writeJsonAtomic, type TrainReport } from './report.js';
import { buildSeedModel } from '../data/seed-model.js';
import { Trainer } from '../engine/trainer.js';
import { chooseInterface, loadComm } from '../cluster/comm.js';
import { HostGroup } from '../cluster/host-group.js';
import { VERSION } from '../version.js';

export interface RunIO {
  logger: Logger;
  out: Writable & { isTTY?: boolean; columns?: number };
}

/** Refuses an output path whose directory is missing or read-only before any work is done. */
export function checkWritableFile(file: string, flag: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: directory ${dir} does not exist`);
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: directory ${dir} is not writable`);
  }
  if (existsSync(file) && statSync(file).isDirectory()) throw new ThreadfitError(ErrorCodes.INVALID_OPTION, `${flag} ${file}: is a directory`);
}

/** The coordinator's own tfjs only builds the model and reads its weights: the cpu backend, quiet. */
export async function coordinatorTf(): Promise<typeof tf> {
  tf.env().set('PROD', true);
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  return tf;
}

export interface TrainOutcome {
  report: TrainReport;
  /** Set when a signal stopped the run early (exit 130 / 143). */
  interrupted?: StopSignal;
  /** Where a checkpoint of the final committed state was written, if any. */
  checkpoint?: string;
}

export async function runTraining(o: ResolvedTrainOptions, io: RunIO): Promise<TrainOutcome> {
  const logger = o.cluster === undefined ? io.logger : io.logger.child({ host: o.cluster.launchRank });
  const log = logger.child({ component: 'train' });
  if (o.report !== undefined) checkWritableFile(o.report, '--report');
  const t0 = performance.now();
  const data = loadImageDataset(o.dataDir);
  const shared = shareImageDataset(data);
  checkBatchFitsData(o, shared.trainCount);
  const inputSize = data.train.rows * data.train.cols;
  log.info(
    { dataset: data.name, train: data.train.count, test: data.test.count, ms: Math.round(performance.now() - t0) },
    'data set loaded into shared memory',
  );

  const backend = resolveBackend(o.backend);
  const tfc = await coordinatorTf();
  const model = buildSeedModel(tfc, { seed: o.seed, inputSize, learningRate: o.learningRate });
  const spec = modelSpecOf(model);
  const optimizer = optimizerSpecOf(model.optimizer);
  const weightSpecs = checkpointWeightSpecs(model);
  let initialWeights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();

  const config = { workers: o.workers, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, seed: o.seed, backend, dataset: data.name };
  // One optimizer step takes batchSize x accumulate samples (accumulate micro-batches per rank).
  const stepBatch = o.batchSize * o.accumulate;
  const steps = stepsPerEpoch(shared.trainCount, stepBatch);
  const ckpts =
    o.checkpointDir === undefined
      ? undefined
      : await RunCheckpoints.open(
          o.checkpointDir,
          {
            spec,
            optimizer,
            weightSpecs,
            seed: o.seed,
            dataShape: { inputShape: [inputSize], classes: data.numClasses, trainCount: shared.trainCount },
            config: { ...config, dataDir: o.dataDir },
            trajectory: trajectoryOf({
              ...o,
              shuffle: true,
              optimizer,
              lr: { scale: o.lrScale, baseBatch: o.lrBaseBatch, warmupEpochs: o.lrWarmupEpochs, decay: o.lrDecay, epochs: o.epochs },
            }),
          },
          o.keepCheckpoints,
          log,
          {
            resume: o.resume,
            labels: CLI_LABELS,
            // Every host must name the run alike (rank 0 can change when hosts are lost): from the job, new per run.
            runId: o.cluster === undefined ? undefined : createHash('sha256').update(o.cluster.job).digest('hex').slice(0, 16),
          },
        );
  const resumed = o.resume ? await ckpts!.latest({ epochs: o.epochs, stepsPerEpoch: steps }) : undefined;
  if (o.resume && resumed === undefined) log.warn({ dir: o.checkpointDir }, 'no checkpoint to resume from: starting from the beginning');
  if (resumed !== undefined) initialWeights = resumed.weights;

  const hosts = o.cluster?.worldSize ?? 1;
  const perRank = Math.ceil(o.batchSize / (o.workers * hosts));
  log.info(
    {
      workers: o.workers,
      minWorkers: o.minWorkers,
      backend,
      globalBatch: o.batchSize,
      perWorkerBatch: perRank,
      accumulate: o.accumulate,
      deterministic: o.deterministic,
      params: spec.paramCount,
    },
    `global batch ${o.batchSize * o.accumulate} = ${hosts > 1 ? `${hosts} hosts x ` : ''}${o.workers} workers x ~${perRank}${o.accumulate > 1 ? ` x ${o.accumulate} accumulated` : ''}${o.deterministic ? ` (deterministic: ${o.microBatches} micro-batches)` : ''}`,
  );
  // Across hosts, every host must resume from the same checkpoint (shared storage): compared at the rendezvous.
  const resumedFrom =
    resumed === undefined
      ? null
      : { epoch: resumed.epoch, stepInEpoch: resumed.stepInEpoch, globalStep: resumed.globalStep, weightsSha256: await weightsSha256(resumed.weights) };
  const cluster =
    o.cluster === undefined
      ? undefined
      : await joinHosts(o, { config, stepBatch, trainCount: shared.trainCount, paramCount: spec.paramCount, optimizer, resumedFrom }, logger);
  const trainer = await Trainer.create({
    cluster,
    workers: o.workers,
    minWorkers: o.minWorkers,
    backend,
    model: spec,
    initialWeights,
    dataset: shared,
    maxBatch: stepBatch,
    optimizer,
    seed: o.seed,
    maxRestarts: o.maxRestarts,
    maxSkippedSteps: o.maxSkippedSteps,
    stepTimeoutMs: o.stepTimeoutMs,
    injectFault: o.injectFault,
    logger,
    accumulate: o.accumulate,
    microBatches: o.deterministic ? o.microBatches : undefined,
    threadsPerWorker: o.threadsPerWorker,
    gradients: o.gradients,
    stepsPerExecution: o.stepsPerExecution,
  });
  if (trainer.stepsPerExecution < o.stepsPerExecution && cluster === undefined) {
    log.info({ stepsPerExecution: trainer.stepsPerExecution }, `steps per execution: ${trainer.stepsPerExecution} (bounded by the batch size)`);
  }
  log.info({ gradients: trainer.gradPath, nativeKernels: trainer.nativeKind }, gradientsMessage(trainer.gradPath, trainer.nativeKind));
  const position: FitPosition = { epoch: 0, stepInEpoch: 0, globalStep: 0 };
  const prior = (resumed?.config.history ?? {}) as Record<string, number[]>;
  let history: Record<string, number[]> = prior;
  const stop = onStopSignals((signal) => {
    // Across hosts the request rides on the next step's sum, and every host stops after it.
    trainer.requestStop();
    log.warn(
      { signal },
      `stopping after the step${o.stepsPerExecution > 1 ? 's' : ''} in flight${cluster ? ' (on every host)' : ''} (press Ctrl-C again to exit at once)`,
    );
  });
  let lastCheckpoint: string | undefined;
  try {
    // Hosts start their workers at their own pace: meet before the first step's short timeout.
    await trainer.hostBarrier(HOST_START_TIMEOUT_MS);
    if (resumed !== undefined) {
      ckpts!.restore(trainer, resumed);
      Object.assign(position, { epoch: resumed.epoch, stepInEpoch: resumed.stepInEpoch, globalStep: resumed.globalStep });
      log.info({ checkpoint: resumed.path, epoch: resumed.epoch, stepInEpoch: resumed.stepInEpoch, globalStep: resumed.globalStep }, 'resuming');
    }
    const schedule: LrScheduleOptions = {
      base: o.learningRate,
      scale: o.lrScale,
      baseBatch: o.lrBaseBatch,
      batch: stepBatch,
      warmupEpochs: o.lrWarmupEpochs,
      decay: o.lrDecay,
      epochs: o.epochs,
      stepsPerEpoch: steps,
    };
    if (!isConstant(schedule)) log.info({ peakLr: peakLr(schedule), warmupEpochs: o.lrWarmupEpochs, decay: o.lrDecay.kind }, 'learning-rate schedule');
    const callbacks = o.quiet ? [] : [new ProgressReporter({ epochs: o.epochs, stepsPerEpoch: steps, out: io.out })];
    const merged = (fitHistory: Record<string, number[]>) =>
      Object.fromEntries([...new Set([...Object.keys(prior), ...Object.keys(fitHistory)])].map((k) => [k, [...(prior[k] ?? []), ...(fitHistory[k] ?? [])]]));
    const fitHistory: Record<string, number[]> = {};
    let fit;
    try {
      fit = await runFitLoop(trainer, {
        epochs: o.epochs,
        initialEpoch: position.epoch,
        batchSize: stepBatch,
        shuffle: true,
        seed: o.seed,
        learningRateAt: isConstant(schedule) ? undefined : (step) => lrAt(schedule, step),
        trainCount: shared.trainCount,
        metricNames: ['acc'],
        validationSplit: 'test',
        position,
        callbacks: [
          ...callbacks,
          new LogReporter(log),
          {
            onEpochEnd: (_epoch, logs) => {
              // Only whole epochs go into the checkpointed history: a resumed run records the
              // epoch a signal interrupted when it completes it.
              if (position.stepInEpoch !== steps) return;
              for (const [k, v] of Object.entries(logs ?? {})) (fitHistory[k] ??= []).push(v);
            },
          },
        ],
        shouldStop: () => (cluster ? trainer.stopAgreed : stop.signal !== undefined),
        stepsPerExecution: o.stepsPerExecution,
        ...onHostZero(
          trainer,
          o.checkpointEvery,
          o.epochs,
          ckpts?.hooks(
            trainer,
            o.checkpointEvery,
            o.epochs,
            () => merged(fitHistory),
            (path) => (lastCheckpoint = path),
          ),
        ),
      });
    } catch (err) {
      // Training failed (e.g. past --max-restarts): keep what is committed.
      // (A host the others dropped holds a stale state: it writes nothing.)
      if (ckpts && trainer.hostRank === 0 && !trainer.dropped) {
        const path = await ckpts.writeFinal(trainer, position, merged(fitHistory)).catch(() => undefined);
        if (path) log.error({ checkpoint: path }, `the last committed state was checkpointed; resume with --checkpoint-dir ${ckpts.dir} --resume`);
      }
      throw err;
    }
    history = merged(fit.history);
    // A signal counts only if it stopped the fit loop (one during the final evaluation does not).
    // Across hosts, a host that got no signal stopped because another did: reported as SIGTERM.
    const interrupted = stop.signal ?? (trainer.stopAgreed ? 'SIGTERM' : undefined);
    if (interrupted !== undefined && trainer.stopAgreed && stop.signal === undefined) log.warn('another host was asked to stop: stopped with it');
    // The final committed state is always checkpointed (stopped, or a step count --checkpoint-every does not divide).
    if (ckpts && trainer.hostRank === 0) lastCheckpoint = await ckpts.writeFinal(trainer, position, merged(fitHistory));
    const test = await trainer.evaluate('test');
    const report: TrainReport = {
      threadfit: VERSION,
      // How the gradients were computed is part of what the weights' bits depend on.
      config: {
        ...config,
        gradients: gradientsKind(trainer.gradPath),
        ...(trainer.nativeKind === undefined ? {} : { nativeKernels: trainer.nativeKind }),
      },
      history: historyForReport(history),
      epochs: epochsOf(fit),
      test: { loss: test.loss, acc: test.metrics[0] },
      weightsSha256: await weightsSha256(trainer.committedWeights()),
      ...(cluster && {
        cluster: {
          job: cluster.spec.job,
          hostsAtLaunch: cluster.spec.worldSize,
          hosts: cluster.hosts,
          members: [...cluster.members],
          generation: cluster.generation,
        },
      }),
    };
    // Every host ends with the same weights; one writes the report (a path on shared storage).
    if (o.report !== undefined && trainer.hostRank === 0) writeJsonAtomic(o.report, report);
    if (cluster) log.info({ hostRank: trainer.hostRank, weightsSha256: report.weightsSha256, testAcc: report.test.acc }, 'training done on this host');
    return { report, interrupted, checkpoint: lastCheckpoint };
  } finally {
    stop.dispose();
    await trainer.close();
    cluster?.close();
  }
}

/**
 * Checkpoint hooks that only host rank 0 runs (every host holds the same state; rank 0 can change
 * when hosts are lost). After a checkpoint every host meets, so the time rank 0 spent writing does
 * not count against the next step's collective timeout.
 */
function onHostZero(
  trainer: Trainer,
  every: number | 'epoch',
  epochs: number,
  hooks: Pick<FitLoopOptions, 'afterStep' | 'afterStepDue' | 'afterEpoch'> | undefined,
) {
  if (hooks === undefined) return undefined;
  const wrap = (fn: ((pos: FitPosition) => void | Promise<void>) | undefined, due: (pos: FitPosition) => boolean) =>
    fn &&
    (async (pos: FitPosition) => {
      if (trainer.hostRank === 0) await fn(pos);
      if (trainer.hosts > 1 && due(pos)) await trainer.hostBarrier(CHECKPOINT_BARRIER_TIMEOUT_MS);
    });
  const stepDue = (pos: FitPosition) => hooks.afterStepDue?.(pos.globalStep) ?? false;
  return {
    afterStep: wrap(hooks.afterStep, stepDue),
    afterStepDue: hooks.afterStepDue,
    afterEpoch: wrap(hooks.afterEpoch, (pos) => epochEndDue(every, epochs, pos)),
  };
}

/** How long hosts wait for each other to start their workers, and for rank 0's checkpoint. */
const HOST_START_TIMEOUT_MS = 300_000;
const CHECKPOINT_BARRIER_TIMEOUT_MS = 600_000;

/** Joins the other hosts (generation 0), checking that every host runs the same settings. */
async function joinHosts(
  o: ResolvedTrainOptions,
  run: { config: object; stepBatch: number; trainCount: number; paramCount: number; optimizer: object; resumedFrom: object | null },
  logger: Logger,
): Promise<HostGroup> {
  const spec = o.cluster!;
  const last = run.trainCount % run.stepBatch;
  if (last > 0 && last < spec.worldSize * o.workers) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `the last batch of an epoch has ${last} rows (${run.trainCount} % ${run.stepBatch}), fewer than ${spec.worldSize} hosts x ${o.workers} workers: pick another --batch-size`,
    );
  }
  const comm = await loadComm();
  const iface = await chooseInterface(spec, comm);
  const settings = {
    ...run.config,
    accumulate: o.accumulate,
    lr: [o.lrScale, o.lrBaseBatch, o.lrWarmupEpochs, o.lrDecay],
    trainCount: run.trainCount,
    paramCount: run.paramCount,
    optimizer: run.optimizer,
    hosts: spec.worldSize,
    minHosts: spec.minHosts,
    resumedFrom: run.resumedFrom,
    // What decides when hosts meet or give up: a host that checkpoints meets the others after
    // each checkpoint, and the comm timeout sizes the re-form's settle window.
    checkpoints: o.checkpointDir === undefined ? null : o.checkpointEvery,
    commTimeout: spec.commTimeoutMs ?? 'adaptive',
    maxRestarts: o.maxRestarts,
  };
  return HostGroup.join(spec, comm, { chunks: o.workers, settings, iface, log: logger.child({ component: 'cluster' }) });
}
