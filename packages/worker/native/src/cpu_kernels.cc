// threadfit's own CPU kernels (issue 20), an addon that needs no TensorFlow:
//   - the native step of a Dense chain on an AVX-512 GEMM (dense_step.h), the same JS API as
//     graph_step.cc's TF graph, which stays the path on CPUs without AVX-512;
//   - the fused reduce + Adam of the WebAssembly kernel in AVX-512, bit for bit (adam_avx512.h).
//
// JS API:
//   avx512                                       true when the CPU has AVX-512F (else nothing here may run)
//   const step = createDenseStep(stages, inputWidth)
//   const p = forward(step, x, n, weights)       as graph_step.cc
//   backward(step, dz, grads)                    as graph_step.cc
//   reduceAdam(memory, ...wasmArgs)              memory: a Uint8Array over the whole shared state
//                                                memory; then the WebAssembly kernel's arguments
//                                                (byte offsets, range, hyper-parameters); returns
//                                                the non-finite count
#include <node_api.h>

#include <memory>

#include "adam_avx512.h"
#include "dense_step.h"
#include "napi_util.h"

namespace threadfit {
namespace {

napi_value CreateDenseStep(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  THREADFIT_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int64_t width = 0;
  if (argc < 2 || napi_get_value_int64(env, argv[1], &width) != napi_ok || width <= 0) return Throw(env, "createDenseStep(stages, inputWidth)");
  std::vector<DenseStage> stages;
  std::string error = ParseStages(env, argv[0], width, &stages);
  if (!error.empty()) return Throw(env, "createDenseStep: " + error);
  return WrapExternal(env, std::make_unique<DenseKernelStep>(std::move(stages), width));
}

napi_value Forward(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  THREADFIT_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  DenseKernelStep *st = argc == 4 ? UnwrapExternal<DenseKernelStep>(env, argv[0]) : nullptr;
  if (st == nullptr) return Throw(env, "forward(step, x, n, weights)");
  float *x;
  int64_t n = 0;
  if (!Rows(env, argv[1], argv[2], st->input_width(), &x, &n)) return Throw(env, "forward: x must be a Float32Array of n x inputWidth floats");
  std::vector<float *> weights;
  if (!WeightViews(env, argv[3], st->stages(), &weights)) return Throw(env, "forward: weights must be one Float32Array per variable, of the variable's size");
  const float *out = st->Forward(x, n, std::vector<const float *>(weights.begin(), weights.end()));
  return CopyOut(env, out, static_cast<size_t>(n * st->stages().back().units));
}

napi_value Backward(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  THREADFIT_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  DenseKernelStep *st = argc == 3 ? UnwrapExternal<DenseKernelStep>(env, argv[0]) : nullptr;
  if (st == nullptr || !st->has_forward()) return Throw(env, "backward(step, dz, grads) after forward");
  float *dz;
  size_t dzlen;
  if (!Floats(env, argv[1], &dz, &dzlen) || static_cast<int64_t>(dzlen) < st->rows() * st->stages().back().units) {
    return Throw(env, "backward: dz must be n x units floats");
  }
  std::vector<float *> grads;
  if (!WeightViews(env, argv[2], st->stages(), &grads)) return Throw(env, "backward: grads must be one Float32Array per variable, of the variable's size");
  st->Backward(dz, grads);
  return nullptr;
}

napi_value ReduceAdam(napi_env env, napi_callback_info info) {
  // memory, then the WebAssembly kernel's 20 arguments (kernels.ts reduceAdam).
  constexpr size_t kArgs = 21;
  size_t argc = kArgs;
  napi_value argv[kArgs];
  THREADFIT_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  bool is = false;
  napi_typedarray_type type;
  size_t length;
  void *raw;
  napi_value buffer;
  size_t offset;
  if (argc != kArgs || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &raw, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    return Throw(env, "reduceAdam(memory: Uint8Array, gradBase, slotStride, slots, slotWeights, pIn, pOut, mIn, mOut, vIn, vOut, start, end, lr, beta1, beta2, 1-beta1, 1-beta2, eps, 1-accBeta1, 1-accBeta2)");
  }
  double v[kArgs - 1];
  for (size_t i = 1; i < kArgs; i++) THREADFIT_NAPI_CALL(env, napi_get_value_double(env, argv[i], &v[i - 1]));
  uint8_t *base = static_cast<uint8_t *>(raw);
  auto at = [&](double byte_offset) { return base + static_cast<int64_t>(byte_offset); };
  AdamArgs a;
  a.grad_base = at(v[0]);
  a.slot_stride = static_cast<int64_t>(v[1]);
  a.slots = static_cast<int>(v[2]);
  a.slot_weights = reinterpret_cast<const float *>(at(v[3]));
  a.p_in = reinterpret_cast<const float *>(at(v[4]));
  a.p_out = reinterpret_cast<float *>(at(v[5]));
  a.m_in = reinterpret_cast<const float *>(at(v[6]));
  a.m_out = reinterpret_cast<float *>(at(v[7]));
  a.v_in = reinterpret_cast<const float *>(at(v[8]));
  a.v_out = reinterpret_cast<float *>(at(v[9]));
  a.start = static_cast<int64_t>(v[10]);
  a.end = static_cast<int64_t>(v[11]);
  // The kernel's f32 parameters: the JS numbers rounded once to float32, as the WebAssembly call does.
  a.lr = static_cast<float>(v[12]);
  a.beta1 = static_cast<float>(v[13]);
  a.beta2 = static_cast<float>(v[14]);
  a.one_minus_beta1 = static_cast<float>(v[15]);
  a.one_minus_beta2 = static_cast<float>(v[16]);
  a.eps = static_cast<float>(v[17]);
  a.one_minus_acc_beta1 = static_cast<float>(v[18]);
  a.one_minus_acc_beta2 = static_cast<float>(v[19]);
  // Every region must lie inside the memory: a wrong offset is a bug, never a silent overrun.
  const int64_t bytes = (a.end - a.start) * 4, first = a.start * 4;
  const double regions[] = {v[4], v[5], v[6], v[7], v[8], v[9]};
  bool inside = a.slots >= 1 && v[1] >= 0 && a.start >= 0 && a.end >= a.start && v[0] >= 0 && v[0] + (a.slots - 1) * v[1] + a.end * 4.0 <= length &&
                v[3] >= 0 && v[3] + a.slots * 4.0 <= length;
  for (double r : regions) inside = inside && r >= 0 && r + first + bytes <= length;
  if (!inside) return Throw(env, "reduceAdam: a region lies outside the memory");
  napi_value out;
  THREADFIT_NAPI_CALL(env, napi_create_int64(env, ReduceAdamAvx512(a), &out));
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value avx512;
  __builtin_cpu_init();
  THREADFIT_NAPI_CALL(env, napi_get_boolean(env, __builtin_cpu_supports("avx512f"), &avx512));
  napi_property_descriptor props[] = {
      {"avx512", nullptr, nullptr, nullptr, nullptr, avx512, napi_enumerable, nullptr},
      {"createDenseStep", nullptr, CreateDenseStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"forward", nullptr, Forward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"backward", nullptr, Backward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceAdam", nullptr, ReduceAdam, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  THREADFIT_NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

}  // namespace
}  // namespace threadfit

NAPI_MODULE_INIT() { return threadfit::Init(env, exports); }
