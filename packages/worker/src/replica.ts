/**
 * One data-parallel replica: a tfjs model rebuilt from the coordinator's topology, whose weights
 * are refreshed from the committed shared buffer before each use. Plain code (no thread API), so a
 * test can drive it in the main thread; entry.ts wires it to piscina.
 */
import { createRequire } from 'node:module';
import type * as tfTypes from '@tensorflow/tfjs';
import {
  StateViews,
  ThreadfitError,
  ErrorCodes,
  Errors,
  deriveSeed,
  type EvaluateResult,
  type EvaluateTask,
  type MicroBatch,
  type WorkerInit,
} from '@threadfit/shared/core';
import { TensorIO } from './heap-io.js';
import { TransposedWeights } from './transposed-weights.js';
import { DenseChain, planDenseChain } from './dense-chain.js';
import { NativeDenseStep, nativeStepFor, type NativeStepAddon, type NativeStepKind } from './native-step.js';
import { RowGatherer } from './gather.js';
import { TapeLoss } from './tape.js';
import { TracedSteps, sameBits, type RandomDraws } from './traced-step.js';
import { withSeededMathRandom } from './seeded-random.js';
import { withZeroInitializers } from './topology.js';
import type { GradRequest, GradResult } from './step-parts.js';

type Tf = typeof tfTypes;

const now = (): number => performance.now();

/**
 * Rows per forward pass in evaluation: bounds the wasm heap's high-water mark, which stays resident
 * (2048 rows of the seed model cost ~14 MB more per worker than 512, at the same evaluation speed).
 */
const EVAL_PIECE = 512;

export class Replica {
  readonly #tf: Tf;
  readonly #init: WorkerInit;
  readonly #model: tfTypes.LayersModel;
  readonly #tape: TapeLoss;
  readonly #rows: RowGatherer;
  readonly #views: StateViews;
  readonly #vars: tfTypes.Variable[];
  /** Non-trainable variables (BatchNormalization moving stats) with their place in the buffers. */
  readonly #buffers: Array<{ v: tfTypes.Variable; offset: number; size: number }>;
  readonly #io: TensorIO;
  /** wasm: transposes of the big 2-D weights, so the forward matmul does not repack them (matmul-fix.ts). */
  readonly #transposed: TransposedWeights | undefined;
  /** The dense fast path (dense-chain.ts), when the model is a chain of Dense layers. */
  readonly #chain: DenseChain | undefined;
  /** Its native step (native-step.ts): tensorflow's addons when built, wasm's SIMD kernels for a small chain. */
  readonly #native: NativeDenseStep | undefined;
  /** How gradients are computed: 'dense' (fast path) or why the tape is used. */
  readonly gradPath: string;
  /** The native step's kernels, when it runs (native-step.ts). */
  readonly nativeKind: NativeStepKind | undefined;
  /** Tape models on tensorflow: their steps recorded and replayed as one TF graph (traced-step.ts). */
  readonly #traced: TracedSteps | undefined;
  /** What the traced graph step decided, per row count, in order (for tests and diagnostics). */
  readonly tracedNotices: string[] = [];
  #noticesTaken = 0;

