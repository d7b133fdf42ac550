/**
 * A user's data for `threadfit train --model`, as datasets for parallelFitDataset:
 *
 *   IDX (--data-dir): train-images/train-labels IDX files of any sample shape (28x28, 32x32x3, a
 *     flat vector) and any number of classes, uint8 pixels scaled to [0, 1]; the test pair
 *     (t10k- or test-) when present validates every epoch. Held in memory (the files are read
 *     whole anyway), batched per step from a seeded permutation per pass.
 *   CSV (--data FILE --label-column NAME): a header row, numeric feature columns, a label column
 *     of numbers or of class names. Checked in one pass first (every bad line named), then
 *     streamed from disk every epoch, shuffled within a seeded window of rows.
 *
 * Labels are encoded for the model's loss: one-hot for categorical cross-entropy (as many classes
 * as the model has output units), class ids for the sparse one, raw values otherwise
 * (regression, binary). Samples are reshaped to the model's input where only the layout differs
 * (28x28 images into a [784] input).
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, Rng, ThreadfitError, deriveSeed, epochPermutation, readIdxFile } from '@threadfit/shared';
import type { DatasetLike } from '../fit/dataset-batches.js';

const bad = (where: string, problem: string) => new ThreadfitError(ErrorCodes.BAD_DATA, `${where}: ${problem}`);
const dims = (s: ReadonlyArray<number | null>): string => `[${s.map((d) => (d === null ? 'null' : d)).join(', ')}]`;
const product = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** How targets are encoded for the model's single output and loss. */
export interface TargetEncoding {
  kind: 'one-hot' | 'class-id' | 'raw';
  /** one-hot: classes (the output's units); raw: values per sample (the output's units); class-id: 1. */
  width: number;
  /** The model's classes (one-hot and class-id: the output's units). */
  classes: number;
}

/** The model's one input and one output, and how labels reach its loss; `file` names the source in errors. */
export interface ModelTarget {
  inputShape: number[];
  encoding: TargetEncoding;
}

export function modelTarget(model: tfTypes.LayersModel, modelFile: string): ModelTarget {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `--model ${modelFile} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; --data-dir and --data feed one input and one output (use parallelFitDataset for others)`,
    );
  }
  const inShape = model.inputs[0].shape.slice(1);
  if (inShape.some((d) => d === null))
    throw new ThreadfitError(
      ErrorCodes.INVALID_OPTION,
      `--model ${modelFile}: its input shape ${dims(model.inputs[0].shape)} has a free dimension besides the batch; --data-dir and --data need a fixed one`,
    );
  const out = model.outputs[0].shape.slice(1);
  const units = (out[out.length - 1] ?? 1) as number;
  const loss = String((model as unknown as { loss: unknown }).loss ?? '');
  const encoding: TargetEncoding = /^categoricalCrossentropy$|^categorical_crossentropy$/.test(loss)
    ? { kind: 'one-hot', width: units, classes: units }
    : /sparse/i.test(loss)
      ? { kind: 'class-id', width: 1, classes: units }
      : { kind: 'raw', width: units, classes: units };
  return { inputShape: inShape as number[], encoding };
}

/** Checks a data sample shape against the model's input (equal, or the same size: reshaped). */
function checkInput(sample: readonly number[], target: ModelTarget, where: string, modelFile: string): void {
  if (product(sample) === product(target.inputShape)) return;
  throw bad(
    where,
    `samples of shape ${dims(sample)} (${product(sample)} values) do not fit --model ${modelFile}, whose input takes ${dims(target.inputShape)} (${product(target.inputShape)} values)`,
  );
}

function encodeLabel(v: number, e: TargetEncoding, out: Float32Array, row: number, where: () => string): void {
  if (e.kind === 'raw') {
    if (e.width !== 1)
      throw bad(where(), `the model's output has ${e.width} units but the data has one label per sample; a raw (regression) label needs a 1-unit output`);
    out[row] = v;
    return;
  }
  if (!Number.isInteger(v) || v < 0 || v >= e.classes) {
    throw bad(where(), `label ${v} is not a class of the model: its output has ${e.classes} units (classes 0..${e.classes - 1})`);
  }
  if (e.kind === 'one-hot') out[row * e.width + v] = 1;
  else out[row] = v;
}

// ---------------------------------------------------------------------------------------------
// IDX

export interface IdxSplit {
  x: Uint8Array;
  labels: Uint8Array;
  /** One sample's shape in the file. */
  sample: number[];
  count: number;
  files: [string, string];
}

function findIdx(dir: string, prefixes: string[], kind: 'images' | 'labels'): string | undefined {
  const names = readdirSync(dir);
  for (const p of prefixes) {
    const re = new RegExp(`^${p}-${kind}[.-]idx\\d-ubyte(\\.gz)?$`);
    const hit = names.find((n) => re.test(n));
    if (hit !== undefined) return join(dir, hit);
  }
  return undefined;
}

