// A single-threaded float32 GEMM in AVX-512 for the native dense step (dense_step.h): one worker
// thread per core runs it on its own rows, so it needs no threading of its own.
//
//   C[M x N] (+)= op(A)[M x K] . op(B)[K x N], all row-major;
//   op(A)(i, k) = ta ? A[k * lda + i] : A[i * lda + k];  op(B)(k, j) = tb ? B[j * ldb + k] : B[k * ldb + j].
//
// A register tile of MR rows x 32 columns (2 x 16 lanes, 16 accumulators) runs over all of K with
// one FMA per (row, lane group, k): every element of C is the sum over k = 0..K-1 in that order,
// whatever M or the tile it falls in, so a row's result does not depend on how the rows were split
// (the same rows give the same bits at any W). Columns are taken 32 at a time straight from B
// when B is not transposed and the block is full; otherwise the block is packed first (zero padded).
// Measured on the 2-core AMD EPYC (Zen 4) VM, one thread: ~95-100 GFLOP/s on the seed's shapes,
// the same as XLA's dot on one core (docs/PERFORMANCE.md).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace threadfit {

constexpr int kGemmNR = 32;
constexpr int kGemmMR = 8;

template <int R>
__attribute__((target("avx512f"))) inline void GemmTile(const float *a, int64_t a_row, int64_t a_k, const float *b, int64_t b_k, int64_t K, float *c,
                                                       int64_t ldc, __mmask16 m0, __mmask16 m1, bool accumulate) {
  __m512 c0[R], c1[R];
  for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    const __m512 b0 = _mm512_loadu_ps(b + k * b_k), b1 = _mm512_loadu_ps(b + k * b_k + 16);
    const float *ak = a + k * a_k;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const __m512 av = _mm512_set1_ps(ak[r * a_row]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
  for (int r = 0; r < R; r++) {
    float *cr = c + r * ldc;
    if (accumulate) {
      c0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), c0[r]);
      c1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), c1[r]);
    }
    _mm512_mask_storeu_ps(cr, m0, c0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
  }
}

template <int R>
__attribute__((target("avx512f"))) inline void GemmTileRows(int rows, const float *a, int64_t a_row, int64_t a_k, const float *b, int64_t b_k, int64_t K,
                                                           float *c, int64_t ldc, __mmask16 m0, __mmask16 m1, bool accumulate) {
  if constexpr (R > 0) {
    if (rows == R) return GemmTile<R>(a, a_row, a_k, b, b_k, K, c, ldc, m0, m1, accumulate);
    return GemmTileRows<R - 1>(rows, a, a_row, a_k, b, b_k, K, c, ldc, m0, m1, accumulate);
  }
}

class Gemm {
 public:
  __attribute__((target("avx512f"))) void Run(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, bool ta, const float *B, int64_t ldb, bool tb,
                                              float *C, int64_t ldc, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
      if (!accumulate)
        for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, N * sizeof(float));
      return;
    }
    const int64_t a_row = ta ? 1 : lda, a_k = ta ? lda : 1;
    for (int64_t j0 = 0; j0 < N; j0 += kGemmNR) {
      const int64_t nj = N - j0 < kGemmNR ? N - j0 : kGemmNR;
      const float *b = B + j0;
      int64_t b_k = ldb;
      if (tb || nj < kGemmNR) {
        b = Pack(K, nj, B, ldb, tb, j0);
        b_k = kGemmNR;
      }
      const __mmask16 m0 = nj >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nj) - 1);
      const __mmask16 m1 = nj <= 16 ? static_cast<__mmask16>(0) : nj >= 32 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (nj - 16)) - 1);
      for (int64_t i0 = 0; i0 < M; i0 += kGemmMR) {
        const int rows = M - i0 < kGemmMR ? static_cast<int>(M - i0) : kGemmMR;
        GemmTileRows<kGemmMR>(rows, A + i0 * a_row, a_row, a_k, b, b_k, K, C + i0 * ldc + j0, ldc, m0, m1, accumulate);
      }
    }
  }

 private:
  std::vector<float> pack_;
  // op(B)[:, j0 : j0 + nj] as K rows of 32 floats, zero padded.
  const float *Pack(int64_t K, int64_t nj, const float *B, int64_t ldb, bool tb, int64_t j0) {
    if (pack_.size() < static_cast<size_t>(K * kGemmNR)) pack_.resize(K * kGemmNR);
    float *dst = pack_.data();
    for (int64_t k = 0; k < K; k++, dst += kGemmNR) {
      if (tb) {
        for (int64_t j = 0; j < nj; j++) dst[j] = B[(j0 + j) * ldb + k];
      } else {
        std::memcpy(dst, B + k * ldb + j0, nj * sizeof(float));
      }
      for (int64_t j = nj; j < kGemmNR; j++) dst[j] = 0.f;
    }
    return pack_.data();
  }
};

}  // namespace threadfit