  /** The traced step's decisions since the last call (reported with each execution's result). */
  takeNotices(): string[] {
    const fresh = this.tracedNotices.slice(this.#noticesTaken);
    this.#noticesTaken = this.tracedNotices.length;
    return fresh;
  }
  /** The trainable weights' places in the shared vector, in the variables' order. */
  readonly #trainable: WorkerInit['model']['weights'];
  /** Which committed step the replica's variables hold (-1: none yet). */
  #loadedStep = -1;
  #loadedFrom: 0 | 1 = 0;

  private constructor(tf: Tf, init: WorkerInit, model: tfTypes.LayersModel) {
    this.#tf = tf;
    this.#init = init;
    this.#model = model;
    this.#tape = new TapeLoss(tf, model, init.seed, init.classWeights);
    this.#views = new StateViews(init.stateMemory.buffer as unknown as SharedArrayBuffer, init.stateLayout);
    this.#vars = model.trainableWeights.map((w) => w.read() as tfTypes.Variable);
    // Layer-aware, as the coordinator's modelSpecOf: a frozen layer (trainable: false) keeps its
    // variables' own trainable flag true, yet its weights are not in model.trainableWeights.
    const trainableSet = new Set(model.trainableWeights);
    const fixed = model.weights.filter((w) => !trainableSet.has(w));
    const fixedSpecs = init.model.weights.filter((w) => !w.trainable);
    if (fixed.length !== fixedSpecs.length) {
      throw Errors.internal(`replica has ${fixed.length} non-trainable weights, the coordinator sent ${fixedSpecs.length}`);
    }
    this.#buffers = fixed.map((w, i) => ({ v: w.read() as tfTypes.Variable, offset: fixedSpecs[i].offset, size: fixedSpecs[i].size }));
    this.#io = TensorIO.create(tf);
    const target = init.datasetLayout.splits.train?.targets[0];
    const targetWidth = init.decode.oneHot > 0 ? init.decode.oneHot : (target?.sampleSize ?? 0);
    const planned =
      init.denseFastPath === false
        ? { reason: 'asked for' }
        : init.classWeights?.some((w) => w !== null)
          ? { reason: 'classWeight' }
          : planDenseChain(model, init.model.loss, init.model.metrics, this.#vars, targetWidth);
    this.#chain = 'plan' in planned ? new DenseChain(tf, planned.plan, this.#vars) : undefined;
    // A Dense chain takes the native step: on tensorflow when its addon is built, on wasm when the
    // chain is small (native-step.ts).
    let native: NativeStepAddon | string | undefined;
    if ('plan' in planned) {
      const { plan } = planned;
      const inputWidth = plan.flatten ? this.#vars[plan.stages[0].kernel].shape[0] : (model.inputs[0].shape[1] as number);
      const units = plan.stages.map((st) => this.#vars[st.kernel].shape[1] as number);
      native = nativeStepFor(tf.getBackend(), units, inputWidth);
      if (typeof native !== 'string') {
        this.#native = new NativeDenseStep(
          native.binding,
          plan,
          init.model.weights.filter((w) => w.trainable),
          inputWidth,
          units,
        );
      }
    }
    this.nativeKind = this.#native !== undefined && typeof native === 'object' ? native.kind : undefined;
    // Non-trainable weights are fed to the graph as the trainable ones are; a step that moves them
    // (moving statistics: a JS assign, not a kernel) keeps the tape (afterTape refuses it).
    this.#traced = this.#chain === undefined ? TracedSteps.create(tf, (why) => this.tracedNotices.push(why)) : undefined;
    this.gradPath = this.#native !== undefined ? 'native' : 'plan' in planned ? 'dense' : `tape (${planned.reason})`;
    this.#rows = new RowGatherer(tf, init, this.#views, this.#io.uploadCopies, this.#chain !== undefined, this.#native !== undefined);
    this.#transposed = TransposedWeights.create(tf);
    const trainable = init.model.weights.filter((w) => w.trainable);
    this.#trainable = trainable;
    if (trainable.length !== this.#vars.length) {
      throw Errors.internal(`replica has ${this.#vars.length} trainable weights, the coordinator sent ${trainable.length}`);
    }
    trainable.forEach((w, i) => {
      const got = this.#vars[i].shape.join('x');
      if (got !== w.shape.join('x')) {
        throw Errors.internal(`replica weight ${i} (${w.name}) has shape ${got}, the coordinator sent ${w.shape.join('x')}`);
      }
    });
  }

  /** Builds the replica with the backend already set up in `tf`. */
  static async create(tf: Tf, init: WorkerInit): Promise<Replica> {
    let model: tfTypes.LayersModel;
    try {
      model = await tf.models.modelFromJSON({ modelTopology: withZeroInitializers(init.model.topology) } as tfTypes.io.ModelJSON);
    } catch (err) {
      const msg = (err as Error).message;
      if (!/Unknown (layer|loss|metric|regularizer|initializer|constraint|activation)|not registered|Unknown/i.test(msg)) throw err;
      throw new ThreadfitError(
        ErrorCodes.UNSUPPORTED,
        `a worker could not rebuild the model: ${msg.split('\n')[0]}. Custom classes must be registered in every worker: pass options.workerSetup, a module that registers them (tf.serialization.registerClass)${init.workerSetup ? ` — ${init.workerSetup} was imported but did not register it` : ''}`,
        { cause: err },
      );
    }
    const loss = init.model.loss.length === 1 ? init.model.loss[0] : init.model.loss;
    // The optimizer is never used: updates happen in shared memory. compile() resolves the loss and
    // metric functions exactly as model.fit does.
    model.compile({ loss, optimizer: 'sgd', metrics: init.model.metrics });
    return new Replica(tf, init, model);
  }

  /** The gradient slot of a rank (for fault injection after a grad task). */
  gradSlot(rank: number): Float32Array {
    return this.#views.gradSlot(rank);
  }

  get model(): tfTypes.LayersModel {
    return this.#model;
  }

  /** Loads the weights of committed step `step` (held in buffer `from`) unless already loaded. */
  loadWeights(step: number, from: 0 | 1): void {
    if (this.#loadedStep === step && this.#loadedFrom === from) return;
    const params = this.#views.params(from);
    let k = 0;
    for (const w of this.#init.model.weights) {
      if (!w.trainable) continue;
      this.#io.writeVariable(this.#vars[k++], params.subarray(w.offset, w.offset + w.size));
    }
    this.#transposed?.refresh(this.#vars);
    this.#loadBuffers(from);
    this.#loadedStep = step;
    this.#loadedFrom = from;
  }

  /**
   * The gradients of each of the task's micro-batches (mean loss over its rows) into its slot.
   * Every micro-batch starts from the committed state, so its result does not depend on which
   * rank computes it, nor on what else that rank computed: the basis of deterministic mode.
   */
  grad(task: GradRequest): GradResult {
    const ms = { gather: 0, compute: 0, copy: 0 };
    let count = 0;
    let lossSum = 0;
    let metricSums: number[] = [];
    try {
      for (const micro of task.micro) {
        const r = this.#microGrad(micro, task.step, task.from, ms);
        count += r.count;
        lossSum += r.lossSum;
        metricSums = metricSums.length === 0 ? r.metricSums : metricSums.map((m, i) => m + r.metricSums[i]);
      }
    } catch (err) {
      throw this.#explained(err);
    }
    if (count === 0) throw Errors.internal(`grad task for rank ${task.rank} has no samples`);
    return { rank: task.rank, count, lossSum, metricSums, ms };
  }

  /**
   * Gathers the rows of `micro` now, for the next grad call that has exactly this micro-batch: a
   * rank waiting at a barrier of an execution gathers its next step's rows in that time.
   */
  prefetch(micro: MicroBatch): void {
    this.#rows.prefetch(micro);
  }

  /** Frees prefetched rows that will not be used. */
  dropPrefetch(): void {
    this.#rows.dropPrefetch();
  }

  #microGrad(micro: MicroBatch, step: number, from: 0 | 1, ms: GradResult['ms']): { count: number; lossSum: number; metricSums: number[] } {
    const tf = this.#tf;
    const t0 = now();
    const n = micro.end - micro.start;
    const { xs, ys, targets, inputs } = this.#rows.micro(micro);
    const t1 = now();
    if (this.#native !== undefined) {
      // Weights read where they are committed, gradients written into the slot: no tfjs variable.
      const r = this.#native.grad(inputs!, n, targets!, this.#views.params(from), this.#views.gradSlot(micro.slot));
      ms.gather += t1 - t0;
      ms.compute += now() - t1;
      return { count: n, lossSum: r.lossSum, metricSums: r.metricSums };
    }
    if (this.#traced?.ready(n) === true) {
      const r = this.#tracedGrad(micro, n, xs, ys, from, ms, t0, t1, step);
      if (r !== undefined) return r;
    }
    this.loadWeights(step, from);

    let grads: Array<tfTypes.Tensor | undefined> = [];
    let ok = false;
    let metricSums: number[] = [];
    let lossSum = 0;
    let t2 = t1;
    try {
      const tape = (capture?: Parameters<TapeLoss['grad']>[5]) => this.#tape.grad(xs, ys, this.#vars, micro.slot, step, capture);
      const r =
        this.#chain !== undefined
          ? this.#chain.grad(xs[0], targets!)
          : this.#traced !== undefined
            ? this.#traced.record(n, xs, ys, [...this.#vars, ...this.#buffers.map((b) => b.v)], tape)
            : tape();
      grads = r.grads;
      lossSum = r.lossSum;
      metricSums = r.metricSums;
      t2 = now();
      const slot = this.#views.gradSlot(micro.slot);
      let k = 0;
      for (const w of this.#init.model.weights) {
        if (!w.trainable) continue;
        const g = grads[k++];
        if (g === undefined) {
          throw new ThreadfitError(ErrorCodes.UNSUPPORTED, `trainable weight ${w.name} does not affect the loss (no gradient); mark it trainable: false`);
        }
        this.#io.read(g, slot.subarray(w.offset, w.offset + w.size));
      }
      // The forward pass in training mode moved the moving statistics: publish them for the
      // committing rank to average (execution.ts), and put the committed ones back (the next micro-batch,
      // or a rerun of this task, starts from the same state).
      // Whether they moved matters only to a step being traced (a graph would not move them).
      let moved = false;
      if (this.#buffers.length > 0) {
        const out = this.#views.bufferSlot(micro.slot);
        const committed = this.#views.buffers(from);
        const traced = this.#traced?.recording === true;
        for (const b of this.#buffers) {
          this.#io.read(b.v, out.subarray(b.offset, b.offset + b.size));
          if (traced) moved ||= !sameBits(out.subarray(b.offset, b.offset + b.size), committed.subarray(b.offset, b.offset + b.size));
        }
        this.#loadBuffers(from);
      }
      this.#traced?.afterTape(
        () => this.#tracedFeeds(xs, ys, from),
        { lossSum, metricSums, grads: this.#trainable.map((w) => slot.subarray(w.offset, w.offset + w.size)) },
        this.#draws(micro.slot, step),
        moved ? 'the step updates non-trainable weights (moving statistics) in JavaScript, outside its kernels' : undefined,
      );
      ok = true;
    } finally {
      tf.dispose([...grads.filter((g): g is tfTypes.Tensor => g !== undefined), ...xs, ...ys]);
      // After a failure mid-way the replica's state is unknown (moving statistics may have
      // moved): the next task reloads everything.
      if (!ok) this.#loadedStep = -1;
    }
    const t3 = now();
    ms.gather += t1 - t0;
    ms.compute += t2 - t1;
    ms.copy += t3 - t2;
    return { count: n, lossSum, metricSums };
  }

  /** A step on its traced graph: the rows and the committed weights in, the gradients into the slot. */
  #tracedGrad(
    micro: MicroBatch,
    n: number,
    xs: tfTypes.Tensor[],
    ys: tfTypes.Tensor[],
    from: 0 | 1,
    ms: GradResult['ms'],
    t0: number,
    t1: number,
    step: number,
  ) {
    let r: ReturnType<TracedSteps['run']>;
    try {
      r = this.#traced!.run(n, this.#tracedFeeds(xs, ys, from), this.#draws(micro.slot, step));
    } catch (err) {
      // A graph that fails to run (memory, a kernel error) hands its row count back to the tape:
      // this micro-batch too, so nothing is lost.
      this.#traced!.refuse(n, `its graph failed to run: ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
    try {
      const t2 = now();
      const slot = this.#views.gradSlot(micro.slot);
      this.#trainable.forEach((w, i) => slot.set(r.grads[i], w.offset));
      // Non-trainable weights the step does not move (frozen layers): published unchanged.
      if (this.#buffers.length > 0) {
        const out = this.#views.bufferSlot(micro.slot);
        const committed = this.#views.buffers(from);
        for (const b of this.#buffers) out.set(committed.subarray(b.offset, b.offset + b.size), b.offset);
      }
      ms.gather += t1 - t0;
      ms.compute += t2 - t1;
      ms.copy += now() - t2;
      return { count: n, lossSum: r.lossSum, metricSums: r.metricSums };
    } finally {
      this.#tf.dispose([...xs, ...ys]);
    }
  }

  /** The step's uniform draws (dropout), as the tape makes them: tfjs's randomUniform under the Math.random TapeLoss seeds. */
  #draws(slot: number, step: number): RandomDraws {
    const tf = this.#tf;
    return (shapes) =>
      withSeededMathRandom(deriveSeed(this.#init.seed, slot, step), () =>
        shapes.map((s) => {
          const t = tf.randomUniform(s, 0, 1, 'float32');
          const v = t.dataSync() as Float32Array;
          t.dispose();
          return v;
        }),
      );
  }

  /** The traced graph's feeds: the inputs, the targets, the trainable weights, then the non-trainable ones, where they are committed. */
  #tracedFeeds(xs: tfTypes.Tensor[], ys: tfTypes.Tensor[], from: 0 | 1): ArrayLike<number>[] {
    const params = this.#views.params(from);
    const weights = this.#trainable.map((w) => params.subarray(w.offset, w.offset + w.size));
    const buffers = this.#views.buffers(from);
    const fixed = this.#buffers.map((b) => buffers.subarray(b.offset, b.offset + b.size));
    return [...xs.map((x) => x.dataSync() as ArrayLike<number>), ...ys.map((y) => y.dataSync() as ArrayLike<number>), ...weights, ...fixed];
  }

  /** Non-trainable weights (moving statistics) from a committed buffer. */
  #loadBuffers(from: 0 | 1): void {
    const buffers = this.#views.buffers(from);
    for (const b of this.#buffers) this.#io.writeVariable(b.v, buffers.subarray(b.offset, b.offset + b.size));
  }

  /**
   * A tape step's failure that no rerun can mend, as the error a user can act on: a model whose
   * op tfjs cannot differentiate (no gradient registered), or that needs a kernel the backend
   * lacks (Conv2DBackpropFilter on stock wasm), names the layer, the op or kernel and the backends
   * that have it. Thrown as UNSUPPORTED, which ends training at once (engine/faults.ts). Checked
   * on the first step, as model.fit fails at its first batch: a throw-away pass at start-up cost
   * recurrent models ~0.4-1 s per worker (docs/PERFORMANCE.md, "Session 10"). Any other error is
   * returned as it is.
   */
  #explained(err: unknown): unknown {
    const tf = this.#tf;
    const message = (err as Error | undefined)?.message ?? '';
    const noGradient = /gradient function not found for (\w+)/.exec(message);
    if (noGradient !== null) {
      // tfjs registers no gradient for the op: no backend can train through it.
      const layer = this.#layerNeeding(new RegExp(`gradient function not found for ${noGradient[1]}\\b`));
      return new ThreadfitError(
        ErrorCodes.UNSUPPORTED,
        `${layer === undefined ? 'the model' : `layer '${layer.name}' (${layer.getClassName()})`} uses the op '${noGradient[1]}', which tfjs cannot differentiate on any backend (no gradient is registered for it), so no backend can train through it; replace the layer (model.fit fails the same way)`,
        { cause: err },
      );
    }
    const m = /Kernel '(\w+)' not registered for backend '(\w+)'/.exec(message);
    if (m === null) return err;
    // Workers load only the backend they run (backend.ts): the cpu backend's kernel registry is
    // loaded here, on this error path, to say whether it has the kernel.
    createRequire(import.meta.url)('@tensorflow/tfjs-backend-cpu');
    const others = ['cpu', 'wasm', 'tensorflow'].filter((b) => b !== m[2] && (tf.getKernel(m[1], b) !== undefined || b === 'tensorflow'));
    const layer = this.#layerNeeding(new RegExp(`Kernel '${m[1]}' not registered`));
    return new ThreadfitError(
      ErrorCodes.UNSUPPORTED,
      `${layer === undefined ? 'the model' : `layer '${layer.name}' (${layer.getClassName()})`} needs the tfjs kernel '${m[1]}', which backend '${m[2]}' does not have (training this model differentiates an op it cannot run); use backend ${others.map((b) => `'${b}'`).join(' or ')}`,
      { cause: err },
    );
  }

  /**
   * On #explained's path only: the first layer whose own forward and backward pass (on
   * inputs of its input shapes, batch 2) fails with an error matching `needs`, so the error can
   * name it.
   */
  #layerNeeding(needs: RegExp): tfTypes.layers.Layer | undefined {
    const tf = this.#tf;
    for (const layer of this.#model.layers) {
      let symbolic: tfTypes.SymbolicTensor[];
      try {
        symbolic = ([] as tfTypes.SymbolicTensor[]).concat(layer.input);
      } catch {
        continue; // a layer used at several nodes has no single input: skip it
      }
      const inputs = symbolic.map((t) => {
        const shape = t.shape.map((d) => d ?? 2);
        return t.dtype === 'int32' ? tf.zeros(shape, 'int32') : tf.ones(shape);
      });
      try {
        const floats = inputs.filter((t) => t.dtype === 'float32');
        const vars = layer.trainableWeights.map((w) => w.read() as tfTypes.Variable);
        const loss = () => {
          const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: true }) as tfTypes.Tensor | tfTypes.Tensor[];
          return tf.addN(([] as tfTypes.Tensor[]).concat(out).map((o) => tf.sum(tf.cast(o, 'float32')))) as tfTypes.Scalar;
        };
        const r = vars.length > 0 ? tf.variableGrads(loss, vars) : undefined;
        const g = floats.length > 0 ? tf.grads((...xs: tfTypes.Tensor[]) => (void xs, loss()))(floats) : [];
        tf.dispose([...(r ? [r.value, ...Object.values(r.grads)] : []), ...g]);
      } catch (err) {
        if (needs.test((err as Error).message)) return layer;
      } finally {
        tf.dispose(inputs);
      }
    }
    return undefined;
  }

  /** Loss and metric sums over rows [start, end) of a split, in inference mode. */
  evaluate(task: EvaluateTask): EvaluateResult {
    const tf = this.#tf;
    this.loadWeights(task.step, task.from);
    const split = this.#rows.split(task.split);
    let lossSum = 0;
    let metricSums: number[] = [];
    // Pieces of EVAL_PIECE rows bound the activation memory whatever the split size.
    for (let start = task.start; start < task.end; start += EVAL_PIECE) {
      const n = Math.min(EVAL_PIECE, task.end - start);
      const indices = new Int32Array(n);
      for (let i = 0; i < n; i++) indices[i] = start + i;
      const { xs, ys } = this.#rows.rows(split, indices);
      const out = this.#model.apply(xs, { training: false }) as tfTypes.Tensor | tfTypes.Tensor[];
      const outputs = Array.isArray(out) ? out : [out];
      const loss = this.#tape.totalLoss(ys, outputs, false);
      lossSum += (loss.dataSync()[0] as number) * n;
      const sums = this.#tape.metricSums(ys, outputs, n);
      metricSums = metricSums.length === 0 ? sums : metricSums.map((s, i) => s + sums[i]);
      tf.dispose([loss, ...outputs, ...xs, ...ys]);
    }
    return { type: 'evaluate', count: task.end - task.start, lossSum, metricSums };
  }

  dispose(): void {
    this.#transposed?.release();
    this.#model.dispose();
  }
}
