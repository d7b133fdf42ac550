/**
 * The traced graph step (issue 20's second route), for models on the tape on the tensorflow
 * backend: the tfjs-node kernels of one training step are recorded (binding.executeOp and the
 * tensors made from JS values, binding.createTensor), built into ONE TensorFlow graph
 * (native/src/traced_graph.cc), and every later step of the same row count runs as one
 * TF_SessionRun instead of thousands of kernels each dispatched from JavaScript. A recurrent net
 * is ~9,000-24,000 kernels per step, so this is where its time went (docs/PERFORMANCE.md).
 *
 * A step is one fixed graph when it makes the same values from JS every time (constants, shapes)
 * and runs the same kernels: it is recorded twice, on two different batches, and both records must
 * agree, except for uniform random draws (dropout's masks), which become inputs drawn again in JS
 * each step as the tape draws them. Then the graph runs the second step's inputs and must give
 * that step's own results bit for bit (loss, metrics, gradients); only then does it take over.
 * Otherwise the tape stays, with the reason logged: a model whose step moves non-trainable weights
 * (moving statistics: a JS assign, not a kernel), JS-made values that change and are not uniform
 * draws, or a kernel the graph cannot take. A row count seen for the first time (an epoch's last,
 * shorter batch) is recorded on its own.
 *
 * Inputs are placeholders fed from the step's rows and from the committed weights in shared memory,
 * trainable and not (frozen layers; no tfjs variable is loaded on this path); the gradients are
 * copied into the slot. Every graph uses the kernels the tape would, on its own session with its
 * own thread pools; a Softmax is built as Eigen's formula (traced_graph.cc), since oneDNN's graph
 * rewrite would give other bits than the eager kernel.
 * `THREADFIT_TRACED_STEP=0` keeps the tape.
 */
import { createRequire } from 'node:module';
import type * as tfTypes from '@tensorflow/tfjs';
import { switchValue } from '@threadfit/shared/core';
import type { StepTensors } from './tape.js';

type Tf = typeof tfTypes;

interface Op {
  name: string;
  attrs: unknown[];
  inputs: number[];
  outputs: number[];
}
interface Made {
  shape: number[];
  dtype: number;
  data: ArrayLike<number>;
}
interface Record {
  ops: Op[];
  made: Map<number, Made>;
  /** Placeholder tensor ids: the inputs, the targets, then the variables (trainable, then not); their shapes and TF dtypes. */
  inputs: number[];
  shapes: number[][];
  dtypes: number[];
  /** Output tensor ids: the loss, the metric means, then the gradients. */
  fetches: number[];
}

interface Binding {
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
  createTensor(shape: number[], dtype: number, values: ArrayLike<number>): number;
  deleteTensor(id: number): void;
  executeOp(name: string, attrs: unknown[], inputs: number[], nOut: number): Array<{ id: number; shape: number[]; dtype: number }>;
  tensorDataSync(id: number): ArrayLike<number>;
}
/** On our recording binding: the binding it wraps. */
const REAL = Symbol('threadfit.tracedStep.real');

interface NodeBackend {
  binding: Binding;
  getInputTensorIds(ts: tfTypes.Tensor[]): number[];
}
interface GraphAddon {
  buildTracedGraph(spec: {
    ops: Op[];
    consts: Array<Made & { id: number }>;
    placeholders: Array<{ id: number; dtype: number; shape: number[] }>;
    fetches: number[];
  }): unknown;
  runTracedGraph(graph: unknown, feeds: ArrayLike<number>[]): Float32Array[];
}

/** What a step computed, read out: the loss and metric sums, and a gradient per variable. */
export interface TracedResult {
  lossSum: number;
  metricSums: number[];
  grads: Float32Array[];
}

/** A first record (`retried`: a later one replaced it once), a graph, or why the tape stays. */
type Entry = { record: Record; retried?: boolean } | { graph: unknown; metrics: number; randoms: number[][] } | { refused: string };

/**
 * Makes the step's uniform random draws again, in the order the tape made them (dropout's masks:
 * tfjs's randomUniform seeded from Math.random, which the replica seeds per micro-batch and step):
 * one Float32Array per shape.
 */
export type RandomDraws = (shapes: number[][]) => Float32Array[];

/** At most this many row counts get a graph (the usual batch and an epoch's last one, ...). */
const MAX_SHAPES = 4;

