/** Simulated faults for `--inject-fault` (a testing aid): each one fails a task the way real code does. */
import type { FaultKind } from '@threadfit/shared/core';

/** Faults that strike before the gradients are computed. */
export function faultBefore(kind: FaultKind | undefined, where: string): void {
  switch (kind) {
    case 'crash':
      throw new Error(`injected crash in ${where}`);
    case 'exit':
      // In a worker thread this ends the thread, not the process: what a native crash looks like to piscina.
      process.exit(70);
      break;
    case 'hang':
      // Block this thread for good, as a deadlocked kernel would; only terminating it ends this.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      break;
    default:
      break;
  }
}

/** Faults that strike after: 'nan' poisons the gradient slot the task just wrote. */
export function faultAfter(kind: FaultKind | undefined, slot: Float32Array): void {
  if (kind === 'nan') slot[0] = Number.NaN;
}
