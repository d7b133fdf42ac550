/**
 * Moving float32 vectors between shared memory and a backend's tensors.
 *
 * Reading: the public path (`tensor.dataSync()` then `set`) makes an extra copy: 0.49 ms instead
 * of 0.22 ms per step for the seed model's gradients (DESIGN.md). The fast path reads the
 * backend's own storage: on 'wasm' the tensor's `memoryOffset` in the module heap, on 'cpu' its
 * `values` array. Those are internal APIs of tfjs 4.22 (pinned), so `TensorIO.create` checks them
 * on a probe tensor and falls back to the public path if they ever disagree.
 *
 * Writing always goes through `variable.assign`: the wasm backend's XNNPACK matmul caches the
 * packed weight matrix by tensor id, so overwriting a variable's bytes in place leaves the cache
 * stale (measured: step 2 of a run diverged from tf.train.adam). A new tensor gets a new id.
 */
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;

type Storage = (dataId: object) => Float32Array | undefined;

interface WasmBackendInternals {
  dataIdMap: { get(id: object): { memoryOffset: number; shape: number[] } | undefined };
  wasm: { HEAPF32: Float32Array };
}
interface CpuBackendInternals {
  data: { get(id: object): { values: Float32Array } | undefined };
}

function storageOf(tf: Tf): Storage | undefined {
  const name = tf.getBackend();
  const backend = tf.backend() as unknown;
  if (name === 'wasm') {
    const b = backend as WasmBackendInternals;
    return (id) => {
      const info = b.dataIdMap.get(id);
      if (info === undefined) return undefined;
      // HEAPF32 is re-read every time: it is replaced when the wasm heap grows.
      return b.wasm.HEAPF32.subarray(info.memoryOffset >> 2);
    };
  }
  if (name === 'cpu') {
    const b = backend as CpuBackendInternals;
    return (id) => {
      const v = b.data.get(id)?.values;
      return v instanceof Float32Array ? v : undefined;
    };
  }
  return undefined;
}

export class TensorIO {
  readonly #uploadCopies: boolean;

  private constructor(
    private readonly tf: Tf,
    private readonly storage: Storage | undefined,
  ) {
    this.#uploadCopies = tf.getBackend() === 'wasm';
  }

  /** `fast` false forces the public API (used by tests to compare both paths). */
  static create(tf: Tf, fast = true): TensorIO {
    const storage = fast ? storageOf(tf) : undefined;
    if (storage === undefined) return new TensorIO(tf, undefined);
    // Self-check on a probe: write through the fast path, read through the public one.
    const probe = tf.variable(tf.zeros([7]), false);
    const io = new TensorIO(tf, storage);
    const want = Float32Array.from([1, -2, 3.5, 4, 5e-7, -6, 7]);
    let ok = false;
    try {
      io.writeVariable(probe, want);
      const back = new Float32Array(7);
      io.read(probe, back);
      ok = back.every((x, i) => x === want[i]);
    } catch {
      ok = false;
    }
    probe.dispose();
    return ok ? io : new TensorIO(tf, undefined);
  }

  /** True when the backend copies a typed array on upload (wasm); cpu and tensorflow keep a reference. */
  get uploadCopies(): boolean {
    return this.#uploadCopies;
  }

  get isFast(): boolean {
    return this.storage !== undefined;
  }

  /** Copies `t`'s values into `dst` (dst.length must equal t.size). */
  read(t: tfTypes.Tensor, dst: Float32Array): void {
    const src = this.storage?.(t.dataId);
    if (src !== undefined) {
      dst.set(src.subarray(0, dst.length));
      return;
    }
    dst.set(t.dataSync() as Float32Array);
  }

  /** Overwrites variable `v` with `src` (src.length must equal v.size). */
  writeVariable(v: tfTypes.Variable, src: Float32Array): void {
    // wasm copies a typed array into its heap; cpu and tensorflow keep a reference to it, and
    // `src` is a view of shared memory that a later step overwrites: give them a copy.
    const t = this.tf.tensor(this.#uploadCopies ? src : src.slice(), v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}
