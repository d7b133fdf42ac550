/**
 * Guard tests of the one options schema: every option's validation message once per surface, the
 * rules between options, the CLI's reading of flag text, README's tables, and the types that
 * parallelFit takes what model.fit takes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { validateBenchOptions, validateScaleOptions, type BenchOptions } from '../src/bench/options.js';
import { parseFlags, usage } from '../src/cli/args.js';
import { validateEvaluateOptions } from '../src/cli/evaluate.js';
import { maxWorkers } from '../src/options/kinds.js';
import { FIT_DEFAULTS, REFUSED_FIT_ARGS, validateFitOptions, type ParallelFitOptions } from '../src/options/fit-options.js';
import { renderReadme } from '../src/options/readme-tables.js';
import { OPTIONS, type Surface } from '../src/options/schema.js';
import { flagsOn, keysOn, optionsOn, resolveOn } from '../src/options/surfaces.js';
import { TRAIN_DEFAULTS, checkBatchFitsData, validateTrainOptions, type TrainOptions } from '../src/options/train-options.js';

const MW = maxWorkers();

/** Each surface's real entry point (plot has no options object of its own: the CLI resolves it). */
const VALIDATE: Record<Surface, (o: Record<string, unknown>) => unknown> = {
  train: (o) => validateTrainOptions(o),
  fit: (o) => validateFitOptions(o),
  bench: (o) => validateBenchOptions(o),
  scale: (o) => validateScaleOptions(o),
  evaluate: (o) => validateEvaluateOptions({ checkpoint: '/ckpt', ...o }),
  plot: (o) => resolveOn('plot', o),
};

