#!/usr/bin/env node
/**
 * The threadfit CLI. Exit codes: 0 done, 1 training failed, 2 bad input (flag, file or data),
 * with the usage and the bad value on stderr.
 */
import { ErrorCodes, createLogger, type LevelWithSilent, type LogFormat } from '@threadfit/shared';
import { parseFlags, usage, UsageError, type FlagSpec } from './cli-args.js';
import { TRAIN_DEFAULTS, validateTrainOptions } from './options.js';
import { runTraining } from './train.js';
import { VERSION } from './version.js';

const EXIT_BAD_INPUT = 2;
const EXIT_FAILED = 1;

const COMMON_FLAGS: FlagSpec[] = [
  { name: 'log-level', type: 'string', value: 'LEVEL', default: 'info', help: 'fatal|error|warn|info|debug|trace|silent' },
  { name: 'log-format', type: 'string', value: 'FMT', default: 'pretty on a terminal, else json', help: 'pretty|json (logs go to stderr)' },
];

const TRAIN_FLAGS: FlagSpec[] = [
  { name: 'workers', type: 'string', numeric: true, value: 'N|auto', default: 'auto = all cores', help: 'worker threads (data-parallel replicas)' },
  { name: 'epochs', type: 'string', numeric: true, value: 'N', default: String(TRAIN_DEFAULTS.epochs), help: 'passes over the training set' },
  { name: 'batch-size', type: 'string', numeric: true, value: 'N', default: String(TRAIN_DEFAULTS.batchSize), help: 'GLOBAL batch size, split across the workers' },
  { name: 'lr', key: 'learningRate', type: 'string', numeric: true, value: 'X', default: String(TRAIN_DEFAULTS.learningRate), help: 'Adam learning rate' },
  { name: 'seed', type: 'string', numeric: true, value: 'N', default: String(TRAIN_DEFAULTS.seed), help: 'seed of weight init and shuffling' },
  { name: 'backend', type: 'string', value: 'NAME', default: 'auto', help: 'auto|wasm|cpu|tensorflow (auto: tensorflow if installed, else wasm)' },
  { name: 'data-dir', type: 'string', value: 'DIR', help: 'MNIST-shaped IDX files, raw or .gz (default: the bundled MNIST)' },
  { name: 'report', type: 'string', value: 'FILE', help: 'write the JSON report here' },
  { name: 'quiet', type: 'boolean', help: 'no progress bar or epoch lines' },
  ...COMMON_FLAGS,
];

interface Command {
  summary: string;
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
    async run(options) {
      const o = validateTrainOptions({ logFormat: defaultLogFormat(), ...options }, 'flag');
      const logger = createLogger({ level: o.logLevel as LevelWithSilent, format: o.logFormat });
      const report = await runTraining(o, { logger, out: process.stdout });
      if (!o.quiet) {
        process.stdout.write(`Test: loss ${report.test.loss.toFixed(4)} - acc ${report.test.acc.toFixed(4)}\n`);
        if (o.report) process.stdout.write(`Report written to ${o.report}\n`);
      }
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
      process.stdout.write(usage(name, command.summary, command.flags));
      return 0;
    }
    return await command.run(options, positionals);
  } catch (err) {
    const e = err as Error & { code?: string };
    const badInput = e instanceof UsageError || e.code === ErrorCodes.INVALID_OPTION || e.code === ErrorCodes.BAD_DATA || e.code === ErrorCodes.CHECKSUM;
    if (badInput) {
      process.stderr.write(`threadfit ${name}: ${e.message}\n\n${usage(name, command.summary, command.flags)}`);
      return EXIT_BAD_INPUT;
    }
    process.stderr.write(`threadfit ${name}: failed: ${e.stack ?? e.message}\n`);
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
