/**
 * Loader for the WebAssembly SIMD update kernels (assembly/kernels.ts, built to build/kernels.wasm)
 * and their plain-JS references (used only by tests and as the spec of the maths).
 */
import { readFileSync } from 'node:fs';
import type { StateLayout } from './layout.js';
import type { AdadeltaSpec, AdagradSpec, AdamaxSpec, AdamSpec, MomentumSpec, RmspropSpec, SgdSpec } from './optimizers.js';

export interface AdamHyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/**
 * tf.train.adam's defaults, as 'adam' in model.compile resolves them (epsilon = backend epsilon 1e-7).
 * Also an OptimizerSpec (kind 'adam'), so it can be handed to a Trainer or a worker as it is.
 */
export const ADAM_DEFAULTS: Readonly<AdamSpec> = Object.freeze({ kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });

/** The backend epsilon tfjs uses where an optimizer takes none (Adagrad), float32 backends: 1e-7. */
export const BACKEND_EPSILON = 1e-7;

/**
 * tfjs keeps accBeta1/accBeta2 as float32 variables starting at beta and multiplied by beta after
 * each step; step k (1-based) divides by 1 - beta^k computed that way. Reproduced bit for bit.
 */
export function adamBiasCorrections(step: number, beta1: number, beta2: number): { oneMinusAccBeta1: number; oneMinusAccBeta2: number } {
  const b1 = Math.fround(beta1);
  const b2 = Math.fround(beta2);
  // The products are a running chain: continue from the last call (steps come in order) instead
  // of redoing `step` multiplications every step, which would be quadratic over a run.
  const c = accCache;
  let k = 1;
  let acc1 = b1;
  let acc2 = b2;
  if (c.b1 === b1 && c.b2 === b2 && c.step <= step) {
    k = c.step;
    acc1 = c.acc1;
    acc2 = c.acc2;
  }
  for (; k < step; k++) {
    acc1 = Math.fround(acc1 * b1);
    acc2 = Math.fround(acc2 * b2);
  }
  accCache = { b1, b2, step: Math.max(step, 1), acc1, acc2 };
  return { oneMinusAccBeta1: Math.fround(1 - acc1), oneMinusAccBeta2: Math.fround(1 - acc2) };
}

let accCache = { b1: Number.NaN, b2: Number.NaN, step: 1, acc1: 0, acc2: 0 };

/**
 * Adamax's per-step scalar, as tfjs computes it in float32 scalars: lr = -learningRate /
 * (iteration*decay + 1) with iteration = step - 1 (tfjs's own counter, 0 at the first step), then
 * divided by 1 - accBeta1 (accBeta1 = beta1^step, the same float32 products as Adam's).
 */
export function adamaxStepScale(step: number, h: Pick<AdamaxSpec, 'learningRate' | 'beta1' | 'decay'>): number {
  const f = Math.fround;
  const { oneMinusAccBeta1 } = adamBiasCorrections(step, h.beta1, h.beta1);
  const lr = f(f(-h.learningRate) / f(f(f(step - 1) * f(h.decay)) + 1));
  return f(lr / oneMinusAccBeta1);
}

/** One chunk's work of a step: where to read, where to write, which range. */
export interface ChunkUpdate {
  layout: StateLayout;
  /** Number of gradient slots holding this step's gradients (one per micro-batch). */
  slots: number;
  /** The committed buffer (read); the other one is written. */
  from: 0 | 1;
  start: number;
  end: number;
  /**
   * Where the gradient comes from: 'slots' (default) reduces the `slots` slots with slotWeights;
   * 'host' reads layout.hostGrad as one slot of weight 1 (multi-host: already summed across hosts).
   */
  source?: 'slots' | 'host';
}

