import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readIdxFile, readIdxPair, parseIdx, ErrorCodes } from '@threadfit/shared';
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
});
