/**
 * Seeded randomness. One algorithm (mulberry32 over a 32-bit state) so that the same seed gives
 * the same permutation on every platform; the state is one integer, so it checkpoints trivially.
 * Streams are derived from (seed, purpose, epoch/rank/step) with `deriveSeed`, never by sharing
 * one generator between consumers (nanoGPT's `seed_offset` idea).
 */

export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  get state(): number {
    return this.#state;
  }
  /** A uniform float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Mixes integers into one 32-bit seed (splitmix-style finaliser per part). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let x = (h ^ (p >>> 0)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    h = (x ^ (x >>> 16)) >>> 0;
  }
  return h;
}

/** Fisher-Yates permutation of 0..n-1 into `out` (an Int32Array of length >= n). */
export function permutation(n: number, seed: number, out: Int32Array = new Int32Array(n)): Int32Array {
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** The permutation used for one epoch of a run: a pure function of (seed, epoch). */
export function epochPermutation(n: number, seed: number, epoch: number, out?: Int32Array): Int32Array {
  return permutation(n, deriveSeed(seed, 0x5eed, epoch), out);
}
