#!/usr/bin/env node
/**
 * The threadfit CLI. Exit codes: 0 done, 1 training failed, 2 bad input (flag, file or data),
 * with the usage and the bad value on stderr.
 */
import { ErrorCodes, createLogger, invalidOption, type LevelWithSilent, type LogFormat } from '@threadfit/shared';
import { runBench } from '../bench/bench.js';
import { BENCH_DEFAULTS, SCALE_DEFAULTS, validateBenchOptions, validateScaleOptions } from '../bench/options.js';
import { runScale } from '../bench/scale.js';
import { parseFlags, usage, UsageError, type FlagSpec } from './args.js';
import { runEvaluate, validateEvaluateOptions } from './evaluate.js';
import { TRAIN_DEFAULTS, validateTrainOptions } from '../options/train-options.js';
import { defaultPlotPath, epochCount, readReport, writeLearningCurves } from './plot.js';
import { checkWritableFile, runTraining } from './train.js';
import { hostTable } from './report.js';
import { SIGNAL_EXIT_CODES } from './signals.js';
import { VERSION } from '../version.js';

const EXIT_BAD_INPUT = 2;
const EXIT_FAILED = 1;

const COMMON_FLAGS: FlagSpec[] = [
  { name: 'log-level', type: 'string', value: 'LEVEL', default: 'info', help: 'fatal|error|warn|info|debug|trace|silent' },
  { name: 'log-format', type: 'string', value: 'FMT', default: 'pretty on a terminal, else json', help: 'pretty|json (logs go to stderr)' },
];

