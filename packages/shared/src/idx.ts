/**
 * IDX reader (the MNIST file format): big-endian header, magic 0x0000_08_NN where 08 is uint8 and
 * NN the number of dimensions, then the dimensions as uint32, then the data. Raw or gzip.
 * Every check names the file and what is wrong.
 */
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readSync, readlinkSync, statSync } from 'node:fs';
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

const IDX_TYPES: Record<number, string> = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

/** "2051 (0x00000803: uint8, 3 dimensions)". */
function magicText(magic: number): string {
  const type = IDX_TYPES[(magic >>> 8) & 0xff] ?? `type 0x${((magic >>> 8) & 0xff).toString(16).padStart(2, '0')}`;
  const ndim = magic & 0xff;
  return `${magic} (0x${magic.toString(16).padStart(8, '0')}: ${type}, ${ndim} dimension${ndim === 1 ? '' : 's'})`;
}

const ROLE: Record<number, string> = { [IDX_IMAGES_MAGIC]: 'an images file', [IDX_LABELS_MAGIC]: 'a labels file' };

/**
 * Checks the magic number (and, with `expectedMagic`, that it is that one) before any size
 * arithmetic: a labels file carrying the images magic must be named as such, not read as
 * 3 dimensions of garbage. Returns the number of dimensions.
 */
function checkMagic(magic: number, file: string, expectedMagic?: number): number {
  const type = (magic >>> 8) & 0xff;
  const ndim = magic & 0xff;
  if (expectedMagic !== undefined && magic !== expectedMagic && magic >>> 16 === 0 && IDX_TYPES[type] !== undefined) {
    throw badData(
      file,
      `is not ${ROLE[expectedMagic] ?? `an IDX file of magic ${expectedMagic}`}: its magic number is ${magicText(magic)}${ROLE[magic] ? `, ${ROLE[magic]}` : ''}; expected ${magicText(expectedMagic)}`,
    );
  }
  if (magic >>> 16 !== 0 || type !== 0x08 || ndim < 1 || ndim > 4) {
    throw badData(
      file,
      `bad IDX magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}); expected ${expectedMagic === undefined ? '2051 (images) or 2049 (labels)' : magicText(expectedMagic)} of uint8`,
    );
  }
  return ndim;
}

/** The data bytes the header's dimensions call for, exactly (BigInt: 4 uint32 dimensions overflow a double's integers). */
const dataBytesOf = (dims: number[]): bigint => dims.reduce((a, d) => a * BigInt(d), 1n);

function sizeMismatch(file: string, dims: number[], actual: number, expected: bigint): Error {
  return badData(
    file,
    `holds ${actual} data bytes but its header (dimensions ${dims.join('x')}) says ${expected}${BigInt(actual) < expected ? ': the file is truncated' : ''}`,
  );
}

/** Why a path cannot be read, in words: a symbolic link loop is not a missing file. */
function unreadable(file: string, err: unknown): Error {
  const code = (err as { code?: string }).code;
  if (code === 'ELOOP') return badData(file, 'is a symbolic link loop (ELOOP: following its links never reaches a file)');
  if (code === 'ENOENT') {
    try {
      if (lstatSync(file).isSymbolicLink()) return badData(file, `is a symbolic link to ${readlinkSync(file)}, which does not exist`);
    } catch {
      // not even a link: missing
    }
  }
  return badData(file, `cannot be read (${(err as Error).message})`);
}

/**
 * Reads a file (raw IDX, or gzip when it starts with the gzip magic or ends with .gz). A raw
 * file's header is checked against the file's size before the data is read, so a huge file with
 * a small header costs nothing. `expectedMagic` (2051 images, 2049 labels) names a file of the
 * other kind as such.
 */
export function readIdxFile(file: string, maxBytes = MAX_IDX_BYTES, expectedMagic?: number): IdxArray {
  let fd: number;
  try {
    if (!statSync(file).isFile()) throw badData(file, 'is not a regular file');
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_THREADFIT_BAD_DATA') throw err;
    throw unreadable(file, err);
  }
  let bytes: Buffer;
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 4 + 4 * 4));
    readSync(fd, head, 0, head.length, 0);
    const isGzip = head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
    if (file.endsWith('.gz') && !isGzip) throw badData(file, 'has a .gz name but is not gzip data (no 1f 8b magic)');
    if (!isGzip && head.length >= 4) {
      const ndim = checkMagic(head.readUInt32BE(0), file, expectedMagic);
      const headerBytes = 4 + 4 * ndim;
      if (size >= headerBytes) {
        const dims = Array.from({ length: ndim }, (_, d) => head.readUInt32BE(4 + 4 * d));
        const expected = dataBytesOf(dims);
        if (BigInt(size - headerBytes) !== expected) throw sizeMismatch(file, dims, size - headerBytes, expected);
      }
    }
    bytes = readFileSync(fd);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_THREADFIT_BAD_DATA') throw err;
    throw badData(file, `cannot be read (${(err as Error).message})`);
  } finally {
    closeSync(fd);
  }
  const isGzip = bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
  if (isGzip) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw badData(file, `inflates past ${maxBytes} bytes; refusing it`);
      throw badData(file, `is not valid gzip data (${(err as Error).message})`);
    }
  }
  return parseIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, expectedMagic);
}

export function parseIdx(bytes: Uint8Array, file = '<buffer>', expectedMagic?: number): IdxArray {
  if (bytes.length < 4) throw badData(file, `is ${bytes.length} bytes long, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ndim = checkMagic(view.getUint32(0, false), file, expectedMagic);
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw badData(file, `is ${bytes.length} bytes long, too short for a ${ndim}-dimension IDX header`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dataBytesOf(dims);
  const actual = bytes.length - headerBytes;
  if (BigInt(actual) !== expected) throw sizeMismatch(file, dims, actual, expected);
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
  const img = readIdxFile(imagesFile, MAX_IDX_BYTES, IDX_IMAGES_MAGIC);
  const lab = readIdxFile(labelsFile, MAX_IDX_BYTES, IDX_LABELS_MAGIC);
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
