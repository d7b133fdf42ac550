// Plain C Node-API helpers: argument parsing that throws C++ exceptions (turned into JS errors at
// the one boundary in Export()), and AsyncOp, which runs one blocking call on a thread the addon
// owns (never libuv's pool) and settles a Promise. No C++ exception crosses into Node: Export()
// and AsyncOp catch all.
#pragma once

#include <node_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace commgloo {

constexpr const char* kCommCode = "ERR_THREADFIT_COMM";
constexpr const char* kInvalidCode = "ERR_THREADFIT_INVALID_OPTION";

// A bad argument from JS: thrown as a TypeError with code ERR_THREADFIT_INVALID_OPTION.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A failed call that JS must see as ERR_THREADFIT_COMM (unknown handle, broken group, ...).
struct CommError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A failed N-API call (the JS exception, if any, is already pending).
struct NapiFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void Check(napi_env env, napi_status status, const char* what);
#define NAPI_CHECK(env, call) ::commgloo::Check((env), (call), #call)

// Arguments of one call.
struct Args {
  napi_env env;
  napi_value self;
  std::vector<napi_value> argv;
  Args(napi_env env, napi_callback_info info, size_t max);
  napi_value at(size_t i) const;
};

napi_valuetype TypeOf(napi_env env, napi_value v);
bool Has(napi_env env, napi_value obj, const char* key);
napi_value Get(napi_env env, napi_value obj, const char* key);
std::string ToString(napi_env env, napi_value v, const std::string& name);
double ToNumber(napi_env env, napi_value v, const std::string& name);
// An integer in [min, max], else ArgError naming `name` and the value.
int64_t ToInt(napi_env env, napi_value v, const std::string& name, int64_t min, int64_t max);
uint32_t ToHandle(napi_env env, napi_value v, const std::string& name);
std::vector<std::string> ToStringArray(napi_env env, napi_value v, const std::string& name);
std::vector<int64_t> ToIntArray(napi_env env, napi_value v, const std::string& name);

// A typed array's memory, in place (ArrayBuffer, SharedArrayBuffer or a shared
// WebAssembly.Memory's buffer alike), with the array itself to keep alive.
struct View {
  napi_value value;
  napi_typedarray_type type;
  void* data;
  size_t length;  // elements
  size_t bytes;
};
View ToView(napi_env env, napi_value v, const std::string& name, std::initializer_list<napi_typedarray_type> allowed);
const char* TypeName(napi_typedarray_type t);

napi_value MakeError(napi_env env, const char* code, const std::string& message, bool typeError = false);
napi_value Undefined(napi_env env);

// One blocking call run off the event loop; settles a Promise. `run` executes on one of the
// addon's own threads (napi_util.cc: a process-wide pool that starts a thread whenever none is
// idle, so calls in flight never queue behind each other, and that never uses libuv's pool) and
// may throw anything; `result` runs back on the calling JS thread to build the value.
//
// Memory of `keepAlive` arrays, when the calling thread (its Node environment) goes away while
// `run` is still going (worker.terminate(), process.exit() in a worker):
//  - on a SharedArrayBuffer or a shared WebAssembly.Memory, the op is not waited for: the memory
//    stays valid as long as some other thread still holds the buffer (threadfit's main thread
//    always does). A shared buffer that only the terminated thread held must not be in flight.
//  - on a plain ArrayBuffer (or a non-shared WebAssembly.Memory) the memory dies with the
//    thread's heap, and Node-API gives no way to hold its backing store: the environment's
//    teardown waits until `run` has returned (each blocking call ends at its timeout).
// The promise of an op whose environment is gone is never settled (there is no JS left to see it).
struct AsyncOp {
  std::string what;  // "allreduce on group g (rank 1 of 3)": the error message's prefix
  std::function<void()> run;
  std::function<napi_value(napi_env)> result;  // default: undefined
  std::vector<napi_value> keepAlive;           // typed arrays whose memory `run` uses in place

  // internal
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> refs;
  bool failed = false;
  std::string error;
};
napi_value StartAsync(napi_env env, std::unique_ptr<AsyncOp> op);

// Once per environment that loads the addon (NAPI_MODULE_INIT): the per-environment state and the
// teardown hook StartAsync relies on.
void InitEnv(napi_env env);

// Registers a native function whose body may throw: ArgError -> TypeError, anything else ->
// Error with code ERR_THREADFIT_COMM.
using Body = napi_value (*)(napi_env, napi_callback_info);
void Export(napi_env env, napi_value exports, const char* name, Body body);

}  // namespace commgloo