export interface UpdateKernels {
  /** Weighted reduce of the slots fused with Adam for global step `step` (1-based). Returns the non-finite count. */
  reduceAdam(c: ChunkUpdate, hyper: AdamHyper, step: number): number;
  /** Weighted reduce into an arbitrary float region at `outByteOffset`. Returns the non-finite count. */
  reduceInto(c: ChunkUpdate, outByteOffset: number): number;
  // The other optimizers, each fused with the reduce the same way (assembly/optimizers.ts). State
  // slots are in tfjs's getWeights() order (optimizers.ts stateSlotsOf). Each returns the non-finite count.
  reduceSgd(c: ChunkUpdate, h: SgdSpec): number;
  /** Slot 0: momentum. */
  reduceMomentum(c: ChunkUpdate, h: MomentumSpec): number;
  /** Slots 0 rms, 1 momentum, and 2 mg when centered. */
  reduceRmsprop(c: ChunkUpdate, h: RmspropSpec): number;
  /** Slot 0: accumulator (starts at initialAccumulatorValue). */
  reduceAdagrad(c: ChunkUpdate, h: AdagradSpec): number;
  /** Slots 0 accum_grad, 1 accum_var. */
  reduceAdadelta(c: ChunkUpdate, h: AdadeltaSpec): number;
  /** Slots 0 m, 1 v; `step` is 1-based like Adam's. */
  reduceAdamax(c: ChunkUpdate, h: AdamaxSpec, step: number): number;
}

type KernelFn = (...args: number[]) => number;
type KernelExports = Record<
  | 'reduceAdam'
  | 'reduceInto'
  | 'reduceSgd'
  | 'reduceMomentum'
  | 'reduceRmsprop'
  | 'reduceRmspropCentered'
  | 'reduceAdagrad'
  | 'reduceAdadelta'
  | 'reduceAdamax',
  KernelFn
>;

let compiled: WebAssembly.Module | undefined;

function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('../build/kernels.wasm', import.meta.url)));
  return compiled;
}

/** A fused kernel's gradient arguments: (base, slot stride, slots, weights) of the chunk's source. */
function gradSource(c: ChunkUpdate): [number, number, number, number] {
  const { layout } = c;
  if (c.source === 'host') {
    if (layout.hostGrad.length === 0) throw new RangeError('ChunkUpdate: source "host" needs a layout made with multiHost: true');
    return [layout.hostGrad.byteOffset, layout.paddedParamCount * 4, 1, layout.unitWeight.byteOffset];
  }
  return [layout.grads[0].byteOffset, layout.gradSlotStrideBytes, c.slots, layout.slotWeights.byteOffset];
}

/**
 * A native replacement of a WebAssembly kernel: the same arguments (byte offsets into the memory,
 * the range, the hyper-parameters) after a Uint8Array over the whole memory, and the same result
 * bit for bit (the worker's AVX-512 kernels, packages/worker/native/src/cpu_kernels.cc).
 */
export interface NativeKernels {
  reduceAdam(memory: Uint8Array, ...args: number[]): number;
}

/**
 * Instantiates the kernels against a shared state memory. One instance per thread. `native`, when
 * given, runs Adam instead of the WebAssembly kernel (the other optimizers stay WebAssembly).
 */
