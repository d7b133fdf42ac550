/**
 * threadfit's AVX-512 Adam (packages/worker/native/src/adam_avx512.h, loaded by cpu-kernels.ts):
 * the same bits as the WebAssembly kernel it replaces, for every slot count, chunking and tail,
 * and the same non-finite count (NaN and Inf gradients, a finite gradient whose square overflows).
 * On a CPU without AVX-512 the addon says so and the updater keeps the WebAssembly kernel.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ADAM_DEFAULTS,
  Rng,
  StateViews,
  createStateMemory,
  loadKernels,
  stateLayout,
  type ChunkUpdate,
  type StateLayout,
  type UpdateKernels,
} from '@threadfit/shared';
import { cpuKernels, nativeUpdateKernels } from '../packages/worker/src/cpu-kernels.js';
import { ensureTensorflow } from './tensorflow-setup.js';

beforeAll(() => {
  // The addon is built by the tensorflow set-up (npm run setup:tensorflow).
  ensureTensorflow();
}, 600_000);

interface Side {
  layout: StateLayout;
  views: StateViews;
  kernels: UpdateKernels;
  memory: WebAssembly.Memory;
}

/** Two state memories with the same contents: one updated by the WebAssembly kernel, one by the AVX-512 one. */
function pair(paramCount: number, slots: number): [Side, Side] {
  const native = nativeUpdateKernels();
  if (native === undefined) throw new Error('no native kernels');
  const make = (withNative: boolean): Side => {
    const layout = stateLayout({ paramCount, gradSlots: slots, stateSlots: 2, maxBatch: 4 });
    const memory = createStateMemory(layout);
    return {
      layout,
      memory,
      views: new StateViews(memory.buffer as unknown as SharedArrayBuffer, layout),
      kernels: loadKernels(memory, withNative ? native : undefined),
    };
  };
  return [make(false), make(true)];
}

function fill(sides: [Side, Side], rng: Rng, slots: number, scale: number): void {
  const [a, b] = sides;
  const n = a.layout.spec.paramCount;
  for (let r = 0; r < slots; r++) {
    const g = a.views.gradSlot(r);
    for (let i = 0; i < n; i++) g[i] = (rng.next() * 2 - 1) * scale * (i % 97 === 0 ? 1e-6 : 1);
    b.views.gradSlot(r).set(g);
  }
}

function bytes(m: WebAssembly.Memory): Buffer {
  return Buffer.from(m.buffer as ArrayBuffer);
}

const haveAvx512 = (): boolean => typeof cpuKernels() !== 'string';