const TRAIN_FLAGS: FlagSpec[] = [
  {
    name: 'workers',
    type: 'string',
    numeric: true,
    value: 'N|MIN:MAX|auto',
    default: 'auto = all cores',
    help: 'worker threads (replicas); MIN:MAX is elastic: shrinks when a worker keeps failing, grows back',
  },
  { name: 'epochs', type: 'string', numeric: true, value: 'N', default: String(TRAIN_DEFAULTS.epochs), help: 'passes over the training set' },
  {
    name: 'batch-size',
    type: 'string',
    numeric: true,
    value: 'N',
    default: String(TRAIN_DEFAULTS.batchSize),
    help: 'GLOBAL batch size, split across the workers',
  },
  { name: 'lr', key: 'learningRate', type: 'string', numeric: true, value: 'X', default: String(TRAIN_DEFAULTS.learningRate), help: 'Adam learning rate' },
  { name: 'seed', type: 'string', numeric: true, value: 'N', default: String(TRAIN_DEFAULTS.seed), help: 'seed of weight init and shuffling' },
  { name: 'backend', type: 'string', value: 'NAME', default: 'auto', help: 'auto|wasm|cpu|tensorflow (auto: tensorflow if installed, else wasm)' },
  { name: 'data-dir', type: 'string', value: 'DIR', help: 'MNIST-shaped IDX files, raw or .gz (default: the bundled MNIST)' },
  { name: 'report', type: 'string', value: 'FILE', help: 'write the JSON report here' },
  { name: 'plot', type: 'string', value: 'FILE', help: 'draw the learning curves (loss and accuracy per epoch, train and validation) to this SVG' },
  { name: 'quiet', type: 'boolean', help: 'no progress bar or epoch lines' },
  { name: 'checkpoint-dir', type: 'string', value: 'DIR', help: 'write checkpoints here (atomic; model.json loadable by tfjs)' },
  { name: 'checkpoint-every', type: 'string', numeric: true, value: 'N|epoch', default: 'epoch', help: 'checkpoint every N steps, or at every epoch end' },
  { name: 'keep-checkpoints', type: 'string', numeric: true, value: 'K', default: '2', help: 'how many of the newest checkpoints to keep' },
  { name: 'resume', type: 'boolean', help: 'continue from the newest valid checkpoint in --checkpoint-dir' },
  { name: 'max-restarts', type: 'string', numeric: true, value: 'N', default: '3', help: 'reruns of failed steps (crashed or hung workers) before giving up' },
  { name: 'max-skipped-steps', type: 'string', numeric: true, value: 'N', default: '5', help: 'non-finite steps in a row before giving up' },
  {
    name: 'step-timeout',
    type: 'string',
    numeric: true,
    value: 'MS',
    default: 'max(30000, 50 x median step)',
    help: 'a step phase slower than this is hung: its workers are replaced',
  },
  { name: 'inject-fault', type: 'string', value: 'SPEC', help: 'testing aid: crash|exit|hang|nan@step=S,rank=R[,times=T]' },
  {
    name: 'threads-per-worker',
    type: 'string',
    numeric: true,
    value: 'N',
    default: '1',
    help: 'TensorFlow intra/inter-op threads per worker (--backend tensorflow)',
  },
  {
    name: 'gradients',
    type: 'string',
    value: 'HOW',
    default: 'auto',
    help: "auto|tape: auto computes a chain of Dense layers' gradients without tfjs's tape (faster); tape always uses the tape",
  },
  {
    name: 'steps-per-execution',
    type: 'string',
    numeric: true,
    value: 'N',
    default: '32',
    help: 'the most steps the workers run without a round trip to the coordinator (1: every step; same weights either way)',
  },
  { name: 'deterministic', type: 'boolean', help: 'the same weights, bit for bit, for any worker count (fixed micro-batches)' },
  { name: 'micro-batches', type: 'string', numeric: true, value: 'M', default: '8', help: 'micro-batches per step in --deterministic mode' },
  { name: 'accumulate', type: 'string', numeric: true, value: 'N', default: '1', help: 'gradient accumulation: N x batch-size samples per optimizer step' },
  { name: 'lr-warmup', type: 'string', numeric: true, value: 'EPOCHS', default: '0', help: 'linear learning-rate warm-up over the first EPOCHS' },
  { name: 'lr-scale', type: 'string', value: 'RULE', default: 'none', help: 'none|linear (lr x effective batch / --lr-base-batch)' },
  { name: 'lr-base-batch', type: 'string', numeric: true, value: 'N', default: '128', help: 'reference batch of --lr-scale linear' },
  { name: 'lr-decay', type: 'string', value: 'SCHED', default: 'none', help: 'none | cosine[:MIN_LR] | step:EVERY_EPOCHS:GAMMA' },
  {
    name: 'hosts',
    type: 'string',
    value: 'N|MIN:N',
    default: 'WORLD_SIZE or SLURM_STEP_NUM_TASKS, else 1',
    help: 'hosts joined by Gloo (docs/MULTI-HOST.md); MIN: fewest to go on with',
  },
  { name: 'host-rank', type: 'string', value: 'R', default: 'RANK or SLURM_PROCID', help: "this host's rank, 0..N-1" },
  {
    name: 'rendezvous',
    type: 'string',
    value: 'URL',
    default: 'THREADFIT_RENDEZVOUS, else redis://MASTER_ADDR:MASTER_PORT+1',
    help: 'where hosts meet: redis://HOST:PORT or file:///SHARED/DIR',
  },
  {
    name: 'job',
    type: 'string',
    value: 'ID',
    default: 'THREADFIT_JOB, torchrun run id, Slurm job.step',
    help: 'rendezvous namespace, new for every run (required otherwise)',
  },
  { name: 'iface', type: 'string', value: 'NAME', default: 'the one routing to the rendezvous host', help: 'network interface to advertise to peers' },
  {
    name: 'comm-timeout',
    type: 'string',
    numeric: true,
    value: 'MS',
    default: 'max(5000, 10 x median step)',
    help: 'a collective across hosts slower than this fails',
  },
  ...COMMON_FLAGS,
];

/** The work of one measured configuration (bench and scale); defaults differ per command. */
function workFlags(d: { warmup: number; steps: number; repeats: number }, workersDefault: string): FlagSpec[] {
  return [
    { name: 'backend', type: 'string', value: 'NAME', default: 'wasm', help: 'wasm|cpu|tensorflow (tensorflow needs @tensorflow/tfjs-node)' },
    { name: 'workers', type: 'string', value: 'LIST', default: workersDefault, help: 'threadfit worker counts to run, e.g. 1,2,4' },
    { name: 'warmup', type: 'string', numeric: true, value: 'N', default: String(d.warmup), help: 'steps run before timing starts (excluded)' },
    { name: 'steps', type: 'string', numeric: true, value: 'N', default: String(d.steps), help: 'timed steps per repeat' },
    { name: 'epochs', type: 'string', numeric: true, value: 'N', help: 'time N whole epochs per repeat instead of --steps' },
    { name: 'repeats', type: 'string', numeric: true, value: 'N', default: String(d.repeats), help: 'timed repeats per configuration; the median is reported' },
    { name: 'seed', type: 'string', numeric: true, value: 'N', default: String(BENCH_DEFAULTS.seed), help: 'seed of weight init and batch order' },
    { name: 'data-dir', type: 'string', value: 'DIR', help: 'MNIST-shaped IDX files, raw or .gz (default: the bundled MNIST)' },
  ];
}

