#!/usr/bin/env node
/**
 * The threadfit CLI. Exit codes: 0 done, 1 training failed, 2 bad input (flag, file or data),
 * with the usage and the bad value on stderr.
 */
import { ErrorCodes, createLogger, invalidOption, type LevelWithSilent, type LogFormat } from '@threadfit/shared';
import { runBench } from '../bench/bench.js';
import { validateBenchOptions, validateScaleOptions } from '../bench/options.js';
import { runScale } from '../bench/scale.js';
import { parseFlags, usage, UsageError, type FlagSpec } from './args.js';
import { flagsOn, resolveOn } from '../options/surfaces.js';
import { runEvaluate, validateEvaluateOptions } from './evaluate.js';
import { validateTrainOptions } from '../options/train-options.js';
import { defaultPlotPath, epochCount, readReport, writeLearningCurves } from './plot.js';
import { checkWritableFile, runTraining } from './train.js';
import { runModelTraining } from './train-model.js';
import { hostTable } from './report.js';
import { SIGNAL_EXIT_CODES } from './signals.js';
import { VERSION } from '../version.js';

const EXIT_BAD_INPUT = 2;
const EXIT_FAILED = 1;

// Every command's flags, their defaults and help lines come from the one schema (options/schema.ts).
const TRAIN_FLAGS = flagsOn('train');
const BENCH_FLAGS = flagsOn('bench');
const SCALE_FLAGS = flagsOn('scale');
const EVALUATE_FLAGS = flagsOn('evaluate');
const PLOT_FLAGS = flagsOn('plot');

/** A path flag the options validator does not know (it is the CLI's own): non-empty, in a writable directory. */
function outputPath(v: unknown, flag: string): string {
  if (typeof v !== 'string' || v.length === 0) throw invalidOption(flag, v, 'a non-empty path', 'flag');
  checkWritableFile(v, flag);
  return v;
}

interface Command {
  summary: string;
  /** Positional arguments, for the usage line. */
  args?: string;
  flags: FlagSpec[];
  run(options: Record<string, unknown>, positionals: string[]): Promise<number>;
}

function defaultLogFormat(): LogFormat {
  return process.stderr.isTTY ? 'pretty' : 'json';
}

