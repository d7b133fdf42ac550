/**
 * The worker-thread entry that piscina loads. The only file here that knows about threads:
 * it builds the backend, the replica and the updater once from workerData, then serves tasks.
 */
import { threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import { StateViews, serializeError, type Task, type TaskResult, type WorkerInit } from '@threadfit/shared';
import { setupBackend } from './backend.js';
import { Replica } from './replica.js';
import { ChunkUpdater } from './updater.js';
import { importWorkerSetup } from './worker-setup.js';
import { faultAfter, faultBefore } from './faults.js';
import { arriveAndWait, checkAttempt } from './barrier.js';

const init = workerData as WorkerInit;

async function start(): Promise<(task: Task) => TaskResult> {
  const tf = await setupBackend({ backend: init.backend, threads: init.threadsPerWorker });
  // Custom layers, losses or ops register themselves when their module is imported.
  if (init.workerSetup !== undefined) await importWorkerSetup(init.workerSetup);
  const replica = await Replica.create(tf, init);
  replica.probe();
  const updater = new ChunkUpdater(init.stateMemory, init.stateLayout, init.optimizer);
  const control = new StateViews(init.stateMemory.buffer as unknown as SharedArrayBuffer, init.stateLayout).control;
  const handle = (task: Task): TaskResult => {
    switch (task.type) {
      case 'init':
        return { type: 'init', backend: tf.getBackend(), threadId };
      case 'step': {
        const g = task.grad;
        faultBefore(g.fault, `the step task of rank ${g.rank}, step ${g.step}`);
        const grad = replica.grad(g);
        faultAfter(g.fault, replica.gradSlot(g.micro[0].slot));
        // Sync point: every rank's slots are written before any rank reduces them.
        const waitMs = arriveAndWait(control, task.parties, task.barrierTimeoutMs, task.attempt);
        checkAttempt(control, task.attempt);
        const update = updater.update(task.update);
        return { type: 'step', grad, update, waitMs };
      }
      case 'evaluate':
        return replica.evaluate(task);
    }
  };
  // An error crossing the thread boundary by structured clone keeps only name, message and
  // stack: send it as a result the pool turns back into a rejection, code included.
  return (task: Task): TaskResult => {
    try {
      return handle(task);
    } catch (err) {
      return { type: 'error', error: serializeError(err) };
    }
  };
}

// piscina accepts a promise for the handler: the set-up runs once per worker, before its first task.
export default start().catch((err: unknown) => {
  // Surface set-up failures on every task, with their original message and code.
  const error = serializeError(err);
  return (): TaskResult => ({ type: 'error', error });
});
