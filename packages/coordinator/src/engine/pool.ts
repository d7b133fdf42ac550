/** A typed piscina pool of threadfit workers: one task in flight per worker, all started up front. */
import { Piscina } from 'piscina';
import { workerEntryUrl } from '@threadfit/worker';
import { deserializeError, type ErrorResult, type Task, type ResultOf, type WorkerInit } from '@threadfit/shared';

/** V8 young-generation size of each worker isolate, MB. */
const YOUNG_GENERATION_MB = 2;

export class WorkerPool {
  readonly #piscina: Piscina;
  constructor(
    init: WorkerInit,
    readonly size: number,
    onError?: (err: unknown) => void,
  ) {
    this.#piscina = new Piscina({
      filename: workerEntryUrl.href,
      workerData: init,
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      // Every worker holds a replica; an unbounded queue would only hide a stuck step.
      maxQueue: size * 4,
      // A worker's garbage is short-lived (tensor wrappers, closures): V8's default young
      // generation (16 MB semi-spaces) sits mostly empty but resident. 2 MB took 10-13 MB of RSS
      // off each worker with no measurable step-time cost (docs/PERFORMANCE.md, "Memory").
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    // A worker failing outside a task (e.g. while being replaced) must not crash the process:
    // the task-level errors are what the trainer acts on.
    this.#piscina.on('error', (err: unknown) => onError?.(err));
  }

  /** Runs a task; aborting `signal` while it runs terminates its worker (piscina replaces it). */
  async run<T extends Task>(task: T, signal?: AbortSignal): Promise<ResultOf<T>> {
    const result = (await this.#piscina.run(task, signal ? { signal } : undefined)) as ResultOf<T> | ErrorResult;
    // A worker's error comes back as a result so that its code survives the thread boundary.
    if ((result as ErrorResult).type === 'error') throw deserializeError((result as ErrorResult).error);
    return result as ResultOf<T>;
  }

  async close(): Promise<void> {
    await this.#piscina.destroy();
  }
}