const COMMANDS: Record<string, Command> = {
  train: {
    summary:
      'Train the seed MLP (Dense 512 relu -> Dense 10 softmax, Adam) on MNIST across worker threads,\nvalidating on the test set after every epoch; or, with --model FILE, your own tfjs Layers model on\nIDX (--data-dir) or CSV (--data) data.',
    flags: TRAIN_FLAGS,
    async run({ plot, ...options }) {
      const o = validateTrainOptions({ logFormat: defaultLogFormat(), ...options }, 'flag');
      // Checked before training, as --report is: a bad path must not cost a whole run.
      const plotFile = plot === undefined ? undefined : outputPath(plot, '--plot');
      const logger = createLogger({ level: o.logLevel as LevelWithSilent, format: o.logFormat });
      const run = o.model === undefined ? runTraining : runModelTraining;
      const { report, interrupted, checkpoint } = await run(o, { logger, out: process.stdout });
      const plotted = plotFile !== undefined && epochCount(report.history) > 0;
      if (plotted) await writeLearningCurves(report, plotFile);
      else if (plotFile !== undefined) process.stderr.write(`threadfit train: no epoch finished, so no learning curves were written to ${plotFile}\n`);
      if (!o.quiet) {
        if (o.model === undefined) process.stdout.write(`Test: loss ${report.test.loss.toFixed(4)} - acc ${report.test.acc.toFixed(4)}\n`);
        else if (Number.isFinite(report.test.loss))
          process.stdout.write(
            `Validation: loss ${report.test.loss.toFixed(4)}${Number.isFinite(report.test.acc) ? ` - acc ${report.test.acc.toFixed(4)}` : ''}\n`,
          );
        if (o.saveModel !== undefined) process.stdout.write(`Model saved to ${o.saveModel}/model.json\n`);
        if (o.report) process.stdout.write(`Report written to ${o.report}\n`);
        if (plotted) process.stdout.write(`Learning curves written to ${plotFile}\n`);
        const hosts = report.epochs.at(-1)?.hosts;
        if (hosts !== undefined) process.stdout.write(`Hosts in the last epoch:\n${hostTable(hosts)}\n`);
      }
      if (interrupted !== undefined) {
        const how =
          checkpoint !== undefined
            ? `the committed state is in ${checkpoint}; resume with the same flags plus --resume`
            : 'no --checkpoint-dir was given, so nothing was saved';
        process.stderr.write(`threadfit train: stopped by ${interrupted}; ${how}\n`);
        return SIGNAL_EXIT_CODES[interrupted];
      }
      return 0;
    },
  },
  bench: {
    summary:
      'Benchmark the seed MLP on MNIST at one global batch: stock tfjs model.fit in one thread (without and with\n' +
      "threadfit's wasm BatchMatMul fix), then threadfit at each worker count; one child process per configuration.\n" +
      'Prints a table (stdout) and progress (stderr). The defaults (10 warm-up + 3 x 100 timed steps per\n' +
      'configuration) take about 1-2 minutes on a quiet 2-core machine, most of it in the stock fit.',
    flags: BENCH_FLAGS,
    async run(options) {
      await runBench(validateBenchOptions(options, 'flag'), { out: process.stdout, err: process.stderr });
      return 0;
    },
  },
  scale: {
    summary:
      'Scaling experiments of threadfit on the seed MLP: strong scaling (global batch fixed) and weak scaling\n' +
      '(per-worker batch fixed) over W workers; samples/s, speed-up, efficiency and the step-time breakdown.\n' +
      'Writes scale.csv, scale.json and SVG charts to --out. The defaults (5 warm-up + 3 x 50 timed steps, 3\n' +
      'series x 2x cores configurations) take about 1-2 minutes on a quiet 2-core machine.',
    flags: SCALE_FLAGS,
    async run(options) {
      await runScale(validateScaleOptions(options, 'flag'), { out: process.stdout, err: process.stderr });
      return 0;
    },
  },
  plot: {
    summary:
      'Draw the learning curves of a training run from its JSON report (threadfit train --report FILE): loss and\n' +
      'each metric per epoch, train and validation, one panel each, as an SVG chart.',
    args: 'REPORT.json',
    flags: PLOT_FLAGS,
    async run(options, positionals) {
      if (positionals.length !== 1) throw new UsageError(`expected one report file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
      const [reportFile] = positionals;
      const o = resolveOn('plot', options, 'flag').options;
      const out = outputPath(o.out ?? defaultPlotPath(reportFile), o.out === undefined ? 'output' : '-o');
      await writeLearningCurves(readReport(reportFile), out);
      process.stdout.write(`Learning curves written to ${out}\n`);
      return 0;
    },
  },
  evaluate: {
    summary:
      'Print the test loss and accuracy of a checkpoint (the newest valid one of a --checkpoint-dir,\nor one ckpt-* directory), evaluated across worker threads.',
    flags: EVALUATE_FLAGS,
    async run(options) {
      const o = validateEvaluateOptions({ logFormat: defaultLogFormat(), ...options }, 'flag');
      const logger = createLogger({ level: o.logLevel, format: o.logFormat });
      await runEvaluate(o, { logger, out: process.stdout });
      return 0;
    },
  },
};

function topUsage(): string {
  const cmds = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary.split('\n')[0]}`);
  return `threadfit ${VERSION}: data-parallel TensorFlow.js training across worker threads\n\nUsage: threadfit <command> [options]\n\nCommands:\n${cmds.join('\n')}\n\nRun 'threadfit <command> --help' for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return name === undefined ? EXIT_BAD_INPUT : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`threadfit: unknown command '${name}'\n\n${topUsage()}`);
    return EXIT_BAD_INPUT;
  }
  try {
    const { options, help, positionals } = parseFlags(rest, command.flags);
    if (help) {
      process.stdout.write(usage(name, command.summary, command.flags, command.args));
      return 0;
    }
    if (command.args === undefined && positionals.length > 0) {
      throw new UsageError(`unexpected argument '${positionals[0]}': threadfit ${name} takes flags only (a value needs its flag, e.g. --epochs 3)`);
    }
    return await command.run(options, positionals);
  } catch (err) {
    const e = err as Error & { code?: string };
    const badInput =
      e instanceof UsageError ||
      e.code === ErrorCodes.INVALID_OPTION ||
      e.code === ErrorCodes.BAD_DATA ||
      e.code === ErrorCodes.CHECKSUM ||
      e.code === ErrorCodes.BACKEND;
    if (badInput) {
      process.stderr.write(`threadfit ${name}: ${e.message}\n\n${usage(name, command.summary, command.flags, command.args)}`);
      return EXIT_BAD_INPUT;
    }
    // Our own errors say what happened; a stack only helps for the unexpected ones.
    const ours = typeof e.code === 'string' && e.code.startsWith('ERR_THREADFIT_');
    process.stderr.write(`threadfit ${name}: failed: ${ours ? e.message : (e.stack ?? e.message)}\n`);
    return EXIT_FAILED;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`threadfit: ${String(err)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