export class TracedSteps {
  readonly #backend: NodeBackend;
  readonly #real: Binding;
  #recording: Record | undefined;
  /** Every live TF tensor's shape and dtype, by id (tfjs-node's binding has no query for them). */
  readonly #meta = new Map<number, { shape: number[]; dtype: number }>();
  #pending: { n: number; rec: Record; metrics: number; complete: boolean } | undefined;
  readonly #entries = new Map<number, Entry>();
  #notice: ((why: string) => void) | undefined;

  private constructor(
    private readonly tf: Tf,
    private readonly addon: GraphAddon,
  ) {
    this.#backend = tf.backend() as unknown as NodeBackend;
    // One recorder per backend: a later replica in the same thread (warm workers, a new model)
    // replaces the earlier one's, whose graphs go with it.
    const current = this.#backend.binding as Binding & { [REAL]?: Binding };
    this.#real = current[REAL] ?? current;
    // A binding that records while #recording is set; otherwise it only forwards.
    const rec = Object.create(this.#real) as Binding;
    Object.defineProperty(rec, REAL, { value: this.#real });
    Object.defineProperty(rec, 'createTensor', {
      value: (shape: number[], dtype: number, values: ArrayLike<number>) => {
        const id = this.#real.createTensor(shape, dtype, values);
        this.#meta.set(id, { shape: [...shape], dtype });
        // A copy of the values, of their own typed array (the graph's constant takes its bytes).
        if (this.#recording !== undefined) this.#recording.made.set(id, { shape: [...shape], dtype, data: copyOf(values) });
        return id;
      },
    });
    Object.defineProperty(rec, 'deleteTensor', {
      value: (id: number) => {
        this.#meta.delete(id);
        this.#real.deleteTensor(id);
      },
    });
    Object.defineProperty(rec, 'executeOp', {
      value: (name: string, attrs: unknown[], inputs: number[], nOut: number) => {
        const out = this.#real.executeOp(name, attrs, inputs, nOut);
        for (const o of out) this.#meta.set(o.id, { shape: o.shape, dtype: o.dtype });
        this.#recording?.ops.push({ name, attrs, inputs: [...inputs], outputs: out.map((o) => o.id) });
        return out;
      },
    });
    this.#backend.binding = rec;
    this.#rec = rec;
  }

  /** The recording binding while it is installed. */
  #rec: Binding | undefined;

  /**
   * The model's steps cannot be a graph at all (the refusal is the model's, not a row count's):
   * tfjs-node's own binding goes back, so that its kernels no longer pass through the recorder.
   */
  #retire(why: string): void {
    // Any other row count's graph would skip what the tape does outside the kernels, too.
    for (const [n, e] of this.#entries) if (!('refused' in e)) this.#entries.set(n, { refused: why });
    if (this.#rec !== undefined && this.#backend.binding === this.#rec) this.#backend.binding = this.#real;
    this.#rec = undefined;
    this.#meta.clear();
  }

  /** On tensorflow with the graph addon, unless switched off; else undefined. */
  static create(tf: Tf, onNotice: (why: string) => void): TracedSteps | undefined {
    if (tf.getBackend() !== 'tensorflow' || switchValue('THREADFIT_TRACED_STEP') === '0') return undefined;
    let addon: GraphAddon;
    try {
      addon = createRequire(import.meta.url)('../native/build/Release/graph_step.node') as GraphAddon;
    } catch {
      return undefined;
    }
    if (typeof addon.buildTracedGraph !== 'function') return undefined;
    const t = new TracedSteps(tf, addon);
    t.#notice = onNotice;
    return t;
  }

  /** Why the step of `n` rows runs on the tape, once decided (undefined while recording or on the graph). */
  refused(n: number): string | undefined {
    const e = this.#entries.get(n);
    return e !== undefined && 'refused' in e ? e.refused : undefined;
  }

  /** Steps of `n` rows go back to the tape for good (their graph failed to run). */
  refuse(n: number, why: string): void {
    this.#entries.set(n, { refused: why });
    this.#notice?.(`steps of ${n} rows stay on the tape: ${why}`);
  }

  /** True between a recording `record` call and its `afterTape`: the step just run is being traced. */
  get recording(): boolean {
    return this.#pending !== undefined;
  }

  /** True when steps of `n` rows run on their graph. */
  ready(n: number): boolean {
    const e = this.#entries.get(n);
    return e !== undefined && 'graph' in e;
  }

  /**
   * One step of `n` rows on its graph: `feeds` are the inputs, the targets and the committed
   * weights, in the recorded order.
   */
  run(n: number, feeds: ArrayLike<number>[], randoms: RandomDraws): TracedResult {
    const e = this.#entries.get(n);
    if (e === undefined || !('graph' in e)) throw new Error(`no traced graph for ${n} rows`);
    const outs = this.addon.runTracedGraph(e.graph, e.randoms.length === 0 ? feeds : [...feeds, ...randoms(e.randoms)]);
    return { lossSum: outs[0][0] * n, metricSums: outs.slice(1, 1 + e.metrics).map((m) => m[0] * n), grads: outs.slice(1 + e.metrics) };
  }

  /**
   * Runs `tapeStep` (the tape's step of `n` rows; it is handed the capture callback) and records
   * it while steps of `n` rows are still being traced. Returns the tape's result unchanged: a
   * recorded step is an ordinary tape step. Call `afterTape` once its results are read. `vars`:
   * the trainable variables (whose gradients the step returns), then any non-trainable ones.
   */
  record<T>(n: number, xs: tfTypes.Tensor[], ys: tfTypes.Tensor[], vars: tfTypes.Variable[], tapeStep: (capture: (t: StepTensors) => void) => T): T {
    const entry = this.#entries.get(n);
    this.#pending = undefined;
    if (this.#rec === undefined || (entry !== undefined && !('record' in entry)) || (entry === undefined && this.#entries.size >= MAX_SHAPES)) {
      return tapeStep(() => {});
    }
    // The inputs and the weights get their TF tensors first, so that they are not recorded as
    // JS-made constants.
    const tensors = [...xs, ...ys, ...vars];
    const inputs = this.#backend.getInputTensorIds(tensors);
    const dtypes = tensors.map((t) => (t.dtype === 'int32' ? this.#real.TF_INT32 : t.dtype === 'bool' ? this.#real.TF_BOOL : this.#real.TF_FLOAT));
    const rec: Record = { ops: [], made: new Map(), inputs, shapes: tensors.map((t) => [...t.shape]), dtypes, fetches: [] };
    let captured: StepTensors | undefined;
    this.#recording = rec;
    try {
      const result = tapeStep((t) => {
        captured = t;
        // Stop before the caller reads: what it reads is not part of the step.
        this.#recording = undefined;
        if (t.grads.every((g) => g !== undefined)) rec.fetches = this.#backend.getInputTensorIds([t.value, ...t.means, ...(t.grads as tfTypes.Tensor[])]);
      });
      this.#pending = { n, rec, metrics: captured?.means.length ?? 0, complete: captured !== undefined && rec.fetches.length > 0 };
      return result;
    } finally {
      this.#recording = undefined;
    }
  }

  /**
   * After a recorded tape step, with its inputs (`feeds`: the inputs, the targets and the weights,
   * in the recorded order) and what it computed: keeps the first record of a row count, or
   * decides on the second whether its steps move onto a graph. `refusal`: why the step cannot be a
   * graph, as the caller saw it (the step moved non-trainable weights); its row count keeps the tape.
   */
  afterTape(feeds: () => ArrayLike<number>[], tape: TracedResult, randoms: RandomDraws, refusal?: string): void {
    const p = this.#pending;
    this.#pending = undefined;
    if (p === undefined) return;
    const entry = this.#entries.get(p.n);
    try {
      if (refusal !== undefined) throw new Refusal(refusal);
      if (!p.complete) throw new Refusal('the step has a variable without a gradient');
      if (entry === undefined) this.#entries.set(p.n, { record: p.rec });
      else if ('record' in entry) {
        try {
          this.#decide(p.n, entry.record, p.rec, p.metrics, feeds(), tape, randoms);
        } catch (err) {
          // Records that differ once may be a tensor made before the step but sent to TensorFlow
          // at its first use (tfjs-node uploads lazily): it looks JS-made in the first record
          // only. Compare the next two instead, once.
          if (!(err instanceof Mismatch) || entry.retried === true) throw err;
          this.#entries.set(p.n, { record: p.rec, retried: true });
        }
      }
    } catch (err) {
      const why = err instanceof Refusal ? err.message : `the traced graph failed: ${(err as Error).message.split('\n')[0]}`;
      this.#entries.set(p.n, { refused: why });
      this.#notice?.(`steps of ${p.n} rows stay on the tape: ${why}`);
      // What the caller saw (non-trainable weights that move) holds for every row count.
      if (refusal !== undefined) this.#retire(why);
    }
  }

  #decide(n: number, first: Record, second: Record, metrics: number, feeds: ArrayLike<number>[], tape: TracedResult, randoms: RandomDraws): void {
    if (first.ops.length !== second.ops.length || first.ops.some((o, i) => o.name !== second.ops[i].name)) {
      throw new Mismatch('the step runs different kernels from one batch to the next');
    }
    const a = [...first.made.entries()];
    const b = [...second.made.values()];
    if (a.length !== b.length) throw new Mismatch('the step makes a different number of tensors from JS each time');
    // JS-made values that change from one step to the next must be uniform draws in [0, 1)
    // (dropout's masks): they become inputs, drawn again for each step as the tape draws them;
    // the final check (the tape's exact bits) proves the draws are the tape's.
    const random = new Set<number>();
    a.forEach(([id, m], i) => {
      if (sameValues(m, b[i])) return;
      if (m.dtype !== this.#real.TF_FLOAT || !sameShape(m, b[i]) || !uniform(m.data) || !uniform(b[i].data)) {
        throw new Mismatch('the step makes different values from JS each time, not only uniform random draws');
      }
      random.add(id);
    });
    // Tensors made before the step and used by it (frozen weights, cached constants): constants.
    const known = new Set([...first.inputs, ...first.made.keys()]);
    const external = new Set<number>();
    for (const o of first.ops) {
      for (const i of o.inputs) if (!known.has(i)) external.add(i);
      for (const id of o.outputs) known.add(id);
    }
    const consts = [...first.made].filter(([id]) => !random.has(id)).map(([id, m]) => ({ id, ...m }));
    for (const id of external) {
      const t = this.#meta.get(id);
      if (t === undefined) throw new Refusal(`the step reads a tensor (${id}) made neither in it nor kept`);
      consts.push({ id, shape: [...t.shape], dtype: t.dtype, data: this.#real.tensorDataSync(id) });
    }
    if (second.shapes.some((s, i) => s.join() !== first.shapes[i].join())) throw new Refusal('the inputs changed shape between the two records');
    const draws = [...random].map((id) => ({ id, dtype: this.#real.TF_FLOAT, shape: first.made.get(id)!.shape }));
    const placeholders = [...first.inputs.map((id, i) => ({ id, dtype: first.dtypes[i], shape: first.shapes[i] })), ...draws];
    const graph = this.addon.buildTracedGraph({ ops: first.ops, consts, placeholders, fetches: first.fetches });
    this.#entries.set(n, { graph, metrics, randoms: draws.map((d) => d.shape) });
    // The graph must reproduce the second step from its own inputs.
    let got: TracedResult;
    try {
      got = this.run(n, feeds, randoms);
    } catch (err) {
      this.#entries.delete(n);
      throw err;
    }
    // The same bits, not only close ones: which steps of a run take the graph depends on the
    // worker's history (W, restarts, the row counts it saw), and deterministic mode promises the
    // same bits for any W.
    const bad =
      !Object.is(got.lossSum, tape.lossSum) ||
      got.metricSums.some((m, i) => !Object.is(m, tape.metricSums[i])) ||
      got.grads.some((g, i) => !sameBits(g, tape.grads[i]));
    if (bad) {
      this.#entries.delete(n);
      throw new Refusal("its graph does not give the tape's bits");
    }
    const drawn = random.size === 0 ? '' : `; ${random.size} random draw${random.size === 1 ? '' : 's'} (dropout) made in JS each step`;
    this.#notice?.(`steps of ${n} rows run as one traced TensorFlow graph (${first.ops.length} kernels${drawn})`);
  }
}

class Refusal extends Error {}
/** Two records that disagree (refused unless a retry agrees). */
class Mismatch extends Refusal {}

/** The same float32 values bit for bit (NaN payloads and -0 included), and the same length. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function sameShape(a: Made, b: Made): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** Values that can be uniform draws in [0, 1) (and are not all equal: a constant is not a draw). */
function uniform(v: ArrayLike<number>): boolean {
  if (v.length < 2) return false;
  let distinct = false;
  for (let i = 0; i < v.length; i++) {
    if (!(v[i] >= 0 && v[i] < 1)) return false;
    if (v[i] !== v[0]) distinct = true;
  }
  return distinct;
}

function sameValues(a: Made, b: Made): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.shape.length; i++) if (a.shape[i] !== b.shape[i]) return false;
  for (let i = 0; i < a.data.length; i++) if (!Object.is(a.data[i], b.data[i])) return false;
  return true;
}

function copyOf(values: ArrayLike<number>): ArrayLike<number> {
  return ArrayBuffer.isView(values) ? (values as unknown as Float32Array).slice() : Float32Array.from(values);
}
