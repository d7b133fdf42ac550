/**
 * What a person watching a run sees on stdout: on a terminal, a live bar per epoch (step,
 * samples/s, ETA, running loss and metrics) redrawn at most 10 times a second, then a Keras-like
 * line per epoch; off a terminal, only the epoch lines.
 */
import type { Writable } from 'node:stream';
import type { FitCallbacks, Logs } from './fit-loop.js';

export interface ProgressOptions {
  epochs: number;
  /** Unknown (a dataset of unknown size): the live line counts batches, with no bar or ETA. */
  stepsPerEpoch: number | undefined;
  out: Writable & { isTTY?: boolean; columns?: number };
  /** Live bar on (default: when `out` is a terminal). */
  live?: boolean;
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4));
const rate = (x: number): string => Math.round(x).toLocaleString('en-US');

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

export class ProgressReporter implements FitCallbacks {
  readonly #o: ProgressOptions;
  readonly #live: boolean;
  #epochStart = 0;
  #lastDraw = 0;
  #epochNo = 0;
  #seen = 0;
  #sums: Record<string, number> = {};

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#live = o.live ?? o.out.isTTY === true;
  }

  onEpochBegin(epoch: number): void {
    this.#epochNo = epoch + 1;
    this.#epochStart = performance.now();
    this.#lastDraw = 0;
    this.#seen = 0;
    this.#sums = {};
  }

  onBatchEnd(batch: number, logs: Logs = {}): void {
    const size = logs.size ?? 0;
    this.#seen += size;
    for (const [k, v] of Object.entries(logs)) if (k !== 'batch' && k !== 'size') this.#sums[k] = (this.#sums[k] ?? 0) + v * size;
    if (!this.#live) return;
    const now = performance.now();
    const last = batch + 1 === this.#o.stepsPerEpoch;
    if (!last && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const elapsed = (now - this.#epochStart) / 1000;
    const done = batch + 1;
    const total = this.#o.stepsPerEpoch;
    const metrics = Object.entries(this.#sums)
      .map(([k, v]) => `${k} ${fmt(v / this.#seen)}`)
      .join('  ');
    let line =
      total === undefined ? `${this.#prefix()} batch ${done}  ${rate(this.#seen / elapsed)} samples/s  ${metrics}` : this.#bar(done, total, elapsed, metrics);
    const cols = this.#o.out.columns ?? 120;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    this.#o.out.write(`\r\x1b[2K${line}`);
  }

  #bar(done: number, total: number, elapsed: number, metrics: string): string {
    const width = 24;
    const filled = Math.round((done / total) * width);
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (done === total ? '=' : '>') : '') + ' '.repeat(width - filled);
    const eta = (elapsed / done) * (total - done);
    return `${this.#prefix()} [${bar}] ${String(done).padStart(String(total).length)}/${total}  ${rate(this.#seen / elapsed)} samples/s  ETA ${duration(eta)}  ${metrics}`;
  }

  onEpochEnd(_epoch: number, logs: Logs = {}): void {
    const seconds = (performance.now() - this.#epochStart) / 1000;
    // Training figures first, then their val_ twins (model.fit's logs hold val_ first).
    const keys = [...Object.keys(logs).filter((k) => !k.startsWith('val_')), ...Object.keys(logs).filter((k) => k.startsWith('val_'))];
    const metrics = keys.map((k) => `${k}: ${fmt(logs[k])}`).join(' - ');
    const clear = this.#live ? '\r\x1b[2K' : '';
    this.#o.out.write(`${clear}${this.#prefix()} - ${duration(seconds)} - ${metrics}\n`);
  }

  #prefix(): string {
    return `Epoch ${this.#epochNo}/${this.#o.epochs}`;
  }
}
