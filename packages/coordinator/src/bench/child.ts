/**
 * The child process that measures ONE configuration (forked by runner.ts). A fresh process per
 * configuration keeps each run's peak RSS its own (maxRSS only ever grows within a process) and
 * keeps the stock run's BatchMatMul fix (a global kernel registration) from leaking into the next.
 */
import { serializeError } from '@threadfit/shared';
import { ChildMessageTypes, RunKinds, type ChildMessage, type RunConfig } from './protocol.js';
import { runStockFit } from './stock-fit.js';
import { runThreadfit } from './threadfit-run.js';
import { runThreadfitDataset } from './dataset-run.js';
import { runZoo } from './zoo-run.js';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, () => resolve()));
}

async function measure(cfg: RunConfig): Promise<void> {
  const progress = (text: string) => void send({ type: ChildMessageTypes.PROGRESS, text });
  try {
    const measurement =
      cfg.kind === RunKinds.STOCK
        ? await runStockFit(cfg, progress)
        : cfg.kind === RunKinds.ZOO
          ? await runZoo(cfg, progress)
          : cfg.input === 'dataset'
            ? await runThreadfitDataset(cfg, progress)
            : await runThreadfit(cfg, progress);
    await send({ type: ChildMessageTypes.RESULT, measurement });
  } catch (err) {
    await send({ type: ChildMessageTypes.ERROR, error: serializeError(err) });
  }
  // Exit at once: the result is delivered, and nothing (a tfjs timer, a closing pool) may hold us.
  process.exit(0);
}

if (process.send === undefined) {
  process.stderr.write('threadfit bench child: start me with child_process.fork (an IPC channel is needed)\n');
  process.exit(2);
}
process.once('message', (cfg: RunConfig) => void measure(cfg));
