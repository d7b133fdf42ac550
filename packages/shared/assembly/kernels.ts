// threadfit update kernels, compiled by AssemblyScript to WebAssembly with SIMD (f32x4).
//
// They work in place on the one shared WebAssembly.Memory that holds the weights, the optimizer
// state and the gradient slots (see ../src/layout.ts for every offset; nothing here computes one).
// Each call covers the element range [start, end) of one chunk; start and end are multiples of 4
// (layout.ts aligns chunks), so the SIMD loop has no tail.
//
// Why WebAssembly and not a JS loop: a JS loop over Float32Arrays costs 9-16 ns per parameter,
// as long as the gradient computation itself; f32x4 here costs ~1.4-1.9 ns (DESIGN.md).

import { reduceAt, nonFiniteMask, storeChecked } from './reduce';

// The other optimizers' kernels live beside this one; re-exported so there is still one .wasm.
export * from './optimizers';

// Weighted reduce of `slots` gradient slots into one vector, then the Adam update of tfjs's
// adam_optimizer.ts, op for op in float32:
//   m' = m*b1 + g*(1-b1);  v' = v*b2 + g*g*(1-b2)
//   p' = p + (m'/(1-accB1)) / (sqrt(v'/(1-accB2)) + eps) * (-lr)
// Reads p, m, v from the committed buffers, writes the other buffers (a partial step never
// touches what other ranks read). Returns the number of elements whose reduced gradient or new
// p, m or v is non-finite (g*g can overflow float32 for a finite g).
export function reduceAdam(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, mIn: usize, mOut: usize, vIn: usize, vOut: usize,
  start: i32, end: i32,
  lr: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, eps: f32,
  oneMinusAccBeta1: f32, oneMinusAccBeta2: f32,
): i32 {
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  // 1-beta is taken from the caller: tfjs computes it in float64 and rounds once.
  const c1 = f32x4.splat(oneMinusBeta1);
  const c2 = f32x4.splat(oneMinusBeta2);
  const bc1 = f32x4.splat(oneMinusAccBeta1);
  const bc2 = f32x4.splat(oneMinusAccBeta2);
  const e = f32x4.splat(eps);
  const negLr = f32x4.splat(-lr);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    // An element is bad when its reduced gradient or anything written for it is NaN or +-Inf.
    let nf = nonFiniteMask(g);
    const m = f32x4.add(f32x4.mul(v128.load(mIn + off), b1), f32x4.mul(g, c1));
    const v = f32x4.add(f32x4.mul(v128.load(vIn + off), b2), f32x4.mul(f32x4.mul(g, g), c2));
    const mHat = f32x4.div(m, bc1);
    const vHat = f32x4.div(v, bc2);
    const step = f32x4.mul(f32x4.div(mHat, f32x4.add(f32x4.sqrt(vHat), e)), negLr);
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(step, v128.load(pIn + off))));
    nf = v128.or(nf, storeChecked(mOut + off, m));
    nf = v128.or(nf, storeChecked(vOut + off, v));
    bad = i32x4.sub(bad, nf);
  }
  return i32x4.extract_lane(bad, 0) + i32x4.extract_lane(bad, 1)
    + i32x4.extract_lane(bad, 2) + i32x4.extract_lane(bad, 3);
}

// Weighted reduce alone: out[i] = sum_r w_r * slot_r[i] over [start, end). Used by tests (every
// optimizer has a fused kernel: here and in optimizers.ts). Returns the number of non-finite results.
export function reduceInto(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  out: usize, start: i32, end: i32,
): i32 {
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    bad = i32x4.sub(bad, f32x4.ne(f32x4.sub(g, g), f32x4.splat(0)));
    v128.store(out + off, g);
  }
  return i32x4.extract_lane(bad, 0) + i32x4.extract_lane(bad, 1)
    + i32x4.extract_lane(bad, 2) + i32x4.extract_lane(bad, 3);
}
