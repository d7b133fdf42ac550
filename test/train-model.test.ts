/**
 * `threadfit train --model FILE`: real model.json files (as tfjs's file:// handler writes them)
 * trained by the real CLI on IDX data of a non-MNIST shape and on CSV files; checkpoints and the
 * saved model load with tf.loadLayersModel; resume and injected faults keep the bits; every bad
 * file or flag exits 2 naming it.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointIOHandler } from '@threadfit/coordinator';
import { idxBytes, runCli, tempDir } from './helpers.js';
import { ensureTensorflow } from './tensorflow-setup.js';

const tmp = tempDir('threadfit-model-');
afterAll(() => tmp.cleanup());

/** What `model.save('file://DIR')` writes with tfjs-node: model.json (+ trainingConfig with includeOptimizer) and weights.bin. */
async function saveAsTfjsNode(model: tf.LayersModel, dir: string, withTrainingConfig: boolean): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      const json = {
        modelTopology: a.modelTopology,
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
        ...(withTrainingConfig && { trainingConfig: (model as unknown as { getTrainingConfig(): unknown }).getTrainingConfig() }),
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      };
      writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return join(dir, 'model.json');
}

/** tf.loadLayersModel on a model.json + weights.bin directory (what file:// does with tfjs-node). */
async function loadSaved(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const weights = readFileSync(join(dir, 'weights.bin'));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      trainingConfig: json.trainingConfig,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
}

/** IDX files of 10x10 images in 4 classes (a lit band per class), train and test. */
function writeIdx(dir: string, train: number, test: number): void {
  mkdirSync(dir, { recursive: true });
  let s = 3;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const make = (n: number) => {
    const images = new Uint8Array(n * 100);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rand() * 4);
      labels[i] = c;
      for (let p = 0; p < 100; p++) images[i * 100 + p] = Math.floor(p / 10) >= c * 2 && Math.floor(p / 10) < c * 2 + 3 ? 200 : Math.floor(rand() * 60);
    }
    return { images, labels };
  };
  for (const [prefix, n] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    const d = make(n);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes([n, 10, 10], d.images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes([n], d.labels));
  }
}

function writeCsv(file: string, n: number, labels: (c: number) => string): void {
  let s = 5;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const lines = ['f1,f2,"label",f3'];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * 3);
    lines.push([(c + rand()).toFixed(3), rand().toFixed(3), labels(c), (2 * c + rand()).toFixed(3)].join(','));
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

let cnnFile: string;
let mlpFile: string;
let idxDir: string;
let csvFile: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const cnn = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [10, 10, 1],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  cnn.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  cnnFile = await saveAsTfjsNode(cnn, join(tmp.dir, 'cnn'), true);
  const mlp = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 12, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
  mlpFile = await saveAsTfjsNode(mlp, join(tmp.dir, 'mlp'), false);
  idxDir = join(tmp.dir, 'idx');
  writeIdx(idxDir, 512, 128);
  csvFile = join(tmp.dir, 'data.csv');
  writeCsv(csvFile, 400, (c) => ['setosa', 'versicolor', 'virginica'][c]);
});

const base = ['--backend', 'wasm', '--workers', '2', '--quiet', '--log-level', 'warn'];
/** `threadfit train` of the CNN model.json on the IDX set for `epochs`, batch 32. */
const cnnRun = (epochs: string) => ['train', '--model', cnnFile, '--data-dir', idxDir, '--epochs', epochs, '--batch-size', '32'];

