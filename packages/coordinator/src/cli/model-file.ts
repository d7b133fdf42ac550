/**
 * `threadfit train --model FILE`: a user's tfjs Layers model.json (as `model.save('file://...')`
 * or tensorflowjs_converter --output_format tfjs_layers_model writes it), with its weights when
 * its manifest names them, compiled from its training_config or from --loss, --optimizer
 * NAME[:LR] and --metrics. Every refusal names the file (exit 2). And the other way: the trained
 * model saved as model.json + weights.bin, loadable by tf.loadLayersModel.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';

export interface CompileFlags {
  loss?: string;
  /** NAME or NAME:LEARNING_RATE, e.g. adam:0.001. */
  optimizer?: string;
  /** Comma-separated metric names. */
  metrics?: string;
}

const bad = (file: string, problem: string) => new ThreadfitError(ErrorCodes.BAD_DATA, `--model ${file}: ${problem}`);
const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);

/** tfjs's optimizer names (tf.train.*) and how each is built from a learning rate. */
const OPTIMIZERS: Record<string, (tf: typeof tfTypes, lr: number | undefined) => tfTypes.Optimizer> = {
  sgd: (tf, lr) => tf.train.sgd(lr ?? 0.01),
  momentum: (tf, lr) => tf.train.momentum(lr ?? 0.01, 0.9),
  adam: (tf, lr) => tf.train.adam(lr ?? 0.001),
  adamax: (tf, lr) => tf.train.adamax(lr ?? 0.002),
  adagrad: (tf, lr) => tf.train.adagrad(lr ?? 0.01),
  adadelta: (tf, lr) => tf.train.adadelta(lr ?? 1),
  rmsprop: (tf, lr) => tf.train.rmsprop(lr ?? 0.001),
};

export function optimizerFromFlag(tf: typeof tfTypes, text: string): tfTypes.Optimizer {
  const m = /^([a-zA-Z]+)(?::(.+))?$/.exec(text.trim());
  const name = m?.[1].toLowerCase();
  const make = name === undefined ? undefined : OPTIMIZERS[name];
  if (m === null || make === undefined) {
    throw invalid(`--optimizer ${text}: unknown optimizer; expected NAME or NAME:LEARNING_RATE with NAME one of ${Object.keys(OPTIMIZERS).join(', ')}`);
  }
  const lr = m[2] === undefined ? undefined : Number(m[2]);
  if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw invalid(`--optimizer ${text}: the learning rate must be a positive number, got ${m[2]}`);
  return make(tf, lr);
}

/** Keras's snake_case names as tfjs's (categorical_accuracy -> categoricalAccuracy). */
const camelCase = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

interface ModelJson {
  modelTopology?: { class_name?: string; config?: unknown; model_config?: unknown } & Record<string, unknown>;
  format?: string;
  weightsManifest?: Array<{ paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }>;
  trainingConfig?: tfTypes.io.TrainingConfig;
  generatedBy?: string;
  convertedBy?: string | null;
}

