#include "napi_util.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

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

// ---- the addon's threads ------------------------------------------------------------------------
//
// Why not napi_create_async_work: it runs on libuv's pool, which is process-wide, has 4 threads by
// default and cannot be resized from an ESM program (the loader has started it before user code
// runs). threadfit keeps one collective per worker thread in flight; with more of them than pool
// threads, host A may run rings {0..3} while host B runs {4..7} and nothing progresses until the
// timeout; and every fs call of the process would queue behind the collectives.
//
// Instead: a process-wide pool that never queues. A task is queued only when an idle thread is
// waiting for it; otherwise a new thread starts. Threads that stay idle for kIdleExit end. Ops on
// one group are still serialized by the group's opMutex; ops on different groups run at once.
// The threads are detached and the pool is never destroyed (like the registries): a thread still
// blocked in gloo when the process exits touches only heap memory that is never freed, no static
// destructor joins or frees anything it uses, and exit() does not wait for it. Per environment,
// EnvTeardown below waits for the ops whose memory dies with that environment.

namespace {

constexpr auto kIdleExit = std::chrono::seconds(30);

class Pool {
 public:
  static Pool& Get() {
    static auto* pool = new Pool();  // never destroyed: see above
    return *pool;
  }

  // Runs `task` (which must not throw) on an idle thread or a new one. Throws std::system_error
  // when no thread can be started.
  void Submit(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
    if (queue_.size() <= idle_) {
      cv_.notify_one();
      return;
    }
    try {
      std::thread([this] { Loop(); }).detach();
    } catch (...) {
      queue_.pop_back();
      throw;
    }
  }

 private:
  void Loop() {
    pthread_setname_np(pthread_self(), "threadfit-gloo");
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        idle_++;  // counted while waiting: Submit queues a task only for a waiting thread
        bool got = cv_.wait_for(lock, kIdleExit, [this] { return !queue_.empty(); });
        idle_--;
        if (!got) return;
      }
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // its captures die outside the lock
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;  // threads inside wait_for
};

// Per Node environment (main thread, each worker thread): how many ops in flight use memory that
// dies with the environment's heap (plain ArrayBuffers). Its teardown hook waits for them.
struct EnvState {
  std::mutex mu;
  std::condition_variable cv;
  size_t pinned = 0;
};

// One op in flight. Owned jointly by its native thread and by its threadsafe function (tsfn),
// whose finalizer runs on the JS thread after the result was delivered, or at the environment's
// teardown; whichever lets go last deletes it.
struct Job {
  std::unique_ptr<AsyncOp> op;
  std::shared_ptr<EnvState> env;
  bool pinsEnv = false;
  napi_threadsafe_function tsfn = nullptr;
  std::mutex mu;
  bool tsfnGone = false;  // set by the finalizer: from then on the tsfn may be freed memory
  std::atomic<int> owners{2};
};

void LetGo(Job* job) {
  if (--job->owners == 0) delete job;  // AsyncOp's refs and deferred: deleted by CallJs, or by the env
}

void Execute(AsyncOp& op) {
  try {
    op.run();
  } catch (const std::exception& e) {
    op.failed = true;
    op.error = op.what + " failed: " + e.what();
  } catch (...) {
    op.failed = true;
    op.error = op.what + " failed: unknown C++ exception";
  }
}

// After `run` (on the op's thread, or on the JS thread when no thread could start): the memory is
// no longer used; hand the result to the JS thread unless its environment is gone.
void Finish(Job* job) {
  if (job->pinsEnv) {
    std::lock_guard<std::mutex> lock(job->env->mu);
    job->env->pinned--;
    job->env->cv.notify_all();
  }
  {
    // Held across the call: the finalizer (which precedes the tsfn's deletion) waits for it.
    std::lock_guard<std::mutex> lock(job->mu);
    if (!job->tsfnGone) {
      // Non-blocking, unbounded queue: napi_ok, or napi_closing when the environment is being torn
      // down (the call then drops this thread's use of the tsfn itself, and nothing is delivered).
      // Any other status (an allocation failure) delivers nothing either: release, so that the
      // tsfn does not keep the event loop alive for ever.
      if (napi_call_threadsafe_function(job->tsfn, job, napi_tsfn_nonblocking) != napi_closing) {
        napi_release_threadsafe_function(job->tsfn, napi_tsfn_release);
      }
    }
  }
  LetGo(job);
}

// On the JS thread: settle the promise, release the arrays.
void Settle(napi_env env, AsyncOp& op) {
  try {
    napi_value value = nullptr;
    if (!op.failed) {
      try {
        value = op.result ? op.result(env) : Undefined(env);
      } catch (const std::exception& e) {
        op.failed = true;
        op.error = op.what + " failed: " + e.what();
      }
    }
    if (op.failed) {
      napi_reject_deferred(env, op.deferred, MakeError(env, kCommCode, op.error));
    } else {
      napi_resolve_deferred(env, op.deferred, value);
    }
  } catch (...) {
    // Nothing sensible left to do (the environment is going away); never throw into Node.
  }
  for (auto ref : op.refs) napi_delete_reference(env, ref);
  op.refs.clear();
}

// The tsfn's call_js. `env` is null when the tsfn is torn down with the job still queued: the job
// may already be deleted then, so it is not touched (the env frees the refs and the deferred).
void CallJs(napi_env env, napi_value /*js_callback*/, void* /*context*/, void* data) {
  if (env == nullptr || data == nullptr) return;
  Settle(env, *static_cast<Job*>(data)->op);
}

// The tsfn's finalizer: after the last delivery, or at the environment's teardown.
void FinalizeTsfn(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* job = static_cast<Job*>(data);
  {
    std::lock_guard<std::mutex> lock(job->mu);
    job->tsfnGone = true;
  }
  LetGo(job);
}

// Whether `v`'s memory dies with this environment's heap: a typed array on a plain ArrayBuffer
// (napi_is_arraybuffer is false for a SharedArrayBuffer, and so for a shared WebAssembly.Memory).
bool DiesWithEnv(napi_env env, napi_value v) {
  bool typed = false;
  if (napi_is_typedarray(env, v, &typed) != napi_ok || !typed) return true;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, v, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok) return true;
  bool plain = true;
  if (napi_is_arraybuffer(env, buffer, &plain) != napi_ok) return true;
  return plain;
}

