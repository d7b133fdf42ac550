// The dense fast path's forward and backward of a Dense chain on threadfit's own AVX-512 GEMM
// (gemm_avx512.h): the native step's kernels where the CPU has AVX-512 (issue 20). Same maths as
// the TF graph of graph_step.cc (MatMul, BiasAdd, the activation; backward: MatMul with
// transposes, Sum, ReluGrad/SigmoidGrad/TanhGrad), on one thread, with the activations kept in
// buffers of the step between the two calls and the gradients written straight into the slot.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gemm_avx512.h"

namespace threadfit {

struct DenseStage {
  int64_t in = 0, units = 0;
  bool bias = false;
  std::string activation;  // relu | sigmoid | tanh | softmax | linear
};

inline bool KnownActivation(const std::string &a) { return a == "relu" || a == "sigmoid" || a == "tanh" || a == "softmax" || a == "linear"; }

class DenseKernelStep {
 public:
  DenseKernelStep(std::vector<DenseStage> stages, int64_t input_width) : stages_(std::move(stages)), input_width_(input_width), acts_(stages_.size()) {}

  const std::vector<DenseStage> &stages() const { return stages_; }
  int64_t input_width() const { return input_width_; }
  int64_t rows() const { return n_; }
  bool has_forward() const { return x_ != nullptr; }

  // x: [n, input_width]; weights: per stage its kernel [in, units], then its bias [units] when it
  // has one. Returns the output [n, units of the last stage], after its activation.
  __attribute__((target("avx512f"))) const float *Forward(const float *x, int64_t n, const std::vector<const float *> &weights) {
    x_ = x;
    n_ = n;
    kernels_.clear();
    size_t w = 0;
    const float *a = x;
    for (size_t l = 0; l < stages_.size(); l++) {
      const DenseStage &s = stages_[l];
      const float *kernel = weights[w++];
      const float *bias = s.bias ? weights[w++] : nullptr;
      kernels_.push_back(kernel);
      std::vector<float> &z = acts_[l];
      if (z.size() < static_cast<size_t>(n * s.units)) z.resize(n * s.units);
      gemm_.Run(n, s.units, s.in, a, s.in, false, kernel, s.units, false, z.data(), s.units, false);
      const bool relu = s.activation == "relu";
      for (int64_t i = 0; i < n; i++) {
        float *row = z.data() + i * s.units;
        if (relu || s.activation == "linear") {
          BiasRelu(row, bias, s.units, relu);  // the seed's hidden layer: branch-free, 16 lanes
        } else {
          if (bias != nullptr)
            for (int64_t j = 0; j < s.units; j++) row[j] = row[j] + bias[j];
          Activate(s.activation, row, s.units);
        }
      }
      a = z.data();
    }
    return acts_.back().data();
  }

  // dz: dL/dz of the last stage [n, units]; grads: per variable, in the weights' order, written.
  __attribute__((target("avx512f"))) void Backward(const float *dz_out, const std::vector<float *> &grads) {
    const float *dz = dz_out;
    size_t g = grads.size();
    for (int l = static_cast<int>(stages_.size()) - 1; l >= 0; l--) {
      const DenseStage &s = stages_[l];
      const float *input = l == 0 ? x_ : acts_[l - 1].data();
      float *bias_grad = s.bias ? grads[--g] : nullptr;
      float *kernel_grad = grads[--g];
      // dK = input^T . dz, summed over the rows in order.
      gemm_.Run(s.in, s.units, n_, input, s.in, true, dz, s.units, false, kernel_grad, s.units, false);
      if (bias_grad != nullptr) ColumnSums(dz, n_, s.units, bias_grad);
      if (l == 0) break;
      // dA = dz . K^T, then through the previous stage's activation (from its output).
      std::vector<float> &da = l % 2 == 0 ? da_even_ : da_odd_;
      if (da.size() < static_cast<size_t>(n_ * s.in)) da.resize(n_ * s.in);
      gemm_.Run(n_, s.in, s.units, dz, s.units, false, kernels_[l], s.units, true, da.data(), s.in, false);
      ActivationGrad(stages_[l - 1].activation, acts_[l - 1].data(), da.data(), n_ * s.in);
      dz = da.data();
    }
    x_ = nullptr;
  }