/** Reads and checks model.json and its weight files (all before any thread starts). */
function readArtifacts(file: string): tfTypes.io.ModelArtifacts {
  if (!existsSync(file)) throw bad(file, 'no such file');
  if (statSync(file).isDirectory()) {
    const inside = join(file, 'model.json');
    if (existsSync(inside)) return readArtifacts(inside);
    throw bad(file, 'is a directory without a model.json');
  }
  let json: ModelJson;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as ModelJson;
  } catch (err) {
    throw bad(file, `is not JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null) throw bad(file, 'is not a tfjs model.json (not an object)');
  if (json.format === 'graph-model' || (json.modelTopology !== undefined && 'node' in json.modelTopology)) {
    throw bad(
      file,
      'is a tfjs graph model (inference only); threadfit trains Layers models: convert the Keras model with tensorflowjs_converter --output_format tfjs_layers_model',
    );
  }
  const topology = json.modelTopology;
  const layersTopology = topology?.model_config ?? topology;
  if (typeof layersTopology !== 'object' || layersTopology === null || typeof (layersTopology as { class_name?: unknown }).class_name !== 'string') {
    throw bad(file, 'is not a tfjs Layers model.json: it has no modelTopology with a class_name (Sequential, Model, ...)');
  }
  const dir = dirname(resolve(file));
  const manifest = json.weightsManifest ?? [];
  const parts: Buffer[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      const path = join(dir, p);
      if (!existsSync(path)) throw bad(file, `its weightsManifest names ${p}, which does not exist (looked for ${path})`);
      parts.push(readFileSync(path));
    }
  }
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const bytes = Buffer.concat(parts);
  const expected = weightSpecs.reduce(
    (a, w) => a + w.shape.reduce((x, y) => x * y, 1) * (w.dtype === 'float32' || w.dtype === 'int32' || w.dtype === undefined ? 4 : 1),
    0,
  );
  if (weightSpecs.length > 0 && !weightSpecs.some((w) => w.quantization !== undefined) && bytes.length !== expected) {
    throw bad(
      file,
      `its weight files hold ${bytes.length} bytes but its weightsManifest describes ${expected}: a weight file is truncated or from another model`,
    );
  }
  return {
    modelTopology: topology as object,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    // tensorflowjs_converter keeps Keras's training_config inside modelTopology, where tfjs's own
    // loaders do not look for it.
    trainingConfig: json.trainingConfig ?? (topology?.training_config as tfTypes.io.TrainingConfig | undefined),
    ...(weightSpecs.length > 0 && { weightSpecs, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }),
  };
}

/**
 * The user's model, compiled: from the flags where given, else from its training_config. A model
 * without weights in its manifest starts from its layers' initializers (seeded by tfjs).
 */
export async function loadModelFile(tf: typeof tfTypes, file: string, flags: CompileFlags): Promise<tfTypes.LayersModel> {
  const artifacts = readArtifacts(file);
  // With --loss and --optimizer both given, the file's training config is not read at all (tfjs
  // may not deserialize a Keras optimizer config the flags replace anyway).
  const config = flags.loss !== undefined && flags.optimizer !== undefined ? undefined : artifacts.trainingConfig;
  let model: tfTypes.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, trainingConfig: config }));
  } catch (err) {
    throw bad(file, `tfjs cannot build it: ${(err as Error).message}`);
  }
  const hasFlags = flags.loss !== undefined || flags.optimizer !== undefined || flags.metrics !== undefined;
  const compiled = model.optimizer !== undefined && model.optimizer !== null;
  if (!hasFlags && compiled) return model;
  // What tfjs compiled from the training config is in tfjs's names (Keras writes snake_case).
  const loss = flags.loss ?? (compiled ? (model.loss as string | string[]) : undefined);
  if (loss === undefined) throw bad(file, 'has no training_config (loss and optimizer): pass --loss NAME and --optimizer NAME[:LR]');
  let optimizer: tfTypes.Optimizer | string;
  if (flags.optimizer !== undefined) optimizer = optimizerFromFlag(tf, flags.optimizer);
  else if (model.optimizer !== undefined && model.optimizer !== null) optimizer = model.optimizer;
  else throw bad(file, 'has no optimizer in its training_config: pass --optimizer NAME[:LR] (e.g. adam:0.001)');
  const metrics =
    flags.metrics !== undefined
      ? flags.metrics
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m.length > 0)
      : (config?.metrics as string[] | undefined)?.map(camelCase);
  try {
    model.compile({ loss, optimizer, metrics });
  } catch (err) {
    const which = flags.loss !== undefined ? `--loss ${flags.loss}` : flags.metrics !== undefined ? `--metrics ${flags.metrics}` : `--model ${file}`;
    throw invalid(`${which}: tfjs refuses it: ${(err as Error).message}`);
  }
  return model;
}

/** Saves a model as model.json + weights.bin in `dir` (created), as tfjs's file:// handler writes them, with its training config. */
export async function saveModelFiles(model: tfTypes.LayersModel, tf: typeof tfTypes, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = Buffer.from(artifacts.weightData as ArrayBuffer);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        // The loss, metrics and optimizer config, so that the file trains again as it is (tfjs
        // writes them only with includeOptimizer, which would add the optimizer's state too).
        trainingConfig: model.optimizer == null ? undefined : (model as unknown as { getTrainingConfig(): tfTypes.io.TrainingConfig }).getTrainingConfig(),
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      // Written beside, then renamed: a reader never sees half a model.
      writeFileSync(join(dir, 'weights.bin.tmp'), weights);
      writeFileSync(join(dir, 'model.json.tmp'), JSON.stringify(json));
      renameSync(join(dir, 'weights.bin.tmp'), join(dir, 'weights.bin'));
      renameSync(join(dir, 'model.json.tmp'), join(dir, 'model.json'));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.length } };
    }),
    { includeOptimizer: false },
  );
}
