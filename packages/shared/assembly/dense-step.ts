// The kernels of the wasm native step (packages/worker/src/wasm-dense-step.ts): a Dense chain's
// forward and backward in WebAssembly SIMD (f32x4), for chains so small that tfjs's per-kernel
// dispatch, not arithmetic, is their step: iris's 4-10-3 MLP runs ~20 tfjs kernels of a few
// hundred flops each, ~0.2-0.4 ms a step, where these loops take a few microseconds.
//
// Compiled to its own module (build/dense-step.wasm) that imports a NON-shared memory owned by
// one worker: the step's inputs, weights, activations and gradients are copied in and out by the
// caller, which lays them out above heapBase() (nothing here allocates; the only static data are
// Mathf's tables, written below heapBase() when the module is instantiated). All
// matrices are row-major float32 and every argument named like a buffer is a byte offset.
//
// The maths is the dense fast path's (dense-chain.ts) and the AVX-512 step's (dense_step.h):
// z = a.K + b, then the activation; backward dK = a^T.dz (summed over the rows in order),
// db = column sums of dz, da = dz.K^T through the previous activation (from its output).

// Activation codes, as wasm-dense-step.ts passes them.
const LINEAR: i32 = 0;
const RELU: i32 = 1;
const SIGMOID: i32 = 2;
const TANH: i32 = 3;
const SOFTMAX: i32 = 4;

@inline
function at(base: usize, index: i32): usize {
  return base + ((<usize>index) << 2);
}

// c[n, m] = a[n, k] . b[k, m]
export function matmul(a: usize, b: usize, c: usize, n: i32, k: i32, m: i32): void {
  const m4 = m & ~3;
  const zero = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const crow = at(c, i * m);
    for (let j = 0; j < m4; j += 4) v128.store(at(crow, j), zero);
    for (let j = m4; j < m; j++) store<f32>(at(crow, j), 0);
    const arow = at(a, i * k);
    for (let p = 0; p < k; p++) {
      const av = load<f32>(at(arow, p));
      const avs = f32x4.splat(av);
      const brow = at(b, p * m);
      for (let j = 0; j < m4; j += 4) {
        v128.store(at(crow, j), f32x4.add(v128.load(at(crow, j)), f32x4.mul(avs, v128.load(at(brow, j)))));
      }
      for (let j = m4; j < m; j++) store<f32>(at(crow, j), load<f32>(at(crow, j)) + av * load<f32>(at(brow, j)));
    }
  }
}

// c[k, m] = a[n, k]^T . b[n, m], each element summed over the rows 0..n-1 in order.
export function matmulTransposeA(a: usize, b: usize, c: usize, n: i32, k: i32, m: i32): void {
  const m4 = m & ~3;
  memory.fill(c, 0, (<usize>(k * m)) << 2);
  for (let i = 0; i < n; i++) {
    const arow = at(a, i * k);
    const brow = at(b, i * m);
    for (let p = 0; p < k; p++) {
      const av = load<f32>(at(arow, p));
      const avs = f32x4.splat(av);
      const crow = at(c, p * m);
      for (let j = 0; j < m4; j += 4) {
        v128.store(at(crow, j), f32x4.add(v128.load(at(crow, j)), f32x4.mul(avs, v128.load(at(brow, j)))));
      }
      for (let j = m4; j < m; j++) store<f32>(at(crow, j), load<f32>(at(crow, j)) + av * load<f32>(at(brow, j)));
    }
  }
}

// c[n, k] = a[n, m] . b[k, m]^T: each element a dot product of two contiguous rows.
export function matmulTransposeB(a: usize, b: usize, c: usize, n: i32, m: i32, k: i32): void {
  const m4 = m & ~3;
  for (let i = 0; i < n; i++) {
    const arow = at(a, i * m);
    for (let p = 0; p < k; p++) {
      const brow = at(b, p * m);
      let acc = f32x4.splat(0);
      for (let j = 0; j < m4; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(at(arow, j)), v128.load(at(brow, j))));
      let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (let j = m4; j < m; j++) s += load<f32>(at(arow, j)) * load<f32>(at(brow, j));
      store<f32>(at(c, i * k + p), s);
    }
  }
}