// [surface, option, a bad value, the whole message]
const BAD: Array<[Surface, string, unknown, string]> = [
  ['train', 'workers', 0, `options.workers must be an integer in 1..${MW}, got 0`],
  ['train', 'epochs', 0, 'options.epochs must be an integer in 1..1000000, got 0'],
  ['train', 'batchSize', 0, 'options.batchSize must be an integer in 1..1048576, got 0'],
  ['train', 'learningRate', 0, 'options.learningRate must be a positive number, got 0'],
  ['train', 'seed', -1, 'options.seed must be an integer in 0..4294967295, got -1'],
  ['train', 'backend', 'gpu', 'options.backend must be one of auto, wasm, cpu, tensorflow, got "gpu"'],
  ['train', 'dataDir', '', 'options.dataDir must be a non-empty path, got ""'],
  ['train', 'report', '', 'options.report must be a non-empty path, got ""'],
  ['train', 'quiet', 'yes', 'options.quiet must be true or false, got "yes"'],
  ['train', 'checkpointDir', '', 'options.checkpointDir must be a non-empty path, got ""'],
  ['train', 'checkpointEvery', 0, "options.checkpointEvery must be 'epoch' or a positive integer, got 0"],
  ['train', 'keepCheckpoints', 0, 'options.keepCheckpoints must be an integer in 1..1000, got 0'],
  ['train', 'resume', 1, 'options.resume must be true or false, got 1'],
  ['train', 'maxRestarts', -1, 'options.maxRestarts must be an integer in 0..1000000, got -1'],
  ['train', 'maxSkippedSteps', 0.5, 'options.maxSkippedSteps must be an integer in 0..1000000, got 0.5'],
  ['train', 'stepTimeoutMs', 0, 'options.stepTimeoutMs must be an integer in 1..86400000, got 0'],
  ['train', 'injectFault', 'boom', 'options.injectFault must look like crash|exit|hang|nan@step=S,rank=R[,times=T], got "boom"'],
  ['train', 'threadsPerWorker', 0, 'options.threadsPerWorker must be an integer in 1..256, got 0'],
  ['train', 'gradients', 'fast', 'options.gradients must be one of auto, tape, got "fast"'],
  ['train', 'stepsPerExecution', 0, 'options.stepsPerExecution must be an integer in 1..1024, got 0'],
  ['train', 'deterministic', 'no', 'options.deterministic must be true or false, got "no"'],
  ['train', 'microBatches', 0, 'options.microBatches must be an integer in 1..256, got 0'],
  ['train', 'accumulate', 0, 'options.accumulate must be an integer in 1..1024, got 0'],
  ['train', 'lrWarmupEpochs', -1, 'options.lrWarmupEpochs must be a number of epochs >= 0, got -1'],
  ['train', 'lrScale', 'log', 'options.lrScale must be one of none, linear, got "log"'],
  ['train', 'lrBaseBatch', 0, 'options.lrBaseBatch must be an integer in 1..16777216, got 0'],
  ['train', 'lrDecay', 'exp', 'options.lrDecay must be none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA (0 < GAMMA <= 1), got "exp"'],
  // The cluster options pass on as text; cluster/env.ts checks their values (test/cluster-env.test.ts).
  ['train', 'hosts', {}, 'options.hosts must be a string, got a value of type object (Object)'],
  ['train', 'hostRank', true, 'options.hostRank must be a string, got true'],
  ['train', 'rendezvous', [], 'options.rendezvous must be a string, got an array of length 0'],
  ['train', 'job', null, 'options.job must be a string, got null'],
  ['train', 'iface', false, 'options.iface must be a string, got false'],
  ['train', 'commTimeoutMs', {}, 'options.commTimeoutMs must be a string, got a value of type object (Object)'],
  ['train', 'logLevel', 'loud', 'options.logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
  ['train', 'logFormat', 'xml', 'options.logFormat must be one of pretty, json, got "xml"'],
  ['train', 'plot', '', 'options.plot must be a non-empty path, got ""'],
  ['train', 'model', '', 'options.model must be a non-empty path, got ""'],
  ['train', 'data', '', 'options.data must be a non-empty path, got ""'],
  ['train', 'labelColumn', true, 'options.labelColumn must be a string, got true'],
  ['train', 'loss', false, 'options.loss must be a string, got false'],
  ['train', 'optimizer', {}, 'options.optimizer must be a string, got'],
  ['train', 'metrics', [], 'options.metrics must be a string, got'],
  ['train', 'saveModel', '', 'options.saveModel must be a non-empty path, got ""'],

  ['fit', 'workers', 'all', `options.workers must be an integer in 1..${MW}, got "all"`],
  ['fit', 'epochs', 0, 'options.epochs must be an integer in 1..1000000, got 0'],
  ['fit', 'initialEpoch', -1, 'options.initialEpoch must be an integer in 0..1000000, got -1'],
  ['fit', 'batchSize', 0, 'options.batchSize must be an integer in 1..1048576, got 0'],
  ['fit', 'seed', 1.5, 'options.seed must be an integer in 0..4294967295, got 1.5'],
  ['fit', 'backend', 'gpu', 'options.backend must be one of auto, wasm, cpu, tensorflow, got "gpu"'],
  ['fit', 'validationData', [1], 'options.validationData must be an array [xVal, yVal], got an array of length 1'],
  ['fit', 'validationSplit', 1, 'options.validationSplit must be a number in [0, 1), got 1'],
  ['fit', 'shuffle', 0, 'options.shuffle must be true or false, got 0'],
  ['fit', 'verbose', 2, 'options.verbose must be 0 or 1, got 2'],
  ['fit', 'workerSetup', '', 'options.workerSetup must be a module path or URL, got ""'],
  ['fit', 'checkNumerics', 'yes', 'options.checkNumerics must be true or false, got "yes"'],
  ['fit', 'checkpointDir', 3, 'options.checkpointDir must be a non-empty path, got 3'],
  ['fit', 'checkpointEvery', 'step', `options.checkpointEvery must be 'epoch' or a positive integer, got "step"`],
  ['fit', 'keepCheckpoints', 1001, 'options.keepCheckpoints must be an integer in 1..1000, got 1001'],
  ['fit', 'resume', 'true', 'options.resume must be true or false, got "true"'],
  ['fit', 'maxRestarts', -1, 'options.maxRestarts must be an integer in 0..1000000, got -1'],
  ['fit', 'maxSkippedSteps', -1, 'options.maxSkippedSteps must be an integer in 0..1000000, got -1'],
  ['fit', 'stepTimeoutMs', 0, 'options.stepTimeoutMs must be an integer in 1..86400000, got 0'],
  ['fit', 'injectFault', 'crash', 'options.injectFault must look like crash|exit|hang|nan@step=S,rank=R[,times=T], got "crash"'],
  ['fit', 'threadsPerWorker', 257, 'options.threadsPerWorker must be an integer in 1..256, got 257'],
  ['fit', 'gradients', 'both', 'options.gradients must be one of auto, tape, got "both"'],
  ['fit', 'stepsPerExecution', 0, "options.stepsPerExecution must be 'auto' or an integer in 1..1024, got 0"],
  ['fit', 'deterministic', 1, 'options.deterministic must be true or false, got 1'],
  ['fit', 'microBatches', 0, 'options.microBatches must be an integer in 1..256, got 0'],
  ['fit', 'accumulate', 0, 'options.accumulate must be an integer in 1..1024, got 0'],
  ['fit', 'lrWarmupEpochs', NaN, 'options.lrWarmupEpochs must be a number of epochs >= 0, got NaN'],
  ['fit', 'lrScale', 'sqrt', 'options.lrScale must be one of none, linear, got "sqrt"'],
  ['fit', 'lrBaseBatch', 0, 'options.lrBaseBatch must be an integer in 1..16777216, got 0'],
  ['fit', 'lrDecay', 'step:0:2', 'options.lrDecay must be none, cosine[:MIN_LR] or step:EVERY_EPOCHS:GAMMA (0 < GAMMA <= 1), got "step:0:2"'],
  ['fit', 'workersForEpoch', 3, 'options.workersForEpoch must be a function, got 3'],
  ['fit', 'classWeight', 2, 'options.classWeight must be an object of class index -> weight (or one per output), got 2'],
  ['fit', 'yieldEvery', 'often', `options.yieldEvery must be 'auto', 'batch', 'epoch', 'never' or a number of ms, got "often"`],

  ['bench', 'workers', '0', `options.workers must be a comma-separated list of integers in 1..${MW}, got "0"`],
  ['bench', 'epochs', 1001, 'options.epochs must be an integer in 1..1000, got 1001'],
  ['bench', 'batchSize', 1 << 17, 'options.batchSize must be an integer in 1..65536, got 131072'],
  ['bench', 'seed', -1, 'options.seed must be an integer in 0..4294967295, got -1'],
  ['bench', 'backend', 'wasm,gpu', 'options.backend must be one of wasm, cpu, tensorflow, got "gpu"'],
  ['bench', 'dataDir', '', 'options.dataDir must be a non-empty path, got ""'],
  ['bench', 'json', '', 'options.json must be a non-empty path, got ""'],
  ['bench', 'gradients', 'maybe', 'options.gradients must be one of auto, tape, both, got "maybe"'],
  ['bench', 'stepsPerExecution', '0,32', 'options.stepsPerExecution must be a comma-separated list of integers in 1..1024, got "0,32"'],
  ['bench', 'warmup', -1, 'options.warmup must be an integer in 0..1000000, got -1'],
  ['bench', 'steps', 0, 'options.steps must be an integer in 1..1000000, got 0'],
  ['bench', 'repeats', 0, 'options.repeats must be an integer in 1..1000, got 0'],
  ['bench', 'model', 'resnet', 'options.model must be one of seed, mnist-cnn,'],
  ['bench', 'samples', 0, 'options.samples must be an integer in 1..10000000, got 0'],
  ['bench', 'input', 'disk', 'options.input must be one of memory, dataset, both, got "disk"'],

  ['scale', 'workers', '1,1e0', `options.workers must be a comma-separated list of integers in 1..${MW}, got "1,1e0"`],
  ['scale', 'epochs', 0, 'options.epochs must be an integer in 1..1000, got 0'],
  ['scale', 'seed', 'x', 'options.seed must be an integer in 0..4294967295, got "x"'],
  ['scale', 'backend', 'auto', 'options.backend must be one of wasm, cpu, tensorflow, got "auto"'],
  ['scale', 'dataDir', '', 'options.dataDir must be a non-empty path, got ""'],
  ['scale', 'out', '', 'options.out must be a non-empty path, got ""'],
  ['scale', 'gradients', 'both', 'options.gradients must be one of auto, tape, got "both"'],
  ['scale', 'stepsPerExecution', 2000, 'options.stepsPerExecution must be an integer in 1..1024, got 2000'],
  ['scale', 'warmup', -1, 'options.warmup must be an integer in 0..1000000, got -1'],
  ['scale', 'steps', 0, 'options.steps must be an integer in 1..1000000, got 0'],
  ['scale', 'repeats', 1001, 'options.repeats must be an integer in 1..1000, got 1001'],
  ['scale', 'strongBatchSizes', '128,x', 'options.strongBatchSizes must be a comma-separated list of integers in 1..65536, got "128,x"'],
  ['scale', 'weakBatchSize', 0, 'options.weakBatchSize must be an integer in 1..65536, got 0'],

  ['evaluate', 'workers', 0, `options.workers must be an integer in 1..${MW}, got 0`],
  ['evaluate', 'backend', 'gpu', 'options.backend must be one of auto, wasm, cpu, tensorflow, got "gpu"'],
  ['evaluate', 'dataDir', '', 'options.dataDir must be a non-empty path, got ""'],
  ['evaluate', 'checkpoint', undefined, 'options.checkpoint must be a checkpoint directory (required), got undefined'],
  ['evaluate', 'report', '', 'options.report must be a non-empty path, got ""'],
  ['evaluate', 'logLevel', 'loud', 'options.logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
  ['evaluate', 'logFormat', 'xml', 'options.logFormat must be one of pretty, json, got "xml"'],

  ['plot', 'out', '', 'options.out must be a non-empty path, got ""'],
];

/** Options whose kind accepts anything: checked where they are used. */
const UNCHECKED: Partial<Record<Surface, string[]>> = {
  // standardizeCallbacks (fit/parallel-fit.ts) names the bad element: options.callbacks[i] must be a tf.Callback ...
  fit: ['callbacks'],
};

describe('every option of every surface: a bad value and its message', () => {
  it.each(BAD)('%s %s = %j', (surface, key, value, message) => {
    const check = OPTIONS[key as keyof typeof OPTIONS][surface as never] as { cliOnly?: true; kind: { check(v: unknown, l: object): unknown } };
    // A CLI-only flag is no key of the options object: its kind is checked as the CLI checks it.
    const run = check.cliOnly ? () => check.kind.check(value, { name: key, source: 'options' }) : () => VALIDATE[surface]({ [key]: value });
    expect(run).toThrow(message);
    expect(run).toThrow(expect.objectContaining({ code: 'ERR_THREADFIT_INVALID_OPTION' }));
  });

  it('the table covers every option of every surface', () => {
    for (const surface of ['train', 'fit', 'bench', 'scale', 'evaluate', 'plot'] as const) {
      const covered = BAD.filter(([s]) => s === surface).map(([, k]) => k);
      expect([...covered, ...(UNCHECKED[surface] ?? [])].sort(), surface).toEqual(
        optionsOn(surface)
          .map((o) => o.key)
          .sort(),
      );
    }
  });

  it('a flag names the flag: the same check, source flag', () => {
    expect(() => validateTrainOptions({ learningRate: 0 }, 'flag')).toThrow('flag --lr must be a positive number, got 0');
    expect(() => validateTrainOptions({ stepTimeoutMs: 0 }, 'flag')).toThrow('flag --step-timeout must be an integer in 1..86400000, got 0');
    expect(() => validateTrainOptions({ lrWarmupEpochs: -1 }, 'flag')).toThrow('flag --lr-warmup must be a number of epochs >= 0, got -1');
    expect(() => validateTrainOptions({ injectFault: 'x' }, 'flag')).toThrow('flag --inject-fault must look like');
  });
});

describe('rules between options', () => {
  const hosts = { hosts: '2', hostRank: '0', rendezvous: 'file:///tmp/threadfit-options-test', job: 'j', workers: 2 };
  it.each<[string, () => unknown, string]>([
    ['unknown key', () => validateTrainOptions({ epoch: 3 } as never), "unknown option 'epoch'; the known options are workers, epochs, batchSize"],
    ['not an object', () => validateFitOptions(3 as never), 'options must be an object, got 3'],
    ['slots', () => validateTrainOptions({ workers: 2, accumulate: 200 }), 'workers x accumulate must be at most 256 gradient slots, got 2 x 200 = 400'],
    [
      'slots (deterministic)',
      () => validateFitOptions({ deterministic: true, microBatches: 256, accumulate: 2 }),
      'microBatches x accumulate must be at most 256 gradient slots, got 256 x 2 = 512',
    ],
    [
      'fault rank',
      () => validateTrainOptions({ workers: 2, injectFault: 'crash@step=1,rank=99' }),
      'options.injectFault rank=99 names no worker: there are 2 workers (ranks 0..1)',
    ],
    [
      'fault rank (fit)',
      () => validateFitOptions({ workers: 1, injectFault: 'nan@step=1,rank=1' }),
      'options.injectFault rank=1 names no worker: there is 1 worker (rank 0)',
    ],
    ['microBatches', () => validateTrainOptions({ microBatches: 4 }), 'microBatches has no effect without deterministic'],
    ['lrBaseBatch', () => validateTrainOptions({ lrBaseBatch: 64 }), 'lrBaseBatch has no effect without lrScale linear'],
    ['keepCheckpoints', () => validateTrainOptions({ keepCheckpoints: 4 }), 'keepCheckpoints has no effect without checkpointDir'],
    ['resume', () => validateTrainOptions({ resume: true }), 'resume needs checkpointDir: the directory to resume from'],
    ['checkpointEvery', () => validateTrainOptions({ checkpointEvery: 5 }), 'checkpointEvery needs checkpointDir'],
    ['cluster flags alone', () => validateTrainOptions({ job: 'x' }), '--comm-timeout, --iface and --job need several hosts'],
    ['deterministic across hosts', () => validateTrainOptions({ ...hosts, deterministic: true }), 'deterministic is not supported across hosts yet'],
    ['elastic across hosts', () => validateTrainOptions({ ...hosts, workers: '1:2' }), 'workers 1:2 (elastic workers) is not supported across hosts yet'],
    ['executions across hosts', () => validateTrainOptions({ ...hosts, stepsPerExecution: 4 }), 'stepsPerExecution 4 is not supported across hosts yet'],
    ['batch across hosts', () => validateTrainOptions({ ...hosts, batchSize: 3 }), 'batchSize 3 is smaller than 2 hosts x 2 workers'],
    ['elastic MIN > MAX', () => validateTrainOptions({ workers: '3:2' }), 'options.workers must be MIN:MAX with 1 <= MIN <= MAX, got "3:2"'],
    [
      'a former name and its option',
      () => validateTrainOptions({ stepTimeout: 5, stepTimeoutMs: 5 }),
      'options.stepTimeout and options.stepTimeoutMs are one option (stepTimeout is its former name): give stepTimeoutMs only',
    ],
    ['initialEpoch', () => validateFitOptions({ epochs: 2, initialEpoch: 2 }), 'options.initialEpoch must be less than options.epochs (2), got 2'],
    [
      'validationData and split',
      () => validateFitOptions({ validationData: [[1], [1]] as never, validationSplit: 0.1 }),
      'options.validationData and options.validationSplit cannot both be given',
    ],
    ['resume (fit)', () => validateFitOptions({ resume: true }), 'options.resume needs options.checkpointDir: the directory to resume from'],
    ['scale baseline', () => validateScaleOptions({ workers: [2, 3] }), 'options.workers must include 1 (the baseline of speed-up and efficiency), got 2,3'],
    [
      'weak batch',
      () => validateScaleOptions({ workers: [1, 16], weakBatchSize: 8192 }),
      'weak scaling at 16 workers x 8192 is a global batch of 131072, above 65536',
    ],
    [
      'batch > training set (default)',
      () => checkBatchFitsData({ batchSize: 128, accumulate: 1 }, 50),
      '--batch-size 128 (the default) is larger than the training set (50 samples): pass --batch-size 50 or less',
    ],
    [
      'step > training set',
      () => checkBatchFitsData({ batchSize: 32, accumulate: 4 }, 100),
      '--batch-size 32 x --accumulate 4 = 128 samples per step is larger than the training set (100 samples): pass --batch-size 25 or less',
    ],
  ])('%s', (_what, run, message) => {
    expect(run).toThrow(message);
  });

  it.each(Object.entries(REFUSED_FIT_ARGS))('model.fit argument %s: refused with its reason', (key, why) => {
    expect(() => validateFitOptions({ [key]: 1 } as never)).toThrow(`options.${key} (a model.fit argument) is not supported by parallelFit: ${why}`);
  });

  it('former names still work, mapped to their option', () => {
    const r = validateTrainOptions({ stepTimeout: 5000, lrWarmup: 0.5 });
    expect(r).toMatchObject({ stepTimeoutMs: 5000, lrWarmupEpochs: 0.5 });
    expect(r).not.toHaveProperty('stepTimeout');
  });

  it('a step that fits the training set passes', () => {
    expect(() => checkBatchFitsData({ batchSize: 50, accumulate: 1 }, 50)).not.toThrow();
  });
});

describe('flags: text to values', () => {
  const train = flagsOn('train');
  const options = (...argv: string[]) => parseFlags(argv, train).options;
  it.each([
    ['--epochs', '1e0'],
    ['--workers', ' 2'],
    ['--batch-size', '+2'],
    ['--seed', '2.0'],
    ['--workers', '1e1'],
  ])('%s %j: an integer not in plain decimal digits is refused, naming flag and text', (flag, text) => {
    expect(() => options(flag, text)).toThrow(`flag ${flag} must be an integer in`);
    expect(() => options(flag, text)).toThrow(`written in plain decimal digits, got ${JSON.stringify(text)}`);
  });

  it('numbers, words and lists become what a program passes', () => {
    expect(options('--epochs', '3', '--lr', '1e-3', '--workers', '2:4', '--checkpoint-every', 'epoch', '--quiet')).toEqual({
      epochs: 3,
      learningRate: 0.001,
      workers: '2:4',
      checkpointEvery: 'epoch',
      quiet: true,
    });
    expect(options('--epochs', '-1', '--seed', '1.5', '--workers', 'auto')).toEqual({ epochs: -1, seed: 1.5, workers: 'auto' });
    expect(parseFlags(['--steps-per-execution', '1,32'], flagsOn('bench')).options).toEqual({ stepsPerExecution: '1,32' });
  });

  it('a flag given twice keeps its last value, as --help says', () => {
    expect(options('--epochs', '2', '--epochs', '3')).toEqual({ epochs: 3 });
    expect(usage('train', 'summary', train)).toContain('A flag given twice keeps its last value.');
  });

  it('positionals are returned for the command to refuse', () => {
    expect(parseFlags(['junk', '--epochs', '1'], train).positionals).toEqual(['junk']);
  });

  it('every command has a flag per option, and only train keeps a CLI-only one', () => {
    for (const surface of ['train', 'bench', 'scale', 'evaluate', 'plot'] as const) {
      expect(
        flagsOn(surface)
          .map((f) => f.key)
          .filter((k) => !(keysOn(surface) as string[]).includes(k)),
      ).toEqual(surface === 'train' ? ['plot'] : []);
    }
  });
});

describe('README', () => {
  it("README.md's option and flag tables are the schema's (node scripts/options-tables.mjs rewrites them)", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(renderReadme(readme)).toBe(readme);
  });
});

describe('types derived from the schema', () => {
  it("an editor shows each key's JSDoc on TrainOptions and ParallelFitOptions (through the mapped types)", async () => {
    const ts = (await import('typescript')).default;
    const file = fileURLToPath(new URL('./jsdoc-probe.ts', import.meta.url));
    const keys = { t: keysOn('train'), f: keysOn('fit') };
    const text =
      "import type { TrainOptions } from '../src/options/train-options.js';\n" +
      "import type { ParallelFitOptions } from '../src/options/fit-options.js';\n" +
      'declare const t: TrainOptions;\ndeclare const f: ParallelFitOptions;\n' +
      Object.entries(keys)
        .flatMap(([v, ks]) => ks.map((k) => `${v}.${k};\n`))
        .join('');
    const host: import('typescript').LanguageServiceHost = {
      getScriptFileNames: () => [file],
      getScriptVersion: () => '1',
      getScriptSnapshot: (f) => ts.ScriptSnapshot.fromString(f === file ? text : readFileSync(f, 'utf8')),
      getCurrentDirectory: () => process.cwd(),
      getCompilationSettings: () => ({
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        strict: true,
        skipLibCheck: true,
        types: ['node'],
      }),
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => f === file || ts.sys.fileExists(f),
      readFile: (f) => (f === file ? text : ts.sys.readFile(f)),
    };
    const ls = ts.createLanguageService(host);
    const undocumented = Object.entries(keys).flatMap(([v, ks]) =>
      ks.filter((k) => {
        const info = ls.getQuickInfoAtPosition(file, text.indexOf(`\n${v}.${k};`) + 3);
        return ts.displayPartsToString(info?.documentation).trim() === '';
      }),
    );
    expect(undocumented).toEqual([]);
  });

  it('the defaults and options types follow the schema', () => {
    expectTypeOf(TRAIN_DEFAULTS.epochs).toEqualTypeOf<10>();
    expectTypeOf(FIT_DEFAULTS.epochs).toEqualTypeOf<1>();
    expectTypeOf<TrainOptions['workers']>().toEqualTypeOf<number | 'auto' | `${number}:${number}` | undefined>();
    expectTypeOf<ParallelFitOptions['workers']>().toEqualTypeOf<number | 'auto' | undefined>();
    expectTypeOf<BenchOptions['stepsPerExecution']>().toEqualTypeOf<readonly number[] | string | number | undefined>();
    // @ts-expect-error -- an unknown key is a type error, as it is a runtime one
    const bad: ParallelFitOptions = { workerz: 2 };
    expect(bad).toBeDefined();
    // CLI-only flags are no keys of the options object.
    expectTypeOf<'plot' extends keyof TrainOptions ? true : false>().toEqualTypeOf<false>();
  });

  it('parallelFit takes what model.fit takes, except the arguments it refuses (with their reason)', () => {
    type Refused = keyof typeof REFUSED_FIT_ARGS;
    // Every refused name is a model.fit argument, and none is a parallelFit option.
    expectTypeOf<Refused>().toExtend<keyof tf.ModelFitArgs>();
    expectTypeOf<Extract<keyof ParallelFitOptions, Refused>>().toBeNever();
    // Every model.fit argument is taken or refused.
    expectTypeOf<Exclude<keyof tf.ModelFitArgs, keyof ParallelFitOptions | Refused>>().toBeNever();
    // The values model.fit takes for those arguments, parallelFit takes too, but for two refused
    // values: verbose 2 (tfjs-layers has no per-epoch-line mode either; threadfit's progress is
    // 0 or 1) and a third validationData element (sample weights, as sampleWeight).
    type Taken = Omit<tf.ModelFitArgs, Refused | 'verbose' | 'validationData'> & {
      verbose?: Exclude<tf.ModelFitArgs['verbose'], 2>;
      validationData?: Extract<NonNullable<tf.ModelFitArgs['validationData']>, [unknown, unknown]>;
    };
    expectTypeOf<Taken>().toExtend<ParallelFitOptions>();
  });
});