function readSplit(dir: string, prefixes: string[]): IdxSplit | undefined {
  const images = findIdx(dir, prefixes, 'images');
  const labels = findIdx(dir, prefixes, 'labels');
  if (images === undefined && labels === undefined) return undefined;
  if (images === undefined || labels === undefined) {
    throw bad(
      `--data-dir ${dir}`,
      `has ${images ?? labels} but no matching ${images === undefined ? `${prefixes[0]}-images-idxN-ubyte` : `${prefixes[0]}-labels-idx1-ubyte`}`,
    );
  }
  const x = readIdxFile(images);
  const y = readIdxFile(labels);
  if (x.dims.length < 2) throw bad(images, `has ${x.dims.length} dimension; an images file has the sample count and at least one more`);
  if (y.dims.length !== 1) throw bad(labels, `has ${y.dims.length} dimensions; a labels file has one (the sample count)`);
  if (x.dims[0] !== y.dims[0]) throw bad(labels, `holds ${y.dims[0]} labels but ${images} holds ${x.dims[0]} samples`);
  return { x: x.data, labels: y.data, sample: x.dims.slice(1), count: x.dims[0], files: [images, labels] };
}

export interface IdxData {
  train: IdxSplit;
  test?: IdxSplit;
}

export function loadIdxDir(dir: string): IdxData {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw bad(`--data-dir ${dir}`, 'no such directory');
  const train = readSplit(dir, ['train']);
  if (train === undefined) throw bad(`--data-dir ${dir}`, 'holds no train-images-idxN-ubyte and train-labels-idx1-ubyte (raw or .gz)');
  const test = readSplit(dir, ['t10k', 'test']);
  if (test !== undefined && product(test.sample) !== product(train.sample)) {
    throw bad(test.files[0], `samples of shape ${dims(test.sample)}, but the training samples have ${dims(train.sample)}`);
  }
  return { train, test };
}

/** One split's samples (rows `rows`) as the model's x and y tensors. */
function idxTensors(tf: typeof tfTypes, s: IdxSplit, rows: ArrayLike<number>, t: ModelTarget): { xs: tfTypes.Tensor; ys: tfTypes.Tensor } {
  const per = product(s.sample);
  const n = rows.length;
  const x = new Float32Array(n * per);
  const e = t.encoding;
  const y = new Float32Array(n * (e.kind === 'one-hot' ? e.width : 1));
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    for (let k = 0; k < per; k++) x[i * per + k] = s.x[r * per + k] / 255;
    encodeLabel(s.labels[r], e, y, i, () => `${s.files[1]} (sample ${r})`);
  }
  return { xs: tf.tensor(x, [n, ...t.inputShape]), ys: tf.tensor(y, e.kind === 'one-hot' ? [n, e.width] : [n, 1]) };
}

/** Checks a split against the model (shapes, every label) before any thread starts. */
export function checkIdxSplit(s: IdxSplit, t: ModelTarget, modelFile: string): void {
  checkInput(s.sample, t, s.files[0], modelFile);
  const probe = new Float32Array(t.encoding.kind === 'one-hot' ? t.encoding.width : 1);
  for (let i = 0; i < s.count; i++) {
    probe.fill(0);
    encodeLabel(s.labels[i], t.encoding, probe, 0, () => `${s.files[1]} (sample ${i})`);
  }
}

/**
 * The training split as an endless dataset of batches (parallelFitDataset with batchesPerEpoch =
 * ceil(count / batch)): pass p is a seeded permutation of the samples (the last batch of a pass
 * may be short). Every iterator() starts from pass 0, so a resumed run redraws the same batches.
 */
export function idxDataset(tf: typeof tfTypes, s: IdxSplit, t: ModelTarget, batch: number, seed: number): DatasetLike {
  return {
    size: null,
    async iterator() {
      const order = new Int32Array(s.count);
      let pass = -1;
      let at = s.count;
      return {
        async next(): Promise<IteratorResult<unknown>> {
          if (at >= s.count) {
            epochPermutation(s.count, seed, ++pass, order);
            at = 0;
          }
          const rows = order.subarray(at, Math.min(s.count, at + batch));
          at += rows.length;
          return { done: false, value: idxTensors(tf, s, rows, t) };
        },
      };
    },
  };
}

/** A split whole, as [x, y] tensors (validation data). */
export function idxValidation(tf: typeof tfTypes, s: IdxSplit, t: ModelTarget): [tfTypes.Tensor, tfTypes.Tensor] {
  const { xs, ys } = idxTensors(
    tf,
    s,
    Int32Array.from({ length: s.count }, (_, i) => i),
    t,
  );
  return [xs, ys];
}

// ---------------------------------------------------------------------------------------------
// CSV

/** One CSV line's fields: commas outside double quotes; "" inside quotes is a quote. */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur.trim());
  return out;
}

export interface CsvInfo {
  file: string;
  header: string[];
  labelIndex: number;
  rows: number;
  features: number;
  /** Class names, sorted, when the labels are not all numbers (a class's id is its index). */
  classes?: string[];
}

async function* csvLines(file: string): AsyncGenerator<{ line: string; no: number }> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let no = 0;
  for await (const line of rl) {
    no++;
    if (line.trim().length > 0) yield { line, no };
  }
}

