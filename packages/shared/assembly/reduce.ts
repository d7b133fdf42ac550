// The weighted reduce shared by every update kernel (kernels.ts: Adam; optimizers.ts: the rest).
// A module of its own so that the entry file exports only kernels, never a v128 helper.

// sum_s w_s * slot_s at one address, summed in slot order 0..slots-1 (a fixed order: the same
// inputs give the same bits).
@inline
export function reduceAt(addr: usize, stride: usize, slots: i32, slotWeights: usize): v128 {
  let g = f32x4.mul(v128.load(addr), f32x4.splat(load<f32>(slotWeights)));
  for (let s = 1; s < slots; s++) {
    const w = f32x4.splat(load<f32>(slotWeights + ((<usize>s) << 2)));
    g = f32x4.add(g, f32x4.mul(v128.load(addr + (<usize>s) * stride), w));
  }
  return g;
}

// Adds 1 per lane of g that is NaN or +-Inf to the i32x4 counter `bad`: g - g is 0 for a finite g
// and NaN otherwise, so one compare flags both.
@inline
export function countNonFinite(bad: v128, g: v128): v128 {
  return i32x4.sub(bad, f32x4.ne(f32x4.sub(g, g), f32x4.splat(0)));
}

@inline
export function laneSum(bad: v128): i32 {
  return i32x4.extract_lane(bad, 0) + i32x4.extract_lane(bad, 1)
    + i32x4.extract_lane(bad, 2) + i32x4.extract_lane(bad, 3);
}

// Lanes of x that are NaN or +-Inf, as an all-ones i32x4 mask (x - x is 0 for a finite x).
@inline
export function nonFiniteMask(x: v128): v128 {
  return f32x4.ne(f32x4.sub(x, x), f32x4.splat(0));
}

// Stores x and returns its non-finite mask: every value a kernel writes is checked, so a finite
// gradient that overflows the optimizer state (g*g past float32) still makes the step skip.
@inline
export function storeChecked(addr: usize, x: v128): v128 {
  v128.store(addr, x);
  return nonFiniteMask(x);
}
