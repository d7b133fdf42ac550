/**
 * model.fit's `classWeight`, read as tfjs-layers reads it (standardizeClassWeights and
 * standardizeWeights): one object of class index -> weight for a one-output model, else an array
 * with one per output or an object keyed by output name. A sample's class is the argmax of its
 * one-hot target, or the target itself for class ids ([n] or [n, 1]). Checked here, before any
 * thread starts, against the training targets: every class that occurs needs a weight (tfjs's own
 * rule). The workers get one dense table per output (index = class).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCodes, ThreadfitError } from '@threadfit/shared';

type ClassWeight = tfTypes.ClassWeight;
export type ClassWeightInput = tfTypes.ModelFitArgs['classWeight'];

interface TargetColumn {
  values: ArrayLike<number>;
  sample: number[];
}

const invalid = (message: string) => new ThreadfitError(ErrorCodes.INVALID_OPTION, message);

function perOutput(input: NonNullable<ClassWeightInput>, outputNames: string[]): Array<ClassWeight | null> {
  const n = outputNames.length;
  if (Array.isArray(input)) {
    if (input.length === 0) return outputNames.map(() => null);
    if (input.length !== n)
      throw invalid(
        `options.classWeight is an array of ${input.length} but the model has ${n} output${n === 1 ? '' : 's'} (${outputNames.join(', ')}): give one per output`,
      );
    return input;
  }
  const values = Object.values(input);
  if (n === 1) return [outputNames[0] in input && typeof values[0] === 'object' ? (input as tfTypes.ClassWeightMap)[outputNames[0]] : (input as ClassWeight)];
  if (values.length > 0 && typeof values[0] === 'object') {
    for (const key of Object.keys(input)) {
      if (!outputNames.includes(key))
        throw invalid(`options.classWeight names output '${key}', which the model does not have (its outputs: ${outputNames.join(', ')})`);
    }
    return outputNames.map((name) => (input as tfTypes.ClassWeightMap)[name] ?? null);
  }
  throw invalid(`the model has ${n} outputs (${outputNames.join(', ')}), so options.classWeight must be an array of ${n} or an object keyed by output name`);
}

/** The class of each of the first `count` samples of a target column. */
function classesOf(y: TargetColumn, count: number, what: string): Int32Array {
  const out = new Int32Array(count);
  const oneHot = y.sample.length === 1 && y.sample[0] > 1;
  if (!oneHot && !(y.sample.length === 0 || (y.sample.length === 1 && y.sample[0] === 1))) {
    throw invalid(
      `options.classWeight needs ${what} to be one-hot ([n, classes]) or class ids ([n] or [n, 1]); it has samples of shape [${y.sample.join(', ')}]`,
    );
  }
  const width = oneHot ? y.sample[0] : 1;
  for (let i = 0; i < count; i++) {
    if (oneHot) {
      let best = 0;
      for (let c = 1; c < width; c++) if (y.values[i * width + c] > y.values[i * width + best]) best = c;
      out[i] = best;
    } else {
      const v = y.values[i];
      if (!Number.isInteger(v) || v < 0) throw invalid(`options.classWeight: ${what} holds ${v} at sample ${i}, not a class id`);
      out[i] = v;
    }
  }
  return out;
}

/**
 * One dense weight table per output (null: unweighted), or undefined when no class is weighted.
 * Every class among the first `trainCount` targets must have a weight (a dataset's batches are
 * checked one by one as they arrive: `checkClassesWeighted`).
 */
export function classWeightTables(input: ClassWeightInput, outputNames: string[], ys: TargetColumn[], trainCount: number): Array<number[] | null> | undefined {
  if (input === undefined || input === null) return undefined;
  const tables = perOutput(input, outputNames).map((weights, o) => {
    if (weights === null || weights === undefined) return null;
    if (typeof weights !== 'object')
      throw invalid(`options.classWeight for output ${outputNames[o]} must be an object of class index -> weight, got ${String(weights)}`);
    for (const [k, w] of Object.entries(weights)) {
      if (!/^\d+$/.test(k)) throw invalid(`options.classWeight for output ${outputNames[o]} has key '${k}'; keys are class indices (0, 1, ...)`);
      if (typeof w !== 'number' || !Number.isFinite(w))
        throw invalid(`options.classWeight for output ${outputNames[o]} gives class ${k} the weight ${String(w)}; weights are finite numbers`);
    }
    const what = ys.length > 1 ? `y[${o}]` : 'y';
    const classes = classesOf(ys[o], trainCount, what);
    let width = Math.max(ys[o].sample[0] ?? 1, 1 + Math.max(0, ...Object.keys(weights).map(Number)));
    for (let i = 0; i < classes.length; i++) width = Math.max(width, classes[i] + 1);
    const table = new Array<number>(width).fill(0);
    for (const [k, w] of Object.entries(weights)) table[Number(k)] = w;
    return table;
  });
  checkClassesWeighted(input, outputNames, ys, trainCount, (o) => (ys.length > 1 ? `y[${o}]` : 'y'));
  return tables.some((t) => t !== null) ? tables : undefined;
}

/** Refuses targets (the first `count` samples of `ys`) of a class that has no weight (tfjs's rule). */
export function checkClassesWeighted(
  input: ClassWeightInput,
  outputNames: string[],
  ys: TargetColumn[],
  count: number,
  what: (output: number) => string,
): void {
  if (input === undefined || input === null) return;
  perOutput(input, outputNames).forEach((weights, o) => {
    if (weights === null || weights === undefined) return;
    const classes = classesOf(ys[o], count, what(o));
    for (let i = 0; i < classes.length; i++) {
      if ((weights as ClassWeight)[classes[i]] === undefined) {
        throw invalid(
          `options.classWeight must give every class in the training data a weight (as model.fit): class ${classes[i]} occurs in ${what(o)} (sample ${i}) but has none`,
        );
      }
    }
  });
}