 private:
  std::vector<DenseStage> stages_;
  int64_t input_width_;
  std::vector<std::vector<float>> acts_;
  std::vector<float> da_even_, da_odd_;
  std::vector<const float *> kernels_;
  const float *x_ = nullptr;
  int64_t n_ = 0;
  Gemm gemm_;

  static __mmask16 Lanes(int64_t left) { return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1); }

  // row = row + bias, then relu when asked: x > 0 ? x : 0 (so -0 gives +0), and a NaN stays NaN as
  // in tfjs's relu, so that a step that overflowed reaches the non-finite check and is skipped.
  __attribute__((target("avx512f"))) static void BiasRelu(float *row, const float *bias, int64_t units, bool relu) {
    for (int64_t j = 0; j < units; j += 16) {
      const __mmask16 k = Lanes(units - j);
      __m512 z = _mm512_maskz_loadu_ps(k, row + j);
      if (bias != nullptr) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(k, bias + j));
      if (relu) z = _mm512_mask_mov_ps(_mm512_max_ps(z, _mm512_setzero_ps()), _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q), z);
      _mm512_mask_storeu_ps(row + j, k, z);
    }
  }

  // out[j] = sum over rows i = 0..n-1, in that order, of dz[i][j] (BiasAdd's gradient).
  __attribute__((target("avx512f"))) static void ColumnSums(const float *dz, int64_t n, int64_t units, float *out) {
    for (int64_t j = 0; j < units; j += 16) {
      const __mmask16 k = Lanes(units - j);
      __m512 acc = _mm512_setzero_ps();
      for (int64_t i = 0; i < n; i++) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(k, dz + i * units + j));
      _mm512_mask_storeu_ps(out + j, k, acc);
    }
  }

  static void Activate(const std::string &a, float *row, int64_t units) {
    if (a == "relu") {
      for (int64_t j = 0; j < units; j++) row[j] = row[j] > 0.f || row[j] != row[j] ? row[j] : 0.f;  // NaN stays NaN
    } else if (a == "sigmoid") {
      for (int64_t j = 0; j < units; j++) row[j] = 1.f / (1.f + std::exp(-row[j]));
    } else if (a == "tanh") {
      for (int64_t j = 0; j < units; j++) row[j] = std::tanh(row[j]);
    } else if (a == "softmax") {
      float max = row[0];
      for (int64_t j = 1; j < units; j++) max = std::max(max, row[j]);
      float sum = 0.f;
      for (int64_t j = 0; j < units; j++) sum += (row[j] = std::exp(row[j] - max));
      for (int64_t j = 0; j < units; j++) row[j] = row[j] / sum;
    }
  }

  // da becomes dL/dz of a hidden stage whose output is `out` (tfjs's formulas: relu's mask is out > 0).
  __attribute__((target("avx512f"))) static void ActivationGrad(const std::string &a, const float *out, float *da, int64_t count) {
    if (a == "relu") {
      // da where out > 0, NaN where out is NaN (tfjs's relu gradient passes it on), else 0.
      for (int64_t i = 0; i < count; i += 16) {
        const __mmask16 k = Lanes(count - i);
        const __m512 o = _mm512_maskz_loadu_ps(k, out + i);
        const __mmask16 pos = _mm512_mask_cmp_ps_mask(k, o, _mm512_setzero_ps(), _CMP_GT_OQ);
        const __m512 g = _mm512_mask_mov_ps(_mm512_maskz_loadu_ps(pos, da + i), _mm512_mask_cmp_ps_mask(k, o, o, _CMP_UNORD_Q), o);
        _mm512_mask_storeu_ps(da + i, k, g);
      }
    } else if (a == "sigmoid") {
      for (int64_t i = 0; i < count; i++) da[i] = da[i] * (out[i] * (1.f - out[i]));
    } else if (a == "tanh") {
      for (int64_t i = 0; i < count; i++) da[i] = da[i] * (1.f - out[i] * out[i]);
    }
  }
};

}  // namespace threadfit
