/** A typed piscina pool of threadfit workers: one task in flight per worker, all started up front. */
import { Piscina } from 'piscina';
import { workerEntryUrl } from '@threadfit/worker';
import type { Task, ResultOf, WorkerInit } from '@threadfit/shared';

export class WorkerPool {
  readonly #piscina: Piscina;
  constructor(init: WorkerInit, readonly size: number) {
    this.#piscina = new Piscina({
      filename: workerEntryUrl.href,
      workerData: init,
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      // Every worker holds a replica; an unbounded queue would only hide a stuck step.
      maxQueue: size * 4,
    });
  }

  run<T extends Task>(task: T): Promise<ResultOf<T>> {
    return this.#piscina.run(task) as Promise<ResultOf<T>>;
  }

  get threads(): number {
    return this.#piscina.threads.length;
  }

  async close(): Promise<void> {
    await this.#piscina.destroy();
  }
}
