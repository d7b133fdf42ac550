#include "napi_util.h"

#include <cmath>
#include <exception>

namespace commgloo {

void Check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  std::string msg = std::string(what) + ": " + (info && info->error_message ? info->error_message : "napi error");
  throw NapiFailure(msg);
}

Args::Args(napi_env e, napi_callback_info info, size_t max) : env(e), argv(max) {
  size_t argc = max;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv.data(), &self, nullptr));
  napi_value undef = Undefined(env);
  for (size_t i = argc; i < max; i++) argv[i] = undef;
}

napi_value Args::at(size_t i) const { return argv.at(i); }

napi_value Undefined(napi_env env) {
  napi_value v;
  NAPI_CHECK(env, napi_get_undefined(env, &v));
  return v;
}

napi_valuetype TypeOf(napi_env env, napi_value v) {
  napi_valuetype t;
  NAPI_CHECK(env, napi_typeof(env, v, &t));
  return t;
}

bool Has(napi_env env, napi_value obj, const char* key) {
  bool has = false;
  NAPI_CHECK(env, napi_has_named_property(env, obj, key, &has));
  if (!has) return false;
  return TypeOf(env, Get(env, obj, key)) != napi_undefined;
}

napi_value Get(napi_env env, napi_value obj, const char* key) {
  napi_value v;
  NAPI_CHECK(env, napi_get_named_property(env, obj, key, &v));
  return v;
}

std::string ToString(napi_env env, napi_value v, const std::string& name) {
  if (TypeOf(env, v) != napi_string) throw ArgError(name + " must be a string");
  size_t len = 0;
  NAPI_CHECK(env, napi_get_value_string_utf8(env, v, nullptr, 0, &len));
  std::string s(len, '\0');
  NAPI_CHECK(env, napi_get_value_string_utf8(env, v, s.data(), len + 1, &len));
  return s;
}

double ToNumber(napi_env env, napi_value v, const std::string& name) {
  if (TypeOf(env, v) != napi_number) throw ArgError(name + " must be a number");
  double d;
  NAPI_CHECK(env, napi_get_value_double(env, v, &d));
  return d;
}