/** The pass over a CSV file before training: header, label column, counts, every line checked. */
export async function scanCsv(file: string, labelColumn: string, t: ModelTarget, modelFile: string): Promise<CsvInfo> {
  if (!existsSync(file) || statSync(file).isDirectory()) throw bad(`--data ${file}`, 'no such file');
  let header: string[] | undefined;
  let labelIndex = -1;
  let rows = 0;
  const names = new Set<string>();
  let numeric = true;
  for await (const { line, no } of csvLines(file)) {
    const f = csvFields(no === 1 ? line.replace(/^\uFEFF/, '') : line);
    if (header === undefined) {
      header = f;
      labelIndex = header.indexOf(labelColumn);
      if (labelIndex < 0) throw bad(`--data ${file}`, `has no column '${labelColumn}' (--label-column); its header: ${header.join(', ')}`);
      checkInput([header.length - 1], t, `--data ${file}`, modelFile);
      continue;
    }
    if (f.length !== header.length) throw bad(`${file} line ${no}`, `has ${f.length} fields, the header has ${header.length}`);
    f.forEach((v, i) => {
      if (i === labelIndex) return;
      if (v === '' || !Number.isFinite(Number(v))) throw bad(`${file} line ${no}`, `column '${header![i]}' holds '${v}', not a number`);
    });
    const label = f[labelIndex];
    if (label === '') throw bad(`${file} line ${no}`, `column '${labelColumn}' (the label) is empty`);
    names.add(label);
    if (!Number.isFinite(Number(label))) numeric = false;
    rows++;
  }
  if (header === undefined || rows === 0) throw bad(`--data ${file}`, 'holds no data rows (a header row, then one sample per line)');
  const classes = numeric ? undefined : [...names].sort();
  if (classes !== undefined && t.encoding.kind === 'raw') {
    throw bad(
      `--data ${file}`,
      `column '${labelColumn}' holds class names (${classes.slice(0, 3).join(', ')}...) but the model's loss takes raw values (regression)`,
    );
  }
  const info: CsvInfo = { file, header, labelIndex, rows, features: header.length - 1, classes };
  // Every label must be a class of the model: checked now, not at batch 900.
  if (t.encoding.kind !== 'raw') {
    const probe = new Float32Array(t.encoding.kind === 'one-hot' ? t.encoding.width : 1);
    for (const name of names) {
      probe.fill(0);
      encodeLabel(
        classes === undefined ? Number(name) : classes.indexOf(name),
        t.encoding,
        probe,
        0,
        () => `--data ${file} column '${labelColumn}' (value '${name}')`,
      );
    }
  }
  return info;
}

/** Rows of the CSV shuffled within a window of this many, or two batches if more (the file is streamed, never held). */
export const CSV_SHUFFLE_WINDOW = 4096;

/**
 * The CSV as an endless dataset of batches streamed from disk: each pass reads the file again,
 * shuffling within a seeded window of CSV_SHUFFLE_WINDOW rows.
 */
export function csvDataset(tf: typeof tfTypes, info: CsvInfo, t: ModelTarget, batch: number, seed: number): DatasetLike {
  const e = t.encoding;
  const yWidth = e.kind === 'one-hot' ? e.width : 1;
  // The window holds at least two batches, so that every batch is whole (but a pass's last).
  const windowRows = Math.max(CSV_SHUFFLE_WINDOW, 2 * batch);
  return {
    size: null,
    async iterator() {
      let pass = 0;
      let lines = csvLines(info.file);
      let headerSkipped = false;
      let rand = new Rng(deriveSeed(seed, 0, pass));
      const window: string[][] = [];
      let fileDone = false;
      const refill = async () => {
        while (!fileDone && window.length < windowRows) {
          const r = await lines.next();
          if (r.done) {
            fileDone = true;
            break;
          }
          if (!headerSkipped) {
            headerSkipped = true;
            continue;
          }
          window.push(csvFields(r.value.line));
        }
      };
      return {
        async next(): Promise<IteratorResult<unknown>> {
          await refill();
          if (window.length === 0) {
            // The pass is over: the next one reads the file again.
            pass++;
            lines = csvLines(info.file);
            headerSkipped = false;
            fileDone = false;
            rand = new Rng(deriveSeed(seed, 0, pass));
            await refill();
          }
          const n = Math.min(batch, window.length);
          const x = new Float32Array(n * info.features);
          const y = new Float32Array(n * yWidth);
          for (let i = 0; i < n; i++) {
            // A random row of the window (swap-remove), then the window refills.
            const k = Math.floor(rand.next() * window.length);
            const f = window[k];
            window[k] = window[window.length - 1];
            window.pop();
            let c = 0;
            for (let j = 0; j < f.length; j++) if (j !== info.labelIndex) x[i * info.features + c++] = Number(f[j]);
            const label = f[info.labelIndex];
            encodeLabel(info.classes === undefined ? Number(label) : info.classes.indexOf(label), e, y, i, () => `${info.file}`);
            if (window.length === 0 && i < n - 1) await refill();
          }
          return { done: false, value: { xs: tf.tensor(x, [n, ...t.inputShape]), ys: tf.tensor(y, [n, yWidth]) } };
        },
      };
    },
  };
}
