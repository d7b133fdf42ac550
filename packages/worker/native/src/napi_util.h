// N-API helpers shared by the native step's two addons (graph_step.cc, cpu_kernels.cc).
#pragma once
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dense_step.h"

namespace threadfit {

#define THREADFIT_NAPI_CALL(env, call)                                \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error((env), nullptr, "N-API call failed: " #call); \
      return nullptr;                                                 \
    }                                                                 \
  } while (0)

inline napi_value Throw(napi_env env, const std::string &message) {
  napi_throw_error(env, "ERR_THREADFIT_NATIVE_STEP", message.c_str());
  return nullptr;
}

// A Float32Array's data and length (false for anything else).
inline bool Floats(napi_env env, napi_value v, float **data, size_t *length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *raw;
  if (napi_get_typedarray_info(env, v, &type, length, &raw, &buffer, &offset) != napi_ok || type != napi_float32_array) return false;
  *data = static_cast<float *>(raw);
  return true;
}

inline napi_value GetProp(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  return napi_get_named_property(env, obj, key, &v) == napi_ok ? v : nullptr;
}

// createDenseStep's stages argument: [{ units, bias, activation }] from an input of `width`.
inline std::string ParseStages(napi_env env, napi_value array, int64_t width, std::vector<DenseStage> *out) {
  uint32_t count = 0;
  if (napi_get_array_length(env, array, &count) != napi_ok || count == 0) return "stages must be a non-empty array";
  int64_t in = width;
  for (uint32_t i = 0; i < count; i++) {
    napi_value s;
    DenseStage stage;
    stage.in = in;
    char buf[32];
    size_t len = 0;
    if (napi_get_element(env, array, i, &s) != napi_ok || napi_get_value_int64(env, GetProp(env, s, "units"), &stage.units) != napi_ok ||
        napi_get_value_bool(env, GetProp(env, s, "bias"), &stage.bias) != napi_ok ||
        napi_get_value_string_utf8(env, GetProp(env, s, "activation"), buf, sizeof buf, &len) != napi_ok) {
      return "stage " + std::to_string(i) + " must be { units: number, bias: boolean, activation: string }";
    }
    stage.activation.assign(buf, len);
    if (stage.units < 1) return "stage " + std::to_string(i) + ": units must be at least 1";
    if (!KnownActivation(stage.activation)) return "stage " + std::to_string(i) + ": unknown activation '" + stage.activation + "'";
    in = stage.units;
    out->push_back(stage);
  }
  return "";
}

// The weights argument of forward: one Float32Array per variable (kernel, then bias, per stage),
// each of the variable's size.
inline bool WeightViews(napi_env env, napi_value array, const std::vector<DenseStage> &stages, std::vector<float *> *out) {
  uint32_t count = 0;
  if (napi_get_array_length(env, array, &count) != napi_ok) return false;
  uint32_t k = 0;
  for (const DenseStage &s : stages) {
    for (int part = 0; part < (s.bias ? 2 : 1); part++) {
      napi_value w;
      float *data;
      size_t len;
      if (k >= count || napi_get_element(env, array, k++, &w) != napi_ok || !Floats(env, w, &data, &len) ||
          len != static_cast<size_t>(part == 0 ? s.in * s.units : s.units)) {
        return false;
      }
      out->push_back(data);
    }
  }
  return k == count;
}

// A JS external owning `object` (deleted when the external is collected).
template <typename T>
napi_value WrapExternal(napi_env env, std::unique_ptr<T> object) {
  napi_value out;
  THREADFIT_NAPI_CALL(env, napi_create_external(env, object.get(), [](napi_env, void *data, void *) { delete static_cast<T *>(data); }, nullptr, &out));
  object.release();
  return out;
}

template <typename T>
T *UnwrapExternal(napi_env env, napi_value v) {
  void *data = nullptr;
  return napi_get_value_external(env, v, &data) == napi_ok ? static_cast<T *>(data) : nullptr;
}

// forward's (x, n): n > 0 rows of `width` floats.
inline bool Rows(napi_env env, napi_value xv, napi_value nv, int64_t width, float **x, int64_t *n) {
  size_t length = 0;
  return Floats(env, xv, x, &length) && napi_get_value_int64(env, nv, n) == napi_ok && *n > 0 && static_cast<int64_t>(length) >= *n * width;
}

// A Float32Array holding a copy of `count` floats.
inline napi_value CopyOut(napi_env env, const float *data, size_t count) {
  void *copy;
  napi_value ab, out;
  THREADFIT_NAPI_CALL(env, napi_create_arraybuffer(env, count * sizeof(float), &copy, &ab));
  std::memcpy(copy, data, count * sizeof(float));
  THREADFIT_NAPI_CALL(env, napi_create_typedarray(env, napi_float32_array, count, ab, 0, &out));
  return out;
}

}  // namespace threadfit
