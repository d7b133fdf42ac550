// A float32 matrix transpose with SIMD (4x4 tiles of f32x4 shuffles), compiled to its own module
// (build/transpose.wasm) that imports a NON-shared memory: the worker instantiates it against the
// tfjs wasm backend's heap, so it moves a tensor's bytes into another tensor's bytes with no copy
// in or out. Nothing here allocates and there are no static data (a data segment would be written
// into the imported heap at instantiation): keep it that way.
//
// Why: a Dense layer's forward matmul x·W repacks W inside XNNPACK whenever W is a new tensor
// (every step); the worker computes (Wᵀ·xᵀ)ᵀ instead, and needs Wᵀ, xᵀ and the result transposed
// fast. A blocked JS loop moves ~1.7 ns per element, tfjs's wasm Transpose kernel ~3 ns; this
// kernel is measured in packages/worker (transpose of 784x512 floats).

// Tile edge in elements for the cache blocking (a multiple of 4): 32x32 floats = 4 KiB per side.
const TILE: i32 = 32;

@inline
function tile4(src: usize, dst: usize, srcStride: usize, dstStride: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + srcStride);
  const r2 = v128.load(src + srcStride * 2);
  const r3 = v128.load(src + srcStride * 3);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst + dstStride, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(dst + dstStride * 2, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(dst + dstStride * 3, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

// dst[c * rows + r] = src[r * cols + c] for a row-major rows x cols matrix at byte offset `src`;
// `dst` (cols x rows) must not overlap it. Any sizes; offsets 4-byte aligned.
export function transpose2d(src: usize, dst: usize, rows: i32, cols: i32): void {
  const srcStride = (<usize>cols) << 2;
  const dstStride = (<usize>rows) << 2;
  const rows4 = rows & ~3;
  const cols4 = cols & ~3;
  for (let r0 = 0; r0 < rows4; r0 += TILE) {
    const r1 = min(r0 + TILE, rows4);
    for (let c0 = 0; c0 < cols4; c0 += TILE) {
      const c1 = min(c0 + TILE, cols4);
      for (let r = r0; r < r1; r += 4) {
        const s = src + (<usize>r) * srcStride;
        const d = dst + ((<usize>r) << 2);
        for (let c = c0; c < c1; c += 4) tile4(s + ((<usize>c) << 2), d + (<usize>c) * dstStride, srcStride, dstStride);
      }
    }
  }
  // Edges: the last cols % 4 columns of every row, then the last rows % 4 rows.
  for (let r = 0; r < rows4; r++) {
    for (let c = cols4; c < cols; c++) {
      store<f32>(dst + ((<usize>c) * <usize>rows + <usize>r) * 4, load<f32>(src + ((<usize>r) * <usize>cols + <usize>c) * 4));
    }
  }
  for (let r = rows4; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      store<f32>(dst + ((<usize>c) * <usize>rows + <usize>r) * 4, load<f32>(src + ((<usize>r) * <usize>cols + <usize>c) * 4));
    }
  }
}
