/**
 * Training progress as structured log lines (pino): one `info` line per epoch and, at `debug`, one
 * per step — with `--log-format json`, lines a log pipeline can ingest (epoch, step, loss,
 * metrics, samples/s). The people-facing progress bar is progress.ts.
 */
import type { Logger } from '@threadfit/shared';
import type { FitCallbacks, Logs } from './fit-loop.js';

export class LogReporter implements FitCallbacks {
  #epochStart = 0;
  #seen = 0;
  #epoch = 0;
  constructor(private readonly log: Logger) {}

  onEpochBegin(epoch: number): void {
    this.#epoch = epoch + 1;
    this.#epochStart = performance.now();
    this.#seen = 0;
  }

  onBatchEnd(batch: number, logs: Logs = {}): void {
    this.#seen += logs.size ?? 0;
    if (!this.log.isLevelEnabled('debug')) return;
    const { batch: _b, size: _s, ...metrics } = logs;
    const seconds = (performance.now() - this.#epochStart) / 1000;
    this.log.debug({ epoch: this.#epoch, step: batch + 1, ...metrics, samplesPerSec: Math.round(this.#seen / seconds) }, 'step');
  }

  onEpochEnd(epoch: number, logs: Logs = {}): void {
    const seconds = (performance.now() - this.#epochStart) / 1000;
    this.log.info({ epoch: epoch + 1, ...logs, seconds: Number(seconds.toFixed(3)), samplesPerSec: Math.round(this.#seen / seconds) }, 'epoch');
  }
}