int64_t ToInt(napi_env env, napi_value v, const std::string& name, int64_t min, int64_t max) {
  double d = ToNumber(env, v, name);
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw ArgError(name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

uint32_t ToHandle(napi_env env, napi_value v, const std::string& name) {
  return static_cast<uint32_t>(ToInt(env, v, name, 1, UINT32_MAX));
}

static std::vector<napi_value> ToArray(napi_env env, napi_value v, const std::string& name) {
  bool isArray = false;
  NAPI_CHECK(env, napi_is_array(env, v, &isArray));
  if (!isArray) throw ArgError(name + " must be an array");
  uint32_t n = 0;
  NAPI_CHECK(env, napi_get_array_length(env, v, &n));
  std::vector<napi_value> out(n);
  for (uint32_t i = 0; i < n; i++) NAPI_CHECK(env, napi_get_element(env, v, i, &out[i]));
  return out;
}

std::vector<std::string> ToStringArray(napi_env env, napi_value v, const std::string& name) {
  std::vector<std::string> out;
  auto items = ToArray(env, v, name);
  for (size_t i = 0; i < items.size(); i++) out.push_back(ToString(env, items[i], name + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> ToIntArray(napi_env env, napi_value v, const std::string& name) {
  std::vector<int64_t> out;
  auto items = ToArray(env, v, name);
  for (size_t i = 0; i < items.size(); i++) out.push_back(ToInt(env, items[i], name + "[" + std::to_string(i) + "]", 0, INT32_MAX));
  return out;
}

const char* TypeName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
  }
  return "TypedArray";
}

static size_t ElementBytes(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;
  }
}

View ToView(napi_env env, napi_value v, const std::string& name, std::initializer_list<napi_typedarray_type> allowed) {
  std::string names;
  for (auto t : allowed) names += std::string(names.empty() ? "" : " or ") + TypeName(t);
  bool isTyped = false;
  NAPI_CHECK(env, napi_is_typedarray(env, v, &isTyped));
  if (!isTyped) throw ArgError(name + " must be a " + names);
  View view{v, napi_uint8_array, nullptr, 0, 0};
  napi_value buffer;
  size_t byteOffset = 0;
  // Works alike for ArrayBuffer, SharedArrayBuffer and a shared WebAssembly.Memory's buffer: the
  // pointer is the backing store plus the view's byte offset (no copy).
  NAPI_CHECK(env, napi_get_typedarray_info(env, v, &view.type, &view.length, &view.data, &buffer, &byteOffset));
  bool ok = false;
  for (auto t : allowed) ok = ok || t == view.type;
  if (!ok) throw ArgError(name + " must be a " + names + ", got a " + TypeName(view.type));
  view.bytes = view.length * ElementBytes(view.type);
  if (view.bytes > 0 && view.data == nullptr) throw ArgError(name + " has no memory (a detached buffer?)");
  return view;
}

napi_value MakeError(napi_env env, const char* code, const std::string& message, bool typeError) {
  napi_value c, m, err;
  NAPI_CHECK(env, napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c));
  NAPI_CHECK(env, napi_create_string_utf8(env, message.c_str(), message.size(), &m));
  NAPI_CHECK(env, typeError ? napi_create_type_error(env, c, m, &err) : napi_create_error(env, c, m, &err));
  return err;
}

static void Execute(napi_env /*env*/, void* data) {
  auto* op = static_cast<AsyncOp*>(data);
  try {
    op->run();
  } catch (const std::exception& e) {
    op->failed = true;
    op->error = op->what + " failed: " + e.what();
  } catch (...) {
    op->failed = true;
    op->error = op->what + " failed: unknown C++ exception";
  }
}

static void Complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<AsyncOp> op(static_cast<AsyncOp*>(data));
  try {
    if (status == napi_cancelled && !op->failed) {
      op->failed = true;
      op->error = op->what + " failed: cancelled (the thread is shutting down)";
    }
    napi_value value = nullptr;
    if (!op->failed) {
      try {
        value = op->result ? op->result(env) : Undefined(env);
      } catch (const std::exception& e) {
        op->failed = true;
        op->error = op->what + " failed: " + e.what();
      }
    }
    if (op->failed) {
      napi_reject_deferred(env, op->deferred, MakeError(env, kCommCode, op->error));
    } else {
      napi_resolve_deferred(env, op->deferred, value);
    }
  } catch (...) {
    // Nothing sensible left to do (the environment is going away); never throw into Node.
  }
  for (auto ref : op->refs) napi_delete_reference(env, ref);
  napi_delete_async_work(env, op->work);
}

napi_value StartAsync(napi_env env, std::unique_ptr<AsyncOp> op) {
  napi_value promise, name;
  NAPI_CHECK(env, napi_create_promise(env, &op->deferred, &promise));
  for (auto v : op->keepAlive) {
    napi_ref ref;
    NAPI_CHECK(env, napi_create_reference(env, v, 1, &ref));
    op->refs.push_back(ref);
  }
  op->keepAlive.clear();
  NAPI_CHECK(env, napi_create_string_utf8(env, "threadfit:comm-gloo", NAPI_AUTO_LENGTH, &name));
  AsyncOp* raw = op.get();
  NAPI_CHECK(env, napi_create_async_work(env, nullptr, name, Execute, Complete, raw, &raw->work));
  NAPI_CHECK(env, napi_queue_async_work(env, raw->work));
  op.release();  // owned by Complete from here on
  return promise;
}

static napi_value Trampoline(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  try {
    NAPI_CHECK(env, napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data));
    return reinterpret_cast<Body>(data)(env, info);
  } catch (const NapiFailure& e) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, kCommCode, e.what());
  } catch (const ArgError& e) {
    napi_value c, m, err;
    if (napi_create_string_utf8(env, kInvalidCode, NAPI_AUTO_LENGTH, &c) == napi_ok &&
        napi_create_string_utf8(env, e.what(), NAPI_AUTO_LENGTH, &m) == napi_ok && napi_create_type_error(env, c, m, &err) == napi_ok) {
      napi_throw(env, err);
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, kCommCode, e.what());
  } catch (...) {
    napi_throw_error(env, kCommCode, "unknown C++ exception");
  }
  return nullptr;
}

void Export(napi_env env, napi_value exports, const char* name, Body body) {
  napi_value fn;
  NAPI_CHECK(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, Trampoline, reinterpret_cast<void*>(body), &fn));
  NAPI_CHECK(env, napi_set_named_property(env, exports, name, fn));
}

}  // namespace commgloo
