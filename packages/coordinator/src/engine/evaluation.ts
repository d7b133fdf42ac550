/** Loss and metrics of a whole split with the committed weights, shared across the workers. */
import { shardRanges, type EvaluateResult } from '@threadfit/shared';
import type { WorkerPool } from './pool.js';
import { isRetryable } from './faults.js';
import type { Supervisor } from './supervisor.js';

export interface EvalStats {
  count: number;
  loss: number;
  metrics: number[];
}

export interface EvaluationSpec {
  split: string;
  /** Rows in the split. */
  count: number;
  /** The committed step whose weights (in buffer `from`) are evaluated. */
  step: number;
  from: 0 | 1;
  /** The training batch size: a fixed step timeout scales by the split's batches. */
  maxBatch: number;
}

/**
 * One task per active worker over a contiguous part of the split. Read-only, so safe to repeat: a
 * failed or hung evaluation runs again, within the supervisor's restart budget.
 */
export async function evaluateSplit(pool: WorkerPool, supervisor: Supervisor, e: EvaluationSpec): Promise<EvalStats> {
  const parts = shardRanges(e.count, supervisor.activeWorkers).filter((r) => r.end > r.start);
  const timeoutMs = Math.max(supervisor.clock.timeoutMs, (supervisor.fixedStepTimeoutMs ?? 0) * Math.ceil(e.count / e.maxBatch));
  for (;;) {
    const aborts = parts.map(() => new AbortController());
    // A hung part: aborting its task makes piscina terminate and replace its worker.
    const timer = setTimeout(() => aborts.forEach((a) => a.abort()), timeoutMs);
    const settled = await Promise.allSettled(
      parts.map((r, i) => pool.run({ type: 'evaluate', split: e.split, step: e.step, from: e.from, start: r.start, end: r.end }, aborts[i].signal)),
    );
    clearTimeout(timer);
    const failed = settled.find((x) => x.status === 'rejected');
    if (failed === undefined) {
      const results = settled.map((x) => (x as PromiseFulfilledResult<EvaluateResult>).value);
      const lossSum = results.reduce((a, r) => a + r.lossSum, 0);
      const metricSums = (results[0]?.metricSums ?? []).map((_, i) => results.reduce((a, r) => a + r.metricSums[i], 0));
      return { count: e.count, loss: lossSum / e.count, metrics: metricSums.map((s) => s / e.count) };
    }
    if (!isRetryable(failed.reason)) throw failed.reason;
    supervisor.onFailedEvaluation(e.split, failed.reason);
  }
}
