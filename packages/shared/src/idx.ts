/**
 * IDX reader (the MNIST file format): big-endian header, magic 0x0000_08_NN where 08 is uint8 and
 * NN the number of dimensions, then the dimensions as uint32, then the data. Raw or gzip.
 * Every check names the file and what is wrong.
 */
import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { badData } from './errors.js';

export const IDX_IMAGES_MAGIC = 2051; // 0x00000803: uint8, 3 dimensions
export const IDX_LABELS_MAGIC = 2049; // 0x00000801: uint8, 1 dimension

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Refuse to inflate past this (a 60k MNIST image file is 47 MB): guards against gzip bombs. */
export const MAX_IDX_BYTES = 1 << 30;

/** Reads a file (raw IDX, or gzip when it starts with the gzip magic or ends with .gz). */
export function readIdxFile(file: string, maxBytes = MAX_IDX_BYTES): IdxArray {
  let bytes: Buffer;
  try {
    if (!statSync(file).isFile()) throw badData(file, 'is not a regular file');
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_THREADFIT_BAD_DATA') throw err;
    throw badData(file, `cannot be read (${(err as Error).message})`);
  }
  const isGzip = bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
  if (file.endsWith('.gz') && !isGzip) throw badData(file, 'has a .gz name but is not gzip data (no 1f 8b magic)');
  if (isGzip) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw badData(file, `inflates past ${maxBytes} bytes; refusing it`);
      throw badData(file, `is not valid gzip data (${(err as Error).message})`);
    }
  }
  return parseIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length < 4) throw badData(file, `is ${bytes.length} bytes long, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const ndim = magic & 0xff;
  if (magic >>> 16 !== 0 || type !== 0x08 || ndim < 1 || ndim > 4) {
    throw badData(file, `bad IDX magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}); expected 2051 (images) or 2049 (labels) of uint8`);
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw badData(file, `is ${bytes.length} bytes long, too short for a ${ndim}-dimension IDX header`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  if (actual !== expected) {
    throw badData(
      file,
      `holds ${actual} data bytes but its header (dimensions ${dims.join('x')}) says ${expected}${actual < expected ? ': the file is truncated' : ''}`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

export interface LabelledImages {
  count: number;
  rows: number;
  cols: number;
  images: Uint8Array;
  labels: Uint8Array;
}

/** Reads and cross-checks an images file and its labels file. */
export function readIdxPair(imagesFile: string, labelsFile: string, numClasses = 10): LabelledImages {
  const img = readIdxFile(imagesFile);
  const lab = readIdxFile(labelsFile);
  if (img.dims.length !== 3) throw badData(imagesFile, `is not an images file: magic says ${img.dims.length} dimensions, expected 3 (magic 2051)`);
  if (lab.dims.length !== 1) throw badData(labelsFile, `is not a labels file: magic says ${lab.dims.length} dimensions, expected 1 (magic 2049)`);
  const [count, rows, cols] = img.dims;
  if (count === 0 || rows === 0 || cols === 0) throw badData(imagesFile, `has an empty dimension (${img.dims.join('x')})`);
  if (lab.dims[0] !== count) throw badData(labelsFile, `has ${lab.dims[0]} labels but ${imagesFile} has ${count} images`);
  for (let i = 0; i < lab.data.length; i++) {
    if (lab.data[i] >= numClasses) throw badData(labelsFile, `label ${lab.data[i]} at index ${i} is outside 0..${numClasses - 1}`);
  }
  return { count, rows, cols, images: img.data, labels: lab.data };
}