describe('threadfit train --model', () => {
  it('a CNN model.json (with its training_config) on 10x10 IDX images of 4 classes: report, checkpoint and saved model load with tf.loadLayersModel', async () => {
    const ckpt = join(tmp.dir, 'ckpt-cnn');
    const saved = join(tmp.dir, 'cnn-trained');
    const report = join(tmp.dir, 'cnn.json');
    const r = await runCli([...cnnRun('3'), '--checkpoint-dir', ckpt, '--save-model', saved, '--report', report, ...base]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as {
      history: Record<string, number[]>;
      epochs: Array<{ steps: number }>;
      test: { acc: number };
      config: { gradients: string; gradientNotices?: string[] };
    };
    expect(Object.keys(rep.history)).toEqual(['loss', 'acc', 'val_loss', 'val_acc']);
    // A conv net runs on the tape (on wasm: no traced graph step, so no decisions to report).
    expect(rep.config.gradients).toBe('tape');
    expect(rep.config.gradientNotices).toBeUndefined();
    expect(rep.epochs.map((e) => e.steps)).toEqual([16, 16, 16]);
    expect(rep.test.acc).toBeGreaterThan(0.9);
    const fromCkpt = await tf.loadLayersModel(checkpointIOHandler(join(ckpt, 'ckpt-000048')));
    const fromSaved = await loadSaved(saved);
    const x = tf.ones([2, 10, 10, 1]);
    expect(Array.from((fromCkpt.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((fromSaved.predict(x) as tf.Tensor).dataSync()));
    // The saved file trains again as it is (its training config travels with it).
    expect(fromSaved.loss).toBe('categoricalCrossentropy');
  });

  it("on tensorflow, the report says how the CNN's gradients ran: on the tape, its steps as one traced TensorFlow graph", async () => {
    ensureTensorflow();
    const report = join(tmp.dir, 'cnn-tf.json');
    const r = await runCli([...cnnRun('1'), '--report', report, '--backend', 'tensorflow', '--workers', '2', '--quiet', '--log-level', 'warn']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { config: { gradients: string; gradientNotices?: string[] } };
    expect(rep.config.gradients).toBe('tape');
    // 32 rows a step on 2 workers: 16 each; the epoch's 512 samples divide evenly.
    expect(rep.config.gradientNotices).toEqual([expect.stringMatching(/^steps of 16 rows run as one traced TensorFlow graph \(\d+ kernels/)]);
  });

  it('an MLP model.json without a training_config, compiled from flags, on a CSV with class names', async () => {
    const report = join(tmp.dir, 'mlp.json');
    const flags = [
      'train',
      '--model',
      mlpFile,
      '--data',
      csvFile,
      '--label-column',
      'label',
      '--epochs',
      '6',
      '--batch-size',
      '16',
      '--report',
      report,
      ...base,
    ];
    const refused = await runCli(flags);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--model .*mlp\/model\.json: has no training_config \(loss and optimizer\): pass --loss NAME and --optimizer NAME\[:LR\]/);
    const r = await runCli([...flags, '--loss', 'categoricalCrossentropy', '--optimizer', 'adam:0.02', '--metrics', 'accuracy']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { history: Record<string, number[]>; config: { learningRate: number } };
    expect(rep.config.learningRate).toBe(0.02);
    expect(rep.history.acc.at(-1)).toBeGreaterThan(0.9);
  });

  it('--optimizer alone recompiles a model.json that has a training_config, keeping its loss and metrics', async () => {
    const report = join(tmp.dir, 'reopt.json');
    const r = await runCli([...cnnRun('1'), '--optimizer', 'sgd:0.05', '--report', report, ...base]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { history: Record<string, number[]>; config: { learningRate: number } };
    expect(rep.config.learningRate).toBe(0.05);
    expect(Object.keys(rep.history)).toEqual(['loss', 'acc', 'val_loss', 'val_acc']);
  });

  it("a model.json as tensorflowjs_converter writes it from Keras (training_config inside modelTopology, Keras's names)", async () => {
    const tfjs = JSON.parse(readFileSync(cnnFile, 'utf8')) as { modelTopology: Record<string, unknown>; weightsManifest: unknown };
    const { keras_version, backend, ...modelConfig } = tfjs.modelTopology;
    const converted = {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version,
        backend,
        model_config: modelConfig,
        training_config: {
          loss: 'categorical_crossentropy',
          metrics: ['accuracy'],
          optimizer_config: { class_name: 'Adam', config: { learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 } },
        },
      },
      weightsManifest: tfjs.weightsManifest,
    };
    const file = join(tmp.dir, 'cnn', 'converted.json');
    writeFileSync(file, JSON.stringify(converted));
    const report = join(tmp.dir, 'converted-report.json');
    const r = await runCli(['train', '--model', file, '--data-dir', idxDir, '--epochs', '2', '--batch-size', '32', '--report', report, ...base]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { history: Record<string, number[]>; config: { learningRate: number } };
    expect(rep.config.learningRate).toBe(0.01);
    expect(rep.history.val_acc.at(-1)).toBeGreaterThan(0.8);
  });

  it('resumed from its checkpoint with more epochs, and with a worker crash injected: the bits of one clean run', async () => {
    const run = async (extra: string[], epochs: number) => {
      const report = join(tmp.dir, `r-${Math.random().toString(36).slice(2)}.json`);
      const r = await runCli([...cnnRun(String(epochs)), '--report', report, ...base, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(readFileSync(report, 'utf8')) as { weightsSha256: string; history: Record<string, number[]> };
    };
    const clean = await run([], 3);
    const ckpt = join(tmp.dir, 'ckpt-resume');
    await run(['--checkpoint-dir', ckpt], 2);
    const resumed = await run(['--checkpoint-dir', ckpt, '--resume'], 3);
    expect(resumed.weightsSha256).toBe(clean.weightsSha256);
    // The report covers the whole run: the two epochs before the resume come from the checkpoint.
    expect(resumed.history.loss).toEqual(clean.history.loss);
    expect((await run(['--inject-fault', 'exit@step=20,rank=1'], 3)).weightsSha256).toBe(clean.weightsSha256);
  });
});

describe('threadfit train --model: bad input exits 2 naming the file and the mismatch', () => {
  it.each([
    [
      'a graph model',
      () => ({ file: writeJson('graph.json', { format: 'graph-model', modelTopology: { node: [] } }) }),
      /is a tfjs graph model.*tensorflowjs_converter --output_format tfjs_layers_model/,
    ],
    ['not a Layers model.json', () => ({ file: writeJson('other.json', { hello: 1 }) }), /other\.json: is not a tfjs Layers model\.json/],
    [
      'a missing weights file',
      () => {
        const json = JSON.parse(readFileSync(cnnFile, 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
        json.weightsManifest[0].paths = ['gone.bin'];
        return { file: writeJson('noweights.json', json) };
      },
      /noweights\.json: its weightsManifest names gone\.bin, which does not exist/,
    ],
    [
      'data that does not fit the input',
      () => ({ file: mlpFile, extra: ['--data-dir', idxDir, '--loss', 'categoricalCrossentropy', '--optimizer', 'sgd'] }),
      /train-images-idx3-ubyte: samples of shape \[10, 10\] \(100 values\) do not fit --model .*whose input takes \[3\]/,
    ],
    [
      'an unknown loss',
      () => ({ file: mlpFile, extra: ['--data', csvFile, '--label-column', 'label', '--loss', 'nope', '--optimizer', 'sgd'] }),
      /--loss nope: tfjs refuses it/,
    ],
    [
      'an unknown optimizer',
      () => ({ file: mlpFile, extra: ['--data', csvFile, '--label-column', 'label', '--loss', 'meanSquaredError', '--optimizer', 'lion:0.1'] }),
      /--optimizer lion:0\.1: unknown optimizer; expected NAME or NAME:LEARNING_RATE/,
    ],
    [
      'a missing label column',
      () => ({ file: mlpFile, extra: ['--data', csvFile, '--label-column', 'species', '--loss', 'categoricalCrossentropy', '--optimizer', 'sgd'] }),
      /data\.csv: has no column 'species' \(--label-column\); its header: f1, f2, label, f3/,
    ],
    [
      'a CSV line that is not a number',
      () => {
        const bad = join(tmp.dir, 'bad.csv');
        writeFileSync(bad, 'a,b,label,c\n1,2,0,3\n1,x,1,3\n');
        return { file: mlpFile, extra: ['--data', bad, '--label-column', 'label', '--loss', 'categoricalCrossentropy', '--optimizer', 'sgd'] };
      },
      /bad\.csv line 3: column 'b' holds 'x', not a number/,
    ],
    [
      'a label the model has no class for',
      () => {
        const many = join(tmp.dir, 'many.csv');
        writeCsv(many, 20, (c) => String(c + 2));
        return { file: mlpFile, extra: ['--data', many, '--label-column', 'label', '--loss', 'categoricalCrossentropy', '--optimizer', 'sgd'] };
      },
      /label [34] is not a class of the model: its output has 3 units \(classes 0\.\.2\)/,
    ],
    ['--lr with --model', () => ({ file: mlpFile, extra: ['--lr', '0.1'] }), /--lr does not apply with --model: .* give --optimizer NAME:LR/],
    [
      'a class id beyond the output (sparse loss)',
      () => {
        const ids = join(tmp.dir, 'ids.csv');
        writeCsv(ids, 20, (c) => String(c * 2));
        return { file: mlpFile, extra: ['--data', ids, '--label-column', 'label', '--loss', 'sparseCategoricalCrossentropy', '--optimizer', 'sgd'] };
      },
      /label 4 is not a class of the model: its output has 3 units \(classes 0\.\.2\)/,
    ],
  ])('%s', async (_, make, message) => {
    const { file, extra = [] } = make() as { file: string; extra?: string[] };
    const r = await runCli(['train', '--model', file, '--epochs', '1', ...base, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--data without --model, and --label-column without --data', async () => {
    const a = await runCli(['train', '--data', csvFile, '--label-column', 'label', ...base]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--data needs --model/);
    const b = await runCli(['train', '--model', mlpFile, '--label-column', 'label', ...base]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--label-column has no effect without --data/);
  });
});

function writeJson(name: string, value: unknown): string {
  const file = join(tmp.dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}