export function loadKernels(memory: WebAssembly.Memory, native?: NativeKernels): UpdateKernels {
  const instance = new WebAssembly.Instance(kernelModule(), {
    env: {
      memory,
      abort(): never {
        throw new Error('threadfit kernel aborted');
      },
    },
  });
  const k = instance.exports as unknown as KernelExports;
  let bytes = new Uint8Array(memory.buffer);
  const reduceAdam: KernelFn =
    native === undefined
      ? k.reduceAdam
      : (...args) => {
          // A grown memory has a longer buffer: view it again.
          if (bytes.byteLength !== memory.buffer.byteLength) bytes = new Uint8Array(memory.buffer);
          return native.reduceAdam(bytes, ...args);
        };
  // The leading arguments every fused kernel takes: where the slots are and which params to read/write.
  const head = (c: ChunkUpdate): number[] => {
    const { layout, from } = c;
    return [...gradSource(c), layout.params[from].byteOffset, layout.params[1 - from].byteOffset];
  };
  // Read (committed) and write (other) offsets of the state slots, in order.
  const slots = (c: ChunkUpdate, count: number): number[] =>
    Array.from({ length: count }, (_, s) => [c.layout.state[s][c.from].byteOffset, c.layout.state[s][1 - c.from].byteOffset]).flat();
  return {
    reduceAdam(c, h, step) {
      const { layout, from } = c;
      const to = (1 - from) as 0 | 1;
      const { oneMinusAccBeta1, oneMinusAccBeta2 } = adamBiasCorrections(step, h.beta1, h.beta2);
      const [m, v] = layout.state;
      return reduceAdam(
        ...gradSource(c),
        layout.params[from].byteOffset,
        layout.params[to].byteOffset,
        m[from].byteOffset,
        m[to].byteOffset,
        v[from].byteOffset,
        v[to].byteOffset,
        c.start,
        c.end,
        h.learningRate,
        h.beta1,
        h.beta2,
        1 - h.beta1,
        1 - h.beta2,
        h.epsilon,
        oneMinusAccBeta1,
        oneMinusAccBeta2,
      );
    },
    reduceInto(c, outByteOffset) {
      const { layout } = c;
      return k.reduceInto(layout.grads[0].byteOffset, layout.gradSlotStrideBytes, c.slots, layout.slotWeights.byteOffset, outByteOffset, c.start, c.end);
    },
    // Constants like 1 - rho are computed here in float64 and rounded once to f32 by the call, as
    // tfjs's scalar(1 - rho) does.
    reduceSgd(c, h) {
      return k.reduceSgd(...head(c), c.start, c.end, -h.learningRate);
    },
    reduceMomentum(c, h) {
      return k.reduceMomentum(...head(c), ...slots(c, 1), c.start, c.end, -h.learningRate, h.momentum, h.useNesterov ? 1 : 0);
    },
    reduceRmsprop(c, h) {
      const hyper = [h.learningRate, h.decay, 1 - h.decay, h.momentum, h.epsilon];
      return h.centered
        ? k.reduceRmspropCentered(...head(c), ...slots(c, 3), c.start, c.end, ...hyper)
        : k.reduceRmsprop(...head(c), ...slots(c, 2), c.start, c.end, ...hyper);
    },
    reduceAdagrad(c, h) {
      return k.reduceAdagrad(...head(c), ...slots(c, 1), c.start, c.end, -h.learningRate, BACKEND_EPSILON);
    },
    reduceAdadelta(c, h) {
      return k.reduceAdadelta(...head(c), ...slots(c, 2), c.start, c.end, -h.learningRate, h.rho, 1 - h.rho, h.epsilon);
    },
    reduceAdamax(c, h, step) {
      return k.reduceAdamax(...head(c), ...slots(c, 2), c.start, c.end, h.beta1, h.beta2, 1 - h.beta1, adamaxStepScale(step, h), h.epsilon);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Plain-JS references: the same float32 operations in the same order, one element at a time.

export function referenceReduce(slots: Float32Array[], weights: ArrayLike<number>, start: number, end: number, out: Float32Array): number {
  const f = Math.fround;
  let bad = 0;
  for (let i = start; i < end; i++) {
    let g = f(slots[0][i] * f(weights[0]));
    for (let r = 1; r < slots.length; r++) g = f(g + f(slots[r][i] * f(weights[r])));
    out[i] = g;
    if (!Number.isFinite(g)) bad++;
  }
  return bad;
}

export function referenceAdam(
  g: Float32Array,
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  h: AdamHyper,
  step: number,
  start: number,
  end: number,
): void {
  const f = Math.fround;
  const { oneMinusAccBeta1, oneMinusAccBeta2 } = adamBiasCorrections(step, h.beta1, h.beta2);
  const b1 = f(h.beta1),
    b2 = f(h.beta2),
    c1 = f(1 - h.beta1),
    c2 = f(1 - h.beta2),
    eps = f(h.epsilon),
    negLr = f(-h.learningRate);
  for (let i = start; i < end; i++) {
    const mi = f(f(m[i] * b1) + f(g[i] * c1));
    const vi = f(f(v[i] * b2) + f(f(g[i] * g[i]) * c2));
    const mHat = f(mi / oneMinusAccBeta1);
    const vHat = f(vi / oneMinusAccBeta2);
    p[i] = f(f(f(mHat / f(f(Math.sqrt(vHat)) + eps)) * negLr) + p[i]);
    m[i] = mi;
    v[i] = vi;
  }
}