// Runs before Node-API frees this environment's references and before its heap goes: ops on plain
// ArrayBuffers are waited for (each ends at its timeout); the others run on, detached from it.
void EnvTeardown(void* arg) {
  auto* state = static_cast<EnvState*>(arg);
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [state] { return state->pinned == 0; });
}

std::shared_ptr<EnvState> StateOf(napi_env env) {
  void* data = nullptr;
  NAPI_CHECK(env, napi_get_instance_data(env, &data));
  if (data == nullptr) throw NapiFailure("comm-gloo: this environment was not initialized");
  return *static_cast<std::shared_ptr<EnvState>*>(data);
}

}  // namespace

void InitEnv(napi_env env) {
  auto* holder = new std::shared_ptr<EnvState>(std::make_shared<EnvState>());
  // The holder lives until Node-API destroys the environment (after every cleanup hook); ops in
  // flight hold their own reference to the state.
  napi_status s = napi_set_instance_data(
      env, holder, [](napi_env, void* data, void*) { delete static_cast<std::shared_ptr<EnvState>*>(data); }, nullptr);
  if (s != napi_ok) {
    delete holder;
    Check(env, s, "napi_set_instance_data");
  }
  NAPI_CHECK(env, napi_add_env_cleanup_hook(env, EnvTeardown, holder->get()));
}

napi_value StartAsync(napi_env env, std::unique_ptr<AsyncOp> op) {
  auto state = StateOf(env);
  napi_value promise, name;
  NAPI_CHECK(env, napi_create_promise(env, &op->deferred, &promise));
  bool pins = false;
  for (auto v : op->keepAlive) {
    pins = pins || DiesWithEnv(env, v);
    napi_ref ref;
    NAPI_CHECK(env, napi_create_reference(env, v, 1, &ref));
    op->refs.push_back(ref);
  }
  op->keepAlive.clear();
  NAPI_CHECK(env, napi_create_string_utf8(env, "threadfit:comm-gloo", NAPI_AUTO_LENGTH, &name));

  auto job = std::make_unique<Job>();
  job->op = std::move(op);
  job->env = state;
  job->pinsEnv = pins;
  // One tsfn per op: referenced (it keeps the event loop alive while the op is in flight, as async
  // work did), one thread using it, an unbounded queue.
  NAPI_CHECK(env, napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, job.get(), FinalizeTsfn, nullptr, CallJs, &job->tsfn));
  Job* raw = job.release();  // owned by the op's thread and the tsfn from here on
  if (pins) {
    std::lock_guard<std::mutex> lock(state->mu);
    state->pinned++;
  }
  try {
    Pool::Get().Submit([raw] {
      Execute(*raw->op);
      Finish(raw);
    });
  } catch (const std::exception& e) {
    raw->op->failed = true;
    raw->op->error = raw->op->what + " failed: could not start a thread: " + e.what();
    Finish(raw);  // delivered through the tsfn like any result (calling it from the JS thread is fine)
  }
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
