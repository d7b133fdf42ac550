import { closeSync, ftruncateSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readIdxFile, readIdxPair, parseIdx, ErrorCodes, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '@threadfit/shared';
import { idxBytes, tempDir } from '../../../test/helpers.js';

let cleanup: () => void = () => {};
afterEach(() => cleanup());

function files(contents: Record<string, Buffer>): Record<string, string> {
  const t = tempDir();
  cleanup = t.cleanup;
  return Object.fromEntries(
    Object.entries(contents).map(([name, bytes]) => {
      const p = join(t.dir, name);
      writeFileSync(p, bytes);
      return [name, p];
    }),
  );
}

const images = (n: number) =>
  idxBytes(
    [n, 2, 3],
    Uint8Array.from({ length: n * 6 }, (_, i) => i % 256),
  );
const labels = (values: number[]) => idxBytes([values.length], Uint8Array.from(values));

describe('IDX reader', () => {
  it('reads raw and gzip files alike', () => {
    const f = files({ 'a-idx3-ubyte': images(4), 'a-idx3-ubyte.gz': gzipSync(images(4)) });
    const raw = readIdxFile(f['a-idx3-ubyte']);
    const gz = readIdxFile(f['a-idx3-ubyte.gz']);
    expect(raw.dims).toEqual([4, 2, 3]);
    expect(Array.from(raw.data.subarray(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gz.dims).toEqual(raw.dims);
    expect(Buffer.compare(Buffer.from(gz.data), Buffer.from(raw.data))).toBe(0);
  });

  it('reads a matching images/labels pair', () => {
    const f = files({ img: images(3), lab: labels([7, 2, 1]) });
    const p = readIdxPair(f.img, f.lab);
    expect([p.count, p.rows, p.cols]).toEqual([3, 2, 3]);
    expect(Array.from(p.labels)).toEqual([7, 2, 1]);
  });

  it.each([
    [
      'a wrong magic number',
      () => {
        const b = images(2);
        b.writeUInt32BE(0x12345678, 0);
        return b;
      },
      /bad IDX magic number 305419896/,
    ],
    ['a truncated file', () => images(2).subarray(0, 20), /truncated/],
    ['trailing bytes', () => Buffer.concat([images(2), Buffer.from([1, 2])]), /holds 14 data bytes but its header .* says 12/],
    ['a header cut short', () => images(2).subarray(0, 6), /too short for a 3-dimension IDX header/],
    ['an empty file', () => Buffer.alloc(0), /0 bytes long/],
  ])('refuses %s, naming the file', (_what, make, message) => {
    const f = files({ 'bad-idx3-ubyte': make() });
    expect(() => readIdxFile(f['bad-idx3-ubyte'])).toThrowError(message);
    try {
      readIdxFile(f['bad-idx3-ubyte']);
    } catch (err) {
      expect((err as { code: string }).code).toBe(ErrorCodes.BAD_DATA);
      expect((err as Error).message).toContain(f['bad-idx3-ubyte']);
    }
  });

  it('refuses a .gz that is not gzip', () => {
    const f = files({ 'x.gz': images(2) });
    expect(() => readIdxFile(f['x.gz'])).toThrowError(/not gzip data/);
  });

  it('refuses gzip that inflates past the limit', () => {
    const f = files({ 'bomb.gz': gzipSync(Buffer.alloc(1 << 20)) });
    expect(() => readIdxFile(f['bomb.gz'], 1024)).toThrowError(/inflates past 1024 bytes/);
  });

  it('refuses corrupt gzip data', () => {
    const gz = gzipSync(images(50));
    gz[gz.length - 6] ^= 0xff; // break the CRC
    const f = files({ 'c.gz': gz });
    expect(() => readIdxFile(f['c.gz'])).toThrowError(/not valid gzip data/);
  });

  it('refuses labels outside 0..9, naming the index', () => {
    const f = files({ img: images(3), lab: labels([1, 10, 2]) });
    expect(() => readIdxPair(f.img, f.lab)).toThrowError(/label 10 at index 1 is outside 0..9/);
  });

  it('refuses counts that disagree', () => {
    const f = files({ img: images(3), lab: labels([1, 2]) });
    expect(() => readIdxPair(f.img, f.lab)).toThrowError(/has 2 labels but .* has 3 images/);
  });

  it('refuses a labels file given as images and the reverse', () => {
    const f = files({ img: images(2), lab: labels([1, 2]) });
    expect(() => readIdxPair(f.lab, f.img)).toThrowError(/is not an images file/);
  });

  it('refuses a missing file, naming it', () => {
    expect(() => readIdxFile('/nonexistent/train-images-idx3-ubyte')).toThrowError(/\/nonexistent\/train-images-idx3-ubyte: cannot be read/);
  });

  it('parses from memory with the header dimensions', () => {
    const a = parseIdx(new Uint8Array(labels([3, 1, 4])));
    expect(a.dims).toEqual([3]);
  });

  it('a labels file carrying the images magic is named as such, before any size arithmetic', () => {
    // 3000 labels, read as 3 dimensions the first label bytes would make 3000x83887105x151126275.
    const bytes = labels(Array.from({ length: 3000 }, (_, i) => i % 10));
    bytes.writeUInt32BE(IDX_IMAGES_MAGIC, 0);
    const f = files({ lab: bytes, img: images(3000) });
    expect(() => readIdxPair(f.img, f.lab)).toThrowError(
      /lab: is not a labels file: its magic number is 2051 \(0x00000803: uint8, 3 dimensions\), an images file; expected 2049 \(0x00000801: uint8, 1 dimension\)$/,
    );
  });

  it.each([
    [2052, /is not an images file: its magic number is 2052 \(0x00000804: uint8, 4 dimensions\); expected 2051 \(0x00000803: uint8, 3 dimensions\)$/],
    [0x0802, /is not an images file: its magic number is 2050 \(0x00000802: uint8, 2 dimensions\); expected 2051/],
    [0x0d03, /is not an images file: its magic number is 3331 \(0x00000d03: float32, 3 dimensions\); expected 2051/],
  ])('an images file with magic %i is "not an images file", not a length error', (magic, message) => {
    const bytes = images(2);
    bytes.writeUInt32BE(magic, 0);
    const f = files({ img: bytes });
    expect(() => readIdxFile(f.img, undefined, IDX_IMAGES_MAGIC)).toThrowError(message);
  });

  it('four dimensions near 2^32 are reported exactly (BigInt), not past float precision', () => {
    const big = idxBytes([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], new Uint8Array(4));
    expect(() => parseIdx(new Uint8Array(big), 'big')).toThrowError(
      new RegExp(
        `big: holds 4 data bytes but its header \\(dimensions 4294967295x4294967295x4294967295x4294967295\\) says ${(2n ** 32n - 1n) ** 4n}: the file is truncated`,
      ),
    );
  });

  it('a raw file much larger than its header says is refused from its size, without reading it', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const file = join(t.dir, 'train-images-idx3-ubyte');
    const fd = openSync(file, 'w');
    writeSync(fd, idxBytes([2000, 28, 28], new Uint8Array(0)));
    ftruncateSync(fd, Math.floor(1.9 * 2 ** 30)); // sparse: 1.9 GiB on the file's size, nothing on the disk
    closeSync(fd);
    const rss = process.memoryUsage().rss;
    expect(() => readIdxFile(file, undefined, IDX_IMAGES_MAGIC)).toThrowError(
      /holds 2040109449 data bytes but its header \(dimensions 2000x28x28\) says 1568000$/,
    );
    // Reading it whole would have added ~1.9 GB.
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 2 ** 20);
  });

  it('a symbolic link loop is named as a loop, a dangling link as a link to a missing file', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const a = join(t.dir, 'train-images-idx3-ubyte');
    symlinkSync(join(t.dir, 'b'), a);
    symlinkSync(a, join(t.dir, 'b'));
    expect(() => readIdxFile(a)).toThrowError(/train-images-idx3-ubyte: is a symbolic link loop \(ELOOP: following its links never reaches a file\)/);
    const dangling = join(t.dir, 'lab');
    symlinkSync(join(t.dir, 'gone'), dangling);
    expect(() => readIdxFile(dangling, undefined, IDX_LABELS_MAGIC)).toThrowError(/lab: is a symbolic link to .*gone, which does not exist/);
  });
});