// z[n, units] += bias (when bias != 0), then the activation, row by row, in place.
export function biasActivate(z: usize, bias: usize, n: i32, units: i32, activation: i32): void {
  const u4 = units & ~3;
  const zero = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const row = at(z, i * units);
    if (bias != 0) {
      for (let j = 0; j < u4; j += 4) v128.store(at(row, j), f32x4.add(v128.load(at(row, j)), v128.load(at(bias, j))));
      for (let j = u4; j < units; j++) store<f32>(at(row, j), load<f32>(at(row, j)) + load<f32>(at(bias, j)));
    }
    if (activation == RELU) {
      // max(x, 0): a NaN stays NaN, as in tfjs's relu (and so reaches the loss and the step's
      // non-finite check).
      for (let j = 0; j < u4; j += 4) v128.store(at(row, j), f32x4.max(v128.load(at(row, j)), zero));
      for (let j = u4; j < units; j++) store<f32>(at(row, j), Mathf.max(load<f32>(at(row, j)), 0));
    } else if (activation == SIGMOID) {
      for (let j = 0; j < units; j++) store<f32>(at(row, j), 1 / (1 + Mathf.exp(-load<f32>(at(row, j)))));
    } else if (activation == TANH) {
      for (let j = 0; j < units; j++) store<f32>(at(row, j), Mathf.tanh(load<f32>(at(row, j))));
    } else if (activation == SOFTMAX) {
      let max = load<f32>(row);
      for (let j = 1; j < units; j++) max = Mathf.max(max, load<f32>(at(row, j)));
      let sum: f32 = 0;
      for (let j = 0; j < units; j++) {
        const e = Mathf.exp(load<f32>(at(row, j)) - max);
        store<f32>(at(row, j), e);
        sum += e;
      }
      for (let j = 0; j < units; j++) store<f32>(at(row, j), load<f32>(at(row, j)) / sum);
    } else if (activation != LINEAR) {
      unreachable();
    }
  }
}

// out[units] = sum over the rows 0..n-1, in order, of dz[n, units] (the bias gradient).
export function columnSums(dz: usize, n: i32, units: i32, out: usize): void {
  const u4 = units & ~3;
  for (let j = 0; j < u4; j += 4) {
    let acc = f32x4.splat(0);
    for (let i = 0; i < n; i++) acc = f32x4.add(acc, v128.load(at(dz, i * units + j)));
    v128.store(at(out, j), acc);
  }
  for (let j = u4; j < units; j++) {
    let s: f32 = 0;
    for (let i = 0; i < n; i++) s += load<f32>(at(dz, i * units + j));
    store<f32>(at(out, j), s);
  }
}

// da[count] becomes dL/dz of a hidden stage whose activation output is `out`, by tfjs's formulas.
// relu: da times step(out), step being 1 where out > 0, NaN where out is NaN and 0 elsewhere (the
// dense fast path's da * sign(out)): a NaN passes on, and so does Inf * 0 = NaN, as on the tape.
export function activationGrad(activation: i32, out: usize, da: usize, count: i32): void {
  if (activation == RELU) {
    const c4 = count & ~3;
    const zero = f32x4.splat(0);
    const one = f32x4.splat(1);
    const nan = f32x4.splat(NaN);
    for (let i = 0; i < c4; i += 4) {
      const o = v128.load(at(out, i));
      const step = v128.bitselect(nan, v128.bitselect(one, zero, f32x4.gt(o, zero)), f32x4.ne(o, o));
      v128.store(at(da, i), f32x4.mul(v128.load(at(da, i)), step));
    }
    for (let i = c4; i < count; i++) {
      const o = load<f32>(at(out, i));
      const step: f32 = o > 0 ? 1 : isNaN(o) ? NaN : 0;
      store<f32>(at(da, i), load<f32>(at(da, i)) * step);
    }
  } else if (activation == SIGMOID) {
    for (let i = 0; i < count; i++) {
      const o = load<f32>(at(out, i));
      store<f32>(at(da, i), load<f32>(at(da, i)) * (o * (1 - o)));
    }
  } else if (activation == TANH) {
    for (let i = 0; i < count; i++) {
      const o = load<f32>(at(out, i));
      store<f32>(at(da, i), load<f32>(at(da, i)) * (1 - o * o));
    }
  } else if (activation != LINEAR) {
    unreachable();
  }
}

// The first byte the caller may use: below it are this module's static data (Mathf.exp's table),
// written into the memory when the module is instantiated.
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
