/**
 * Composing new wasm kernels from the wasm backend's own: a scope that runs registered wasm
 * kernels on TensorInfos (no engine, no tape: the caller is itself a kernel) and frees every
 * intermediate it made except the result it keeps.
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;
export type TensorInfo = tfTypes.TensorInfo;

export interface WasmBackendLike {
  disposeData(dataId: object): boolean;
  readSync(dataId: object): ArrayLike<number>;
  write(values: Float32Array | Int32Array, shape: number[], dtype: tfTypes.DataType): object;
}

export class KernelScope {
  readonly #made: TensorInfo[] = [];

  constructor(
    private readonly tf: Tf,
    readonly backend: WasmBackendLike,
  ) {}

  /** Runs the wasm kernel `name` (the registered one: the matmul fix's BatchMatMul included). */
  run(name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Record<string, unknown> = {}): TensorInfo {
    const k = this.tf.getKernel(name, 'wasm');
    if (k === undefined) throw new Error(`threadfit wasm kernels: the wasm backend has no '${name}' kernel`);
    const out = k.kernelFunc({
      inputs: inputs as unknown as tfTypes.NamedTensorInfoMap,
      backend: this.backend as unknown as tfTypes.KernelBackend,
      attrs: attrs as tfTypes.NamedAttrMap,
    }) as TensorInfo;
    this.#made.push(out);
    return out;
  }

  /** A float32/int32 tensor of ours from JS values. */
  upload(values: Float32Array | Int32Array, shape: number[]): TensorInfo {
    const dtype = values instanceof Int32Array ? 'int32' : 'float32';
    const out = { dataId: this.backend.write(values, shape, dtype), shape, dtype } as TensorInfo;
    this.#made.push(out);
    return out;
  }

  /** The same bytes under another shape (a reshape without a kernel: no reference taken). */
  view(t: TensorInfo, shape: number[]): TensorInfo {
    return { dataId: t.dataId, shape, dtype: t.dtype };
  }

  /**
   * Pads (positive) or crops (negative) each axis of `x` by [before, after]: the transposed
   * convolutions need both, depending on the padding and the stride remainder.
   */
  padOrCrop(x: TensorInfo, amounts: Array<[number, number]>): TensorInfo {
    let y = x;
    if (amounts.some(([b, a]) => b > 0 || a > 0)) {
      y = this.run('PadV2', { x: y }, { paddings: amounts.map(([b, a]) => [Math.max(0, b), Math.max(0, a)]), constantValue: 0 });
    }
    if (amounts.some(([b, a]) => b < 0 || a < 0)) {
      const begin = amounts.map(([b]) => Math.max(0, -b));
      const size = y.shape.map((n, i) => n - begin[i] - Math.max(0, -amounts[i][1]));
      y = this.run('Slice', { x: y }, { begin, size });
    }
    return y;
  }

  /** Frees every intermediate but `keep` (the kernel's result), which the engine will own. */
  finish(keep: TensorInfo): TensorInfo {
    // One reference is the result's; a kernel that aliased its input (incRef) holds another.
    const kept = this.#made.map((t) => t.dataId).lastIndexOf(keep.dataId);
    this.#made.forEach((t, i) => i !== kept && this.backend.disposeData(t.dataId));
    this.#made.length = 0;
    return keep;
  }

  /** Frees everything (on an error path). */
  dispose(): void {
    for (const t of this.#made) this.backend.disposeData(t.dataId);
    this.#made.length = 0;
  }
}

/** Runs `body` in a scope; its result is kept, the rest freed, also when it throws. */
export function inScope(tf: Tf, backend: unknown, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const s = new KernelScope(tf, backend as WasmBackendLike);
  try {
    return s.finish(body(s));
  } catch (err) {
    s.dispose();
    throw err;
  }
}
