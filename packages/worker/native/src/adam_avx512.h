// The fused weighted reduce + Adam of packages/shared/assembly/kernels.ts (reduceAdam) in AVX-512:
// the same float32 operations in the same order on 16 lanes instead of 4, so the same inputs give
// the same bits (tested against the WebAssembly kernel: test/native-kernels.test.ts). Compiled
// with -ffp-contract=off: a fused multiply-add would round once where the reference rounds twice.
//
// Why: the WebAssembly kernel is bound by its three divisions and one square root per element on
// 4 lanes (~1.5 ns per parameter here); a zmm division covers 16.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace threadfit {

struct AdamArgs {
  const uint8_t *grad_base;  // the first gradient slot
  int64_t slot_stride;       // bytes from one slot to the next
  int slots;
  const float *slot_weights;
  const float *p_in, *m_in, *v_in;  // committed buffers (read)
  float *p_out, *m_out, *v_out;     // the other buffers (written)
  int64_t start, end;               // element range
  float lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, one_minus_acc_beta1, one_minus_acc_beta2;
};

// Lanes of x that are NaN or +-Inf: x - x is 0 for a finite x and NaN otherwise (the kernel's
// f32x4.ne against 0 is an unordered compare).
__attribute__((target("avx512f"))) inline __mmask16 NonFinite(__m512 x) {
  return _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_NEQ_UQ);
}

// Returns the number of elements whose reduced gradient or new p, m or v is non-finite.
__attribute__((target("avx512f"))) inline int64_t ReduceAdamAvx512(const AdamArgs &a) {
  const __m512 b1 = _mm512_set1_ps(a.beta1), b2 = _mm512_set1_ps(a.beta2);
  const __m512 c1 = _mm512_set1_ps(a.one_minus_beta1), c2 = _mm512_set1_ps(a.one_minus_beta2);
  const __m512 bc1 = _mm512_set1_ps(a.one_minus_acc_beta1), bc2 = _mm512_set1_ps(a.one_minus_acc_beta2);
  const __m512 e = _mm512_set1_ps(a.eps), neg_lr = _mm512_set1_ps(-a.lr);
  int64_t bad = 0;
  for (int64_t i = a.start; i < a.end; i += 16) {
    // The tail (a range whose length is not a multiple of 16) is masked; layout.ts aligns chunks
    // to 16, so this is for safety only.
    const __mmask16 k = a.end - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (a.end - i)) - 1);
    const float *g0 = reinterpret_cast<const float *>(a.grad_base) + i;
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, g0), _mm512_set1_ps(a.slot_weights[0]));
    for (int s = 1; s < a.slots; s++) {
      const float *gs = reinterpret_cast<const float *>(a.grad_base + s * a.slot_stride) + i;
      g = _mm512_add_ps(g, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, gs), _mm512_set1_ps(a.slot_weights[s])));
    }
    __mmask16 nf = NonFinite(g);
    const __m512 m = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, a.m_in + i), b1), _mm512_mul_ps(g, c1));
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, a.v_in + i), b2), _mm512_mul_ps(_mm512_mul_ps(g, g), c2));
    const __m512 m_hat = _mm512_div_ps(m, bc1);
    const __m512 v_hat = _mm512_div_ps(v, bc2);
    const __m512 step = _mm512_mul_ps(_mm512_div_ps(m_hat, _mm512_add_ps(_mm512_sqrt_ps(v_hat), e)), neg_lr);
    const __m512 p = _mm512_add_ps(step, _mm512_maskz_loadu_ps(k, a.p_in + i));
    _mm512_mask_storeu_ps(a.p_out + i, k, p);
    _mm512_mask_storeu_ps(a.m_out + i, k, m);
    _mm512_mask_storeu_ps(a.v_out + i, k, v);
    nf = static_cast<__mmask16>((nf | NonFinite(p) | NonFinite(m) | NonFinite(v)) & k);
    bad += __builtin_popcount(nf);
  }
  return bad;
}

}  // namespace threadfit
