/**
 * The schema's options of the commands only: what bench and scale measure, the hosts of a
 * multi-host run (checked by cluster/env.ts), and the logs (see schema.ts).
 */
import type { LevelWithSilent, LogFormat } from '@threadfit/shared';
import { ZOO_MODELS } from '../zoo/models.js';
import { int, intList, oneOf, path, text } from './kinds.js';
import { MAX_BENCH_BATCH, on, type OptionEntry } from './spec.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
const LOG_FORMATS = ['pretty', 'json'] as const satisfies readonly LogFormat[];

export const COMMAND_OPTIONS = {
  /** Bench and scale: steps run and thrown away before timing starts. Default 10 (bench), 5 (scale). */
  warmup: {
    doc: 'steps run before timing starts (excluded)',
    value: 'N',
    bench: on(int(0, 1_000_000), { default: 10 }),
    scale: on(int(0, 1_000_000), { default: 5 }),
  },
  /** Bench and scale: timed steps per repeat (full batches only). Default 100 (bench), 50 (scale). */
  steps: { doc: 'timed steps per repeat', value: 'N', bench: on(int(1, 1_000_000), { default: 100 }), scale: on(int(1, 1_000_000), { default: 50 }) },
  /** Bench and scale: timed repeats per configuration; the report gives their median. Default 3. */
  repeats: {
    doc: 'timed repeats per configuration; the median is reported',
    value: 'N',
    bench: on(int(1, 1000), { default: 3 }),
    scale: on(int(1, 1000), { default: 3 }),
  },
  /** Bench: which model: 'seed' (the seed MLP, step-level breakdown) or a zoo model of tfjs-examples (whole fit calls). Default 'seed'. */
  model: {
    doc: `seed, or a tfjs-examples model: ${ZOO_MODELS.join('|')} (stock model.fit vs parallelFit, whole calls)`,
    value: 'NAME',
    bench: on(oneOf(['seed', ...ZOO_MODELS] as const), { default: 'seed' }),
    train: on(path(), {
      value: 'FILE',
      defaultDoc: 'the seed MLP',
      doc: 'train your tfjs Layers model.json (its weights too, if its manifest names them) instead of the seed MLP',
      note: "compiled from its training_config or --loss/--optimizer/--metrics; data from --data-dir (IDX of any shape) or --data (CSV). See README's 'Your own model and data'",
    }),
  },
  /** Train --model: a CSV file of samples (a header row), streamed from disk every epoch. */
  data: { doc: 'with --model: a CSV file (header row, numeric features), streamed every epoch', value: 'FILE', train: on(path()) },
  /** Train --data: the label column's name. */
  labelColumn: { doc: "with --data: the label column's name (numbers or class names)", value: 'NAME', train: on(text()) },
  /** Train --model: the loss, when not the model's training_config's (a tfjs loss name). */
  loss: { doc: "with --model: the loss (tfjs name, e.g. categoricalCrossentropy), instead of the model.json's", value: 'NAME', train: on(text()) },
  /** Train --model: the optimizer, NAME or NAME:LEARNING_RATE. */
  optimizer: { doc: 'with --model: the optimizer, NAME[:LR] (sgd, momentum, adam, adamax, adagrad, adadelta, rmsprop)', value: 'NAME[:LR]', train: on(text()) },
  /** Train --model: metrics, comma-separated. */
  metrics: { doc: "with --model: metrics, comma-separated (e.g. accuracy), instead of the model.json's", value: 'LIST', train: on(text()) },
  /** Train --model: save the trained model here (model.json + weights.bin). */
  saveModel: { doc: 'with --model: save the trained model here (model.json + weights.bin, for tf.loadLayersModel)', value: 'DIR', train: on(path()) },
  /** Bench: where threadfit rows read their batches: 'memory', 'dataset', or 'both' (a row of each, same run). */
  input: {
    doc: 'threadfit rows: memory (the data set in shared memory), dataset (a tf.data generator through parallelFitDataset), or both',
    value: 'HOW',
    bench: on(oneOf(['memory', 'dataset', 'both']), { default: 'memory' }),
  },
  /** Bench --model (not seed): samples per epoch. Default per model (README's bench table). */
  samples: { doc: 'with --model (not seed): samples per epoch', value: 'N', bench: on(int(1, 10_000_000), { defaultDoc: 'per model' }) },
  /** Scale: global batch sizes of the strong-scaling series. Default [128, 1024]. */
  strongBatchSizes: { doc: 'global batch sizes of the strong-scaling series', value: 'LIST', scale: on(intList(1, MAX_BENCH_BATCH), { default: [128, 1024] }) },
  /** Scale: per-worker batch of the weak-scaling series. Default 64. */
  weakBatchSize: { doc: 'per-worker batch of the weak-scaling series', value: 'N', scale: on(int(1, MAX_BENCH_BATCH), { default: 64 }) },
  /** Several hosts (docs/MULTI-HOST.md): 'N' or 'MIN:N' hosts; default from WORLD_SIZE / SLURM_STEP_NUM_TASKS. */
  hosts: {
    doc: 'hosts joined by Gloo (docs/MULTI-HOST.md); MIN: fewest to go on with',
    value: 'N|MIN:N',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'WORLD_SIZE or SLURM_STEP_NUM_TASKS, else 1' }),
  },
  /** This host's rank at launch; default from RANK / SLURM_PROCID. */
  hostRank: { doc: "this host's rank, 0..N-1", value: 'R', group: 'hosts', train: on(text(), { defaultDoc: 'RANK or SLURM_PROCID' }) },
  /** redis://HOST:PORT or file:///DIR; default THREADFIT_RENDEZVOUS, else Redis at MASTER_ADDR:MASTER_PORT+1. */
  rendezvous: {
    doc: 'where hosts meet: redis://HOST:PORT or file:///SHARED/DIR',
    value: 'URL',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'THREADFIT_RENDEZVOUS, else redis://MASTER_ADDR:MASTER_PORT+1' }),
  },
  /** Rendezvous namespace, new for every run. Default THREADFIT_JOB, torchrun's run id + restart count, Slurm's job.step; else required. */
  job: {
    doc: 'rendezvous namespace, new for every run (required otherwise)',
    value: 'ID',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'THREADFIT_JOB, torchrun run id, Slurm job.step' }),
  },
  /** Network interface to advertise; default the one routing to the rendezvous host. */
  iface: {
    doc: 'network interface to advertise to peers',
    value: 'NAME',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'the one routing to the rendezvous host' }),
  },
  /** Per-collective timeout across hosts in ms. Default adaptive: max(5 s, 10 x median step). */
  commTimeoutMs: {
    doc: 'a collective across hosts slower than this fails',
    flag: 'comm-timeout',
    value: 'MS',
    group: 'hosts',
    train: on(text(), { defaultDoc: 'max(5000, 10 x median step)', deprecated: 'commTimeout' }),
  },
  /** Pino log level (stderr). Default 'info'. */
  logLevel: {
    doc: 'fatal|error|warn|info|debug|trace|silent',
    value: 'LEVEL',
    train: on(oneOf(LOG_LEVELS), { default: 'info' }),
    evaluate: on(oneOf(LOG_LEVELS), { default: 'info' }),
  },
  /** Log format (stderr). Default 'pretty' (the CLI: pretty on a terminal, else json). */
  logFormat: {
    doc: 'pretty|json (logs go to stderr)',
    value: 'FMT',
    train: on(oneOf(LOG_FORMATS), { default: 'pretty', defaultDoc: 'pretty on a terminal, else json' }),
    evaluate: on(oneOf(LOG_FORMATS), { default: 'pretty', defaultDoc: 'pretty on a terminal, else json' }),
  },
} satisfies Record<string, OptionEntry>;