const BENCH_FLAGS: FlagSpec[] = [
  { name: 'batch-size', type: 'string', numeric: true, value: 'N', default: String(BENCH_DEFAULTS.batchSize), help: 'GLOBAL batch size' },
  ...workFlags(BENCH_DEFAULTS, '1..number of cores').map((f) =>
    f.name === 'backend' ? { ...f, value: 'LIST', help: 'wasm|cpu|tensorflow, or a list such as wasm,tensorflow measured in the same run' } : f,
  ),
  {
    name: 'gradients',
    type: 'string',
    value: 'HOW',
    default: 'auto',
    help: 'threadfit rows: auto (dense fast path), tape, or both (a row of each, same run)',
  },
  {
    name: 'steps-per-execution',
    type: 'string',
    value: 'LIST',
    default: String(BENCH_DEFAULTS.stepsPerExecution),
    help: 'threadfit rows: steps the workers run per execution, or a list such as 1,32 (a row each, same run)',
  },
  { name: 'json', type: 'string', value: 'FILE', help: 'write the results as JSON here' },
];

const SCALE_FLAGS: FlagSpec[] = [
  ...workFlags(SCALE_DEFAULTS, '1..2x number of cores; must include 1'),
  { name: 'gradients', type: 'string', value: 'HOW', default: 'auto', help: 'auto (dense fast path) or tape' },
  {
    name: 'steps-per-execution',
    type: 'string',
    numeric: true,
    value: 'N',
    default: String(SCALE_DEFAULTS.stepsPerExecution),
    help: 'steps the workers run per execution (1: a round trip per step)',
  },
  {
    name: 'strong-batch-sizes',
    type: 'string',
    value: 'LIST',
    default: SCALE_DEFAULTS.strongBatchSizes.join(','),
    help: 'global batch sizes of the strong-scaling series',
  },
  {
    name: 'weak-batch-size',
    type: 'string',
    numeric: true,
    value: 'N',
    default: String(SCALE_DEFAULTS.weakBatchSize),
    help: 'per-worker batch of the weak-scaling series',
  },
  { name: 'out', type: 'string', value: 'DIR', default: SCALE_DEFAULTS.out, help: 'where scale.csv, scale.json, throughput.svg and breakdown.svg go' },
];

const EVALUATE_FLAGS: FlagSpec[] = [
  { name: 'checkpoint', type: 'string', value: 'DIR', help: 'checkpoint root (its newest valid checkpoint) or one ckpt-* directory (required)' },
  {
    name: 'data-dir',
    type: 'string',
    value: 'DIR',
    default: "the checkpoint's training data, else the bundled MNIST",
    help: 'MNIST-shaped IDX files, raw or .gz',
  },
  { name: 'workers', type: 'string', numeric: true, value: 'N|auto', default: 'auto = all cores', help: 'worker threads' },
  { name: 'backend', type: 'string', value: 'NAME', default: 'auto', help: 'auto|wasm|cpu|tensorflow' },
  { name: 'report', type: 'string', value: 'FILE', help: 'write the JSON report here' },
  ...COMMON_FLAGS,
];

const PLOT_FLAGS: FlagSpec[] = [{ name: 'out', short: 'o', type: 'string', value: 'FILE', default: 'the report path with .svg', help: 'where the SVG goes' }];

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
    summary: 'Train the seed MLP (Dense 512 relu -> Dense 10 softmax, Adam) on MNIST across worker threads,\nvalidating on the test set after every epoch.',
    flags: TRAIN_FLAGS,
    async run({ plot, ...options }) {
      const o = validateTrainOptions({ logFormat: defaultLogFormat(), ...options }, 'flag');
      // Checked before training, as --report is: a bad path must not cost a whole run.
      const plotFile = plot === undefined ? undefined : outputPath(plot, '--plot');
      const logger = createLogger({ level: o.logLevel as LevelWithSilent, format: o.logFormat });
      const { report, interrupted, checkpoint } = await runTraining(o, { logger, out: process.stdout });
      const plotted = plotFile !== undefined && epochCount(report.history) > 0;
      if (plotted) await writeLearningCurves(report, plotFile);
      else if (plotFile !== undefined) process.stderr.write(`threadfit train: no epoch finished, so no learning curves were written to ${plotFile}\n`);
      if (!o.quiet) {
        process.stdout.write(`Test: loss ${report.test.loss.toFixed(4)} - acc ${report.test.acc.toFixed(4)}\n`);
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
      const out = outputPath(options.out ?? defaultPlotPath(reportFile), options.out === undefined ? 'output' : '-o');
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
