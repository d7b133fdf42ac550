// storeOpen / storeSet / storeGet / storeWait / storeCheck / storeClose: gloo's rendezvous stores
// (Redis or a shared directory) under a PrefixStore, every blocking call on one of the addon's
// threads (StartAsync).
#include <cstring>

#include "napi_util.h"
#include "ops.h"

namespace commgloo {

static const Millis kStoreDefaultTimeout{30000};

StoreSpec ParseStoreSpec(napi_env env, napi_value v) {
  if (TypeOf(env, v) != napi_object) throw ArgError("store must be {type:'redis', host, port} or {type:'file', path}");
  StoreSpec spec;
  spec.type = ToString(env, Get(env, v, "type"), "store.type");
  if (spec.type == "redis") {
    spec.host = ToString(env, Get(env, v, "host"), "store.host");
    if (spec.host.empty()) throw ArgError("store.host must not be empty");
    spec.port = static_cast<int>(ToInt(env, Get(env, v, "port"), "store.port", 1, 65535));
  } else if (spec.type == "file") {
    spec.path = ToString(env, Get(env, v, "path"), "store.path");
    if (spec.path.empty()) throw ArgError("store.path must not be empty");
  } else {
    throw ArgError("store.type must be 'redis' or 'file', got '" + spec.type + "'");
  }
  return spec;
}

static std::string ToPrefix(napi_env env, napi_value v) {
  std::string prefix = ToString(env, v, "prefix");
  if (prefix.empty()) throw ArgError("prefix must be a non-empty string");
  return prefix;
}

// storeOpen(spec, prefix) -> Promise<handle>
napi_value StoreOpen(napi_env env, napi_callback_info info) {
  Args a(env, info, 2);
  StoreSpec spec = ParseStoreSpec(env, a.at(0));
  std::string prefix = ToPrefix(env, a.at(1));
  auto op = std::make_unique<AsyncOp>();
  auto id = std::make_shared<uint32_t>(0);
  op->what = "storeOpen of " + spec.describe() + " (prefix " + prefix + ")";
  op->run = [spec, prefix, id, label = spec.describe() + " prefix " + prefix]() {
    auto entry = std::make_shared<StoreEntry>();
    entry->store = OpenStore(spec, prefix, kStoreDefaultTimeout);
    entry->label = label;
    *id = AddStore(entry);
  };
  op->result = [id](napi_env e) {
    napi_value v;
    NAPI_CHECK(e, napi_create_uint32(e, *id, &v));
    return v;
  };
  return StartAsync(env, std::move(op));
}

// storeSet(handle, key, Uint8Array | string) -> Promise<void>. Keys are write-once (gloo's stores
// refuse to overwrite: SETNX on Redis, an atomic link() on the file store, see registry.cc).
napi_value StoreSet(napi_env env, napi_callback_info info) {
  Args a(env, info, 3);
  auto entry = FindStore(ToHandle(env, a.at(0), "store handle"));
  std::string key = ToString(env, a.at(1), "key");
  std::vector<char> value;
  if (TypeOf(env, a.at(2)) == napi_string) {
    std::string s = ToString(env, a.at(2), "value");
    value.assign(s.begin(), s.end());
  } else {
    View v = ToView(env, a.at(2), "value", {napi_uint8_array});
    value.resize(v.bytes);
    if (v.bytes) std::memcpy(value.data(), v.data, v.bytes);  // copied now: the caller may reuse it
  }
  auto op = std::make_unique<AsyncOp>();
  op->what = "storeSet of key '" + key + "' in " + entry->label;
  op->run = [entry, key, value = std::move(value)]() { entry->store->set(key, value); };
  return StartAsync(env, std::move(op));
}

// storeGet(handle, key, timeoutMs) -> Promise<Uint8Array>
napi_value StoreGet(napi_env env, napi_callback_info info) {
  Args a(env, info, 3);
  auto entry = FindStore(ToHandle(env, a.at(0), "store handle"));
  std::string key = ToString(env, a.at(1), "key");
  Millis timeout(ToInt(env, a.at(2), "timeoutMs", 1, INT32_MAX));
  auto out = std::make_shared<std::vector<char>>();
  auto op = std::make_unique<AsyncOp>();
  op->what = "storeGet of key '" + key + "' in " + entry->label;
  op->run = [entry, key, timeout, out]() {
    entry->store->wait({key}, timeout);
    *out = entry->store->get(key);
  };
  op->result = [out](napi_env e) {
    napi_value ab, arr;
    void* data = nullptr;
    NAPI_CHECK(e, napi_create_arraybuffer(e, out->size(), &data, &ab));
    if (!out->empty()) std::memcpy(data, out->data(), out->size());
    NAPI_CHECK(e, napi_create_typedarray(e, napi_uint8_array, out->size(), ab, 0, &arr));
    return arr;
  };
  return StartAsync(env, std::move(op));
}

// storeWait(handle, keys, timeoutMs) -> Promise<void>
napi_value StoreWait(napi_env env, napi_callback_info info) {
  Args a(env, info, 3);
  auto entry = FindStore(ToHandle(env, a.at(0), "store handle"));
  auto keys = ToStringArray(env, a.at(1), "keys");
  Millis timeout(ToInt(env, a.at(2), "timeoutMs", 1, INT32_MAX));
  auto op = std::make_unique<AsyncOp>();
  op->what = "storeWait of " + std::to_string(keys.size()) + " key(s) in " + entry->label;
  op->run = [entry, keys, timeout]() { entry->store->wait(keys, timeout); };
  return StartAsync(env, std::move(op));
}

// storeCheck(handle, keys) -> Promise<boolean>: one EXISTS (or one stat per key), no waiting.
napi_value StoreCheck(napi_env env, napi_callback_info info) {
  Args a(env, info, 2);
  auto entry = FindStore(ToHandle(env, a.at(0), "store handle"));
  auto keys = ToStringArray(env, a.at(1), "keys");
  auto found = std::make_shared<bool>(false);
  auto op = std::make_unique<AsyncOp>();
  op->what = "storeCheck of " + std::to_string(keys.size()) + " key(s) in " + entry->label;
  op->run = [entry, keys, found]() { *found = entry->store->check(keys); };
  op->result = [found](napi_env e) {
    napi_value v;
    NAPI_CHECK(e, napi_get_boolean(e, *found, &v));
    return v;
  };
  return StartAsync(env, std::move(op));
}

// storeClose(handle) -> boolean (false when already closed). Calls in flight keep the connection
// until they finish.
napi_value StoreClose(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  napi_value v;
  NAPI_CHECK(env, napi_get_boolean(env, RemoveStore(ToHandle(env, a.at(0), "store handle")), &v));
  return v;
}

}  // namespace commgloo
