/**
 * The worker-thread entry that piscina loads. The only file here that knows about threads:
 * it builds the backend, the replica and the updater once from workerData, then serves tasks.
 */
import { threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import { serializeError, type Task, type TaskResult, type WorkerInit } from '@threadfit/shared';
import { setupBackend } from './backend.js';
import { Replica } from './replica.js';
import { ChunkUpdater } from './updater.js';
import { importWorkerSetup } from './worker-setup.js';
import { faultAfter, faultBefore } from './faults.js';

const init = workerData as WorkerInit;

async function start(): Promise<(task: Task) => TaskResult> {
  const tf = await setupBackend({ backend: init.backend, threads: init.threadsPerWorker });
  // Custom layers, losses or ops register themselves when their module is imported.
  if (init.workerSetup !== undefined) await importWorkerSetup(init.workerSetup);
  const replica = await Replica.create(tf, init);
  replica.probe();
  const updater = new ChunkUpdater(init.stateMemory, init.stateLayout, init.optimizer);
  return (task: Task): TaskResult => {
    switch (task.type) {
      case 'init':
        return { type: 'init', backend: tf.getBackend(), threadId };
      case 'grad': {
        faultBefore(task.fault, `grad task of rank ${task.rank}, step ${task.step}`);
        const result = replica.grad(task);
        faultAfter(task.fault, replica.gradSlot(task.micro[0].slot));
        return result;
      }
      case 'update':
        return updater.update(task);
      case 'evaluate':
        return replica.evaluate(task);
    }
  };
}

// piscina accepts a promise for the handler: the set-up runs once per worker, before its first task.
export default start().catch((err: unknown) => {
  // Surface set-up failures on every task with their original message and code.
  const e = serializeError(err);
  return () => {
    const rebuilt = new Error(e.message) as Error & { code?: string };
    rebuilt.name = e.name;
    if (e.code) rebuilt.code = e.code;
    throw rebuilt;
  };
});
