// createGroup / groupInfo / closeGroup: a gloo TCP context, fully connected through a store.
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include "napi_util.h"
#include "ops.h"

namespace commgloo {

// createGroup({rank, size, store, prefix, iface? | hostname?, timeoutMs}) -> Promise<handle>
napi_value CreateGroup(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  napi_value o = a.at(0);
  if (TypeOf(env, o) != napi_object) throw ArgError("createGroup needs an options object");
  int size = static_cast<int>(ToInt(env, Get(env, o, "size"), "size", 1, 65536));
  int rank = static_cast<int>(ToInt(env, Get(env, o, "rank"), "rank", 0, size - 1));
  StoreSpec spec = ParseStoreSpec(env, Get(env, o, "store"));
  std::string prefix = ToString(env, Get(env, o, "prefix"), "prefix");
  if (prefix.empty()) throw ArgError("prefix must be a non-empty string");
  Millis timeout(ToInt(env, Get(env, o, "timeoutMs"), "timeoutMs", 1, INT32_MAX));
  gloo::transport::tcp::attr attr;
  bool hasIface = Has(env, o, "iface"), hasHost = Has(env, o, "hostname");
  if (hasIface == hasHost) throw ArgError("createGroup needs exactly one of iface or hostname (the address to advertise)");
  if (hasIface) attr.iface = ToString(env, Get(env, o, "iface"), "iface");
  if (hasHost) attr.hostname = ToString(env, Get(env, o, "hostname"), "hostname");
  std::string bind = hasIface ? "iface " + attr.iface : "address " + attr.hostname;

  auto group = std::make_shared<Group>();
  group->rank = rank;
  group->size = size;
  group->label = prefix;
  group->timeout = timeout;
  auto id = std::make_shared<uint32_t>(0);
  auto op = std::make_unique<AsyncOp>();
  op->what = group->describe("createGroup") + " via " + spec.describe() + " on " + bind;
  op->run = [group, spec, attr, id]() {
    // The store's `get` and `wait` honour the group's timeout (rendezvous of a missing rank).
    auto store = OpenStore(spec, group->label, group->timeout);
    auto device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(group->rank, group->size);
    context->setTimeout(group->timeout);
    context->connectFullMesh(*store, device);
    group->context = context;
    *id = AddGroup(group);
  };
  op->result = [id](napi_env e) {
    napi_value v;
    NAPI_CHECK(e, napi_create_uint32(e, *id, &v));
    return v;
  };
  return StartAsync(env, std::move(op));
}

// groupInfo(handle) -> {rank, size, prefix, timeoutMs}; throws when the handle is not open.
napi_value GroupInfo(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  napi_value obj, rank, size, prefix, timeout;
  NAPI_CHECK(env, napi_create_object(env, &obj));
  NAPI_CHECK(env, napi_create_int32(env, g->rank, &rank));
  NAPI_CHECK(env, napi_create_int32(env, g->size, &size));
  NAPI_CHECK(env, napi_create_string_utf8(env, g->label.c_str(), g->label.size(), &prefix));
  NAPI_CHECK(env, napi_create_double(env, static_cast<double>(g->timeout.count()), &timeout));
  NAPI_CHECK(env, napi_set_named_property(env, obj, "rank", rank));
  NAPI_CHECK(env, napi_set_named_property(env, obj, "size", size));
  NAPI_CHECK(env, napi_set_named_property(env, obj, "prefix", prefix));
  NAPI_CHECK(env, napi_set_named_property(env, obj, "timeoutMs", timeout));
  return obj;
}

// closeGroup(handle) -> boolean (false when already closed). The connections close when the last
// collective in flight on it (if any) has finished.
napi_value CloseGroup(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  napi_value v;
  NAPI_CHECK(env, napi_get_boolean(env, RemoveGroup(ToHandle(env, a.at(0), "group handle")), &v));
  return v;
}

}  // namespace commgloo
