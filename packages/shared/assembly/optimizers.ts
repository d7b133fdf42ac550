// The optimizers other than Adam (which stays in kernels.ts), each fused with the weighted reduce
// of the rank gradient slots, in f32x4. Same contract as reduceAdam: read the committed buffers
// (*In), write the other buffers (*Out) over [start, end) (multiples of 4), return the number of
// non-finite reduced gradients.
//
// Each reproduces tfjs 4.22's optimizer op for op in float32 (tfjs-core/src/optimizers/*.ts on the
// cpu backend: every op rounds to float32, and wasm f32x4 ops are correctly rounded, so the bits
// match). Scalars that tfjs builds from a float64 expression (1 - beta, -lr, adamax's lr / (1 -
// accBeta1)) arrive computed by the caller and rounded once to f32 at the call boundary, as tfjs's
// scalar() does. Operand order is tfjs's; where it differs (a*b vs b*a, a+b vs b+a) the result is
// the same bits: IEEE + and * are commutative.

import { laneSum, reduceAt, nonFiniteMask, storeChecked } from './reduce';

// SGD: p' = (-lr)*g + p
export function reduceSgd(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, start: i32, end: i32,
  negLr: f32,
): i32 {
  const c = f32x4.splat(negLr);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(f32x4.mul(c, g), v128.load(pIn + off))));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// Momentum: a' = m*a + g;  p' = (-lr)*a' + p, or with Nesterov p' = (-lr)*(g + a'*m) + p.
// `nesterov` is loop-invariant: the branch is predicted and costs nothing next to the loads.
export function reduceMomentum(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, aIn: usize, aOut: usize, start: i32, end: i32,
  negLr: f32, momentum: f32, nesterov: bool,
): i32 {
  const c = f32x4.splat(negLr);
  const m = f32x4.splat(momentum);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const a = f32x4.add(f32x4.mul(m, v128.load(aIn + off)), g);
    const dir = nesterov ? f32x4.add(g, f32x4.mul(a, m)) : a;
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(f32x4.mul(c, dir), v128.load(pIn + off))));
    nf = v128.or(nf, storeChecked(aOut + off, a));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// RMSProp, plain: ms' = ms*d + g*g*(1-d);  mom' = mom*mu + g*lr / sqrt(ms' + eps);  p' = p - mom'.
export function reduceRmsprop(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, msIn: usize, msOut: usize, momIn: usize, momOut: usize,
  start: i32, end: i32,
  lr: f32, decay: f32, oneMinusDecay: f32, momentum: f32, eps: f32,
): i32 {
  const l = f32x4.splat(lr);
  const d = f32x4.splat(decay);
  const c = f32x4.splat(oneMinusDecay);
  const mu = f32x4.splat(momentum);
  const e = f32x4.splat(eps);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const ms = f32x4.add(f32x4.mul(v128.load(msIn + off), d), f32x4.mul(f32x4.mul(g, g), c));
    const step = f32x4.div(f32x4.mul(g, l), f32x4.sqrt(f32x4.add(ms, e)));
    const mom = f32x4.add(f32x4.mul(v128.load(momIn + off), mu), step);
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.sub(v128.load(pIn + off), mom)));
    nf = v128.or(nf, storeChecked(msOut + off, ms));
    nf = v128.or(nf, storeChecked(momOut + off, mom));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// RMSProp, centered: as above with mg' = mg*d + g*(1-d) and the step g*lr / sqrt(ms' - (mg'^2 + eps)).
// That is tfjs's formula as written (eps subtracted, not added): a lane where ms' - mg'^2 < eps,
// e.g. a zero gradient at step 1, gives NaN weights in tfjs, and here the same NaN.
export function reduceRmspropCentered(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, msIn: usize, msOut: usize, momIn: usize, momOut: usize,
  mgIn: usize, mgOut: usize, start: i32, end: i32,
  lr: f32, decay: f32, oneMinusDecay: f32, momentum: f32, eps: f32,
): i32 {
  const l = f32x4.splat(lr);
  const d = f32x4.splat(decay);
  const c = f32x4.splat(oneMinusDecay);
  const mu = f32x4.splat(momentum);
  const e = f32x4.splat(eps);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const ms = f32x4.add(f32x4.mul(v128.load(msIn + off), d), f32x4.mul(f32x4.mul(g, g), c));
    const mg = f32x4.add(f32x4.mul(v128.load(mgIn + off), d), f32x4.mul(g, c));
    const denom = f32x4.sqrt(f32x4.sub(ms, f32x4.add(f32x4.mul(mg, mg), e)));
    const mom = f32x4.add(f32x4.mul(v128.load(momIn + off), mu), f32x4.div(f32x4.mul(g, l), denom));
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.sub(v128.load(pIn + off), mom)));
    nf = v128.or(nf, storeChecked(msOut + off, ms));
    nf = v128.or(nf, storeChecked(mgOut + off, mg));
    nf = v128.or(nf, storeChecked(momOut + off, mom));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// Adagrad: acc' = acc + g*g;  p' = g / sqrt(acc' + eps) * (-lr) + p  (eps: the backend's, 1e-7).