describe('the AVX-512 Adam against the WebAssembly kernel', () => {
  it('is used exactly where the CPU has AVX-512F (else the updater keeps WebAssembly)', () => {
    const k = cpuKernels();
    expect(nativeUpdateKernels() !== undefined).toBe(typeof k !== 'string');
    if (typeof k === 'string') expect(k).toMatch(/AVX-512F|not built/);
  });

  it.each([1, 2, 3])('%i slot(s), 40 steps in 1, 2 and 5 chunks and ranges with a tail: the same bits and counts', (slots) => {
    if (!haveAvx512()) return expect(nativeUpdateKernels()).toBeUndefined();
    const P = 10_007;
    const sides = pair(P, slots);
    const rng = new Rng(11 + slots);
    const init = Float32Array.from({ length: P }, () => rng.next() - 0.5);
    const weights = Array.from({ length: slots }, (_, r) => (r + 1) / ((slots * (slots + 1)) / 2));
    for (const s of sides) {
      s.views.params(0).set(init);
      s.views.slotWeights.set(weights);
    }
    const padded = sides[0].layout.paddedParamCount;
    // Chunkings: whole, halves, fifths (multiples of 16), and ranges whose ends are multiples of 4 but not of 16.
    const chunkings: Array<Array<[number, number]>> = [
      [[0, padded]],
      [
        [0, padded / 2 - ((padded / 2) % 16)],
        [padded / 2 - ((padded / 2) % 16), padded],
      ],
      Array.from(
        { length: 5 },
        (_, c) => [Math.floor((c * padded) / 5 / 16) * 16, c === 4 ? padded : Math.floor(((c + 1) * padded) / 5 / 16) * 16] as [number, number],
      ),
      [
        [0, 36],
        [36, 1004],
        [1004, padded],
      ],
    ];
    let from: 0 | 1 = 0;
    for (let step = 1; step <= 40; step++) {
      fill(sides, rng, slots, step % 7 === 0 ? 100 : 1);
      for (const [start, end] of chunkings[step % chunkings.length]) {
        const counts = sides.map((s) => s.kernels.reduceAdam({ layout: s.layout, slots, from, start, end } satisfies ChunkUpdate, ADAM_DEFAULTS, step));
        expect(counts[1], `step ${step} [${start}, ${end})`).toBe(counts[0]);
      }
      from = (1 - from) as 0 | 1;
    }
    expect(Buffer.compare(bytes(sides[1].memory), bytes(sides[0].memory))).toBe(0);
    // The weights moved: a kernel that did nothing would be equal too.
    expect(Math.abs(sides[1].views.params(from)[0] - init[0])).toBeGreaterThan(1e-3);
  });

  it('counts NaN, Inf and an overflowing square as the WebAssembly kernel does; finite elements keep the same bits', () => {
    if (!haveAvx512()) return expect(nativeUpdateKernels()).toBeUndefined();
    const P = 4096;
    const sides = pair(P, 2);
    fill(sides, new Rng(3), 2, 1);
    const bad: Array<[number, number]> = [
      [5, Number.NaN],
      [700, Number.POSITIVE_INFINITY],
      [1500, Number.NEGATIVE_INFINITY],
      [2222, 3e20], // finite, but g * g overflows float32: v becomes Inf
    ];
    for (const s of sides) {
      s.views.slotWeights.set([0.5, 0.5]);
      for (const [i, v] of bad) s.views.gradSlot(1)[i] = v;
    }
    const counts = sides.map((s) => s.kernels.reduceAdam({ layout: s.layout, slots: 2, from: 0, start: 0, end: s.layout.paddedParamCount }, ADAM_DEFAULTS, 1));
    expect(counts[0]).toBeGreaterThanOrEqual(bad.length);
    expect(counts[1]).toBe(counts[0]);
    const [p0, p1] = sides.map((s) => s.views.params(1));
    const [m0, m1] = sides.map((s) => s.views.state(0, 1));
    for (let i = 0; i < P; i++) {
      if (!Number.isFinite(p0[i])) expect(Number.isFinite(p1[i]), `p[${i}]`).toBe(false);
      else expect(Object.is(p1[i], p0[i]), `p[${i}]`).toBe(true);
      if (Number.isFinite(m0[i])) expect(Object.is(m1[i], m0[i]), `m[${i}]`).toBe(true);
    }
  });

  it('refuses a region outside the memory instead of writing past it', () => {
    const k = cpuKernels();
    if (typeof k === 'string') return expect(nativeUpdateKernels()).toBeUndefined();
    const memory = new Uint8Array(new SharedArrayBuffer(4096));
    // (grads, stride, slots, weights, pIn, pOut, mIn, mOut, vIn, vOut, start, end, hyper-parameters)
    const args = (end: number) => [0, 1024, 1, 4000, 0, 1024, 0, 1024, 0, 1024, 0, end, 0.001, 0.9, 0.999, 0.1, 0.001, 1e-7, 0.1, 0.001];
    expect(k.reduceAdam(memory, ...args(256))).toBe(0); // every region inside
    expect(() => k.reduceAdam(memory, ...args(800))).toThrow(/outside the memory/); // 3,200 bytes from offset 1024
  });
});
