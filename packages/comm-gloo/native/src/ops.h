// The exported functions (bodies registered by addon.cc through Export()).
#pragma once

#include <node_api.h>

#include "registry.h"

namespace commgloo {

StoreSpec ParseStoreSpec(napi_env env, napi_value v);

// store_ops.cc
napi_value StoreOpen(napi_env env, napi_callback_info info);
napi_value StoreSet(napi_env env, napi_callback_info info);
napi_value StoreGet(napi_env env, napi_callback_info info);
napi_value StoreWait(napi_env env, napi_callback_info info);
napi_value StoreCheck(napi_env env, napi_callback_info info);
napi_value StoreClose(napi_env env, napi_callback_info info);

// group_ops.cc
napi_value CreateGroup(napi_env env, napi_callback_info info);
napi_value GroupInfo(napi_env env, napi_callback_info info);
napi_value CloseGroup(napi_env env, napi_callback_info info);

// collectives.cc
napi_value Allreduce(napi_env env, napi_callback_info info);
napi_value ReduceScatter(napi_env env, napi_callback_info info);
napi_value Allgather(napi_env env, napi_callback_info info);
napi_value Broadcast(napi_env env, napi_callback_info info);
napi_value Barrier(napi_env env, napi_callback_info info);

}  // namespace commgloo