export function reduceAdagrad(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, accIn: usize, accOut: usize, start: i32, end: i32,
  negLr: f32, eps: f32,
): i32 {
  const c = f32x4.splat(negLr);
  const e = f32x4.splat(eps);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const acc = f32x4.add(v128.load(accIn + off), f32x4.mul(g, g));
    const step = f32x4.mul(f32x4.div(g, f32x4.sqrt(f32x4.add(acc, e))), c);
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(step, v128.load(pIn + off))));
    nf = v128.or(nf, storeChecked(accOut + off, acc));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// Adadelta: ag' = ag*rho + g*g*(1-rho);  u = sqrt(au + eps) / sqrt(ag + eps) * g  (the OLD ag, as
// tfjs does);  au' = au*rho + u*u*(1-rho);  p' = u*(-lr) + p.
export function reduceAdadelta(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, agIn: usize, agOut: usize, auIn: usize, auOut: usize,
  start: i32, end: i32,
  negLr: f32, rho: f32, oneMinusRho: f32, eps: f32,
): i32 {
  const c = f32x4.splat(negLr);
  const r = f32x4.splat(rho);
  const k = f32x4.splat(oneMinusRho);
  const e = f32x4.splat(eps);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const ag0 = v128.load(agIn + off);
    const au0 = v128.load(auIn + off);
    const ag = f32x4.add(f32x4.mul(ag0, r), f32x4.mul(f32x4.mul(g, g), k));
    const u = f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(au0, e)), f32x4.sqrt(f32x4.add(ag0, e))), g);
    const au = f32x4.add(f32x4.mul(au0, r), f32x4.mul(f32x4.mul(u, u), k));
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(f32x4.mul(u, c), v128.load(pIn + off))));
    nf = v128.or(nf, storeChecked(agOut + off, ag));
    nf = v128.or(nf, storeChecked(auOut + off, au));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}

// Adamax: m' = m*b1 + g*(1-b1);  v' = max(v*b2, |g|);  p' = lrOverBc * (m' / (v' + eps)) + p,
// where lrOverBc = (-lr / (iteration*decay + 1)) / (1 - accBeta1), the caller's per-step scalar.
export function reduceAdamax(
  gradBase: usize, slotStrideBytes: usize, slots: i32, slotWeights: usize,
  pIn: usize, pOut: usize, mIn: usize, mOut: usize, vIn: usize, vOut: usize,
  start: i32, end: i32,
  beta1: f32, beta2: f32, oneMinusBeta1: f32, lrOverBc: f32, eps: f32,
): i32 {
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(oneMinusBeta1);
  const k = f32x4.splat(lrOverBc);
  const e = f32x4.splat(eps);
  let bad = i32x4.splat(0);
  for (let i = start; i < end; i += 4) {
    const off = (<usize>i) << 2;
    const g = reduceAt(gradBase + off, slotStrideBytes, slots, slotWeights);
    let nf = nonFiniteMask(g);
    const m = f32x4.add(f32x4.mul(v128.load(mIn + off), b1), f32x4.mul(g, c1));
    // f32x4.max propagates NaN and orders -0 < +0, as Math.max in tfjs's cpu maximum does.
    const v = f32x4.max(f32x4.mul(v128.load(vIn + off), b2), f32x4.abs(g));
    nf = v128.or(nf, storeChecked(pOut + off, f32x4.add(f32x4.mul(k, f32x4.div(m, f32x4.add(v, e))), v128.load(pIn + off))));
    nf = v128.or(nf, storeChecked(mOut + off, m));
    nf = v128.or(nf, storeChecked(vOut + off, v));
    bad = i32x4.sub(bad, nf);
  }
  return laneSum(bad);
}
