// Entry point. Context-aware (NAPI_MODULE_INIT): every worker thread that loads the addon gets its
// own exports object over the same process-global registries (registry.cc), so a group created in
// one thread is usable by handle from any other.
#include <node_api.h>

#include "napi_util.h"
#include "ops.h"

NAPI_MODULE_INIT() {
  using namespace commgloo;
  try {
    InitEnv(env);
    Export(env, exports, "createGroup", CreateGroup);
    Export(env, exports, "groupInfo", GroupInfo);
    Export(env, exports, "closeGroup", CloseGroup);
    Export(env, exports, "allreduce", Allreduce);
    Export(env, exports, "reduceScatter", ReduceScatter);
    Export(env, exports, "allgather", Allgather);
    Export(env, exports, "broadcast", Broadcast);
    Export(env, exports, "barrier", Barrier);
    Export(env, exports, "storeOpen", StoreOpen);
    Export(env, exports, "storeSet", StoreSet);
    Export(env, exports, "storeGet", StoreGet);
    Export(env, exports, "storeWait", StoreWait);
    Export(env, exports, "storeCheck", StoreCheck);
    Export(env, exports, "storeClose", StoreClose);
  } catch (const std::exception& e) {
    napi_throw_error(env, kCommCode, e.what());
    return nullptr;
  }
  return exports;
}
