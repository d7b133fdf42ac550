/**
 * The worker-thread entry that piscina loads. The only file here that knows about threads:
 * it builds the backend, the replica and the updater once from workerData, then serves tasks.
 */
// piscina passes the pool's workerData as the thread's own: read it from worker_threads, so that a
// worker does not load piscina's pool-side module (~12-16 ms of its start-up) for one field.
import { threadId, workerData } from 'node:worker_threads';
import { StateViews, serializeError, type Task, type TaskResult, type WorkerInit } from '@threadfit/shared/core';
import { setupBackend } from './backend.js';
import { Replica } from './replica.js';
import { ChunkUpdater } from './updater.js';
import { importWorkerSetup } from './worker-setup.js';
import { execute } from './execution.js';

const init = workerData as WorkerInit;

async function start(): Promise<(task: Task) => TaskResult | Promise<TaskResult>> {
  const tf = await setupBackend({ backend: init.backend, threads: init.threadsPerWorker });
  // Custom layers, losses or ops register themselves when their module is imported.
  if (init.workerSetup !== undefined) await importWorkerSetup(init.workerSetup);
  const replica = await Replica.create(tf, init);
  const updater = new ChunkUpdater(init.stateMemory, init.stateLayout, init.optimizer, init.commModule);
  const views = new StateViews(init.stateMemory.buffer as unknown as SharedArrayBuffer, init.stateLayout);
  const handle = (task: Task): TaskResult | Promise<TaskResult> => {
    switch (task.type) {
      case 'init':
        return { type: 'init', backend: tf.getBackend(), threadId, gradPath: replica.gradPath, nativeKind: replica.nativeKind };
      case 'execute':
        return execute(task, replica, updater, views);
      case 'evaluate':
        return replica.evaluate(task);
    }
  };
  // An error crossing the thread boundary by structured clone keeps only name, message and
  // stack: send it as a result the pool turns back into a rejection, code included.
  const fail = (err: unknown): TaskResult => ({ type: 'error', error: serializeError(err) });
  return (task: Task): TaskResult | Promise<TaskResult> => {
    try {
      const result = handle(task);
      return result instanceof Promise ? result.catch(fail) : result;
    } catch (err) {
      return fail(err);
    }
  };
}

// piscina accepts a promise for the handler: the set-up runs once per worker, before its first task.
export default start().catch((err: unknown) => {
  // Surface set-up failures on every task, with their original message and code.
  const error = serializeError(err);
  return (): TaskResult => ({ type: 'error', error });
});
