/** How a global batch and a parameter vector are cut between ranks. */

export interface Range {
  start: number;
  end: number;
}

/**
 * Splits `batch` samples over `workers` ranks as evenly as possible (the first `batch % workers`
 * ranks get one more). A rank may get zero samples when batch < workers.
 */
export function shardRanges(batch: number, workers: number): Range[] {
  const base = Math.floor(batch / workers);
  const extra = batch % workers;
  const out: Range[] = [];
  let start = 0;
  for (let r = 0; r < workers; r++) {
    const n = base + (r < extra ? 1 : 0);
    out.push({ start, end: start + n });
    start += n;
  }
  return out;
}

/**
 * Splits `length` elements into `chunks` ranges whose bounds are multiples of `align`
 * (the SIMD kernels step 4 floats at a time; 16 keeps chunks on 64-byte cache lines).
 * `length` must itself be a multiple of `align`.
 */
export function chunkRanges(length: number, chunks: number, align = 16): Range[] {
  if (length % align !== 0) throw new RangeError(`chunkRanges: length ${length} is not a multiple of ${align}`);
  const units = length / align;
  return shardRanges(units, chunks).map((r) => ({ start: r.start * align, end: r.end * align }));
}

/** Number of steps of an epoch of `n` samples at global batch `batch`; the last partial batch is kept. */
export function stepsPerEpoch(n: number, batch: number): number {
  return Math.ceil(n / batch);
}
