// allreduce / reduceScatter / allgather / broadcast / barrier on a registered group. Each runs on
// one of the addon's threads (StartAsync) under the group's op mutex, on the caller's memory in place.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/transport/unbound_buffer.h>
#include <gloo/types.h>

#include <algorithm>
#include <cstring>

#include "napi_util.h"
#include "ops.h"

namespace commgloo {

// Our own slot prefix for reduceScatter (gloo's collectives use 0x01..0x08).
constexpr uint8_t kReduceScatterSlotPrefix = 0x7c;

using CollectiveBody = std::function<void(Group&, Millis)>;

// The optional last argument: a positive integer, else the group's timeout.
static Millis TimeoutArg(napi_env env, napi_value v, const Group& g) {
  if (TypeOf(env, v) == napi_undefined) return g.timeout;
  return Millis(ToInt(env, v, "timeoutMs", 1, INT32_MAX));
}

static napi_value Start(napi_env env, std::shared_ptr<Group> g, const std::string& opName, std::vector<napi_value> keep, Millis timeout,
                        CollectiveBody body) {
  auto op = std::make_unique<AsyncOp>();
  op->what = g->describe(opName);
  op->keepAlive = std::move(keep);
  op->run = [g, timeout, body = std::move(body)]() {
    std::lock_guard<std::mutex> lock(g->opMutex);
    g->throwIfBroken();
    try {
      body(*g, timeout);
    } catch (const std::exception& e) {
      g->markBroken(e.what());
      throw;
    }
  };
  return StartAsync(env, std::move(op));
}

// allreduce(handle, Float32Array, timeoutMs?) -> Promise<void>: sum in place. gloo's ring: every
// element is reduced in one fixed order on one rank and then copied, so all ranks hold the same bits.
napi_value Allreduce(napi_env env, napi_callback_info info) {
  Args a(env, info, 3);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  View v = ToView(env, a.at(1), "data", {napi_float32_array});
  Millis timeout = TimeoutArg(env, a.at(2), *g);
  float* ptr = static_cast<float*>(v.data);
  size_t n = v.length;
  return Start(env, g, "allreduce", {v.value}, timeout, [ptr, n](Group& grp, Millis t) {
    if (n == 0 || grp.size == 1) return;
    gloo::AllreduceOptions opts(grp.context);
    opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    opts.setOutput(ptr, n);
    void (*fn)(void*, const void*, const void*, size_t) = &gloo::sum<float>;
    opts.setReduceFunction(fn);
    opts.setTimeout(t);
    gloo::allreduce(opts);
  });
}

// A ring reduce-scatter with variable chunks: at step s rank r sends chunk (r-s-1) to r+1 and adds
// chunk (r-s-2) from r-1; after size-1 steps rank r holds the full sum of chunk r (summed in the
// fixed order r+1, r+2, ..., r).
static void RingReduceScatter(Group& g, float* data, const std::vector<size_t>& counts, Millis timeout) {
  const int n = g.size, r = g.rank;
  std::vector<size_t> offset(n + 1, 0);
  for (int i = 0; i < n; i++) offset[i + 1] = offset[i] + counts[i];
  const size_t maxCount = *std::max_element(counts.begin(), counts.end());
  std::vector<float> incoming(std::max<size_t>(maxCount, 1));
  auto dataBuf = g.context->createUnboundBuffer(data, std::max<size_t>(offset[n], 1) * sizeof(float));
  auto inBuf = g.context->createUnboundBuffer(incoming.data(), incoming.size() * sizeof(float));
  const auto slot = gloo::Slot::build(kReduceScatterSlotPrefix, 0);
  const int right = (r + 1) % n, left = (r - 1 + n) % n;
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  for (int s = 0; s < n - 1; s++) {
    const int send = mod(r - s - 1), recv = mod(r - s - 2);
    if (counts[send] > 0) dataBuf->send(right, slot, offset[send] * sizeof(float), counts[send] * sizeof(float));
    if (counts[recv] > 0) {
      inBuf->recv(left, slot, 0, counts[recv] * sizeof(float));
      inBuf->waitRecv(timeout);
      gloo::sum<float>(data + offset[recv], incoming.data(), counts[recv]);
    }
    if (counts[send] > 0) dataBuf->waitSend(timeout);
  }
}

// reduceScatter(handle, Float32Array, recvCounts, timeoutMs?) -> Promise<void>: rank r's
// segment (offset sum(recvCounts[0..r-1]), length recvCounts[r]) ends up holding the sum; the
// other segments hold partial sums.
napi_value ReduceScatter(napi_env env, napi_callback_info info) {
  Args a(env, info, 4);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  View v = ToView(env, a.at(1), "data", {napi_float32_array});
  auto raw = ToIntArray(env, a.at(2), "recvCounts");
  Millis timeout = TimeoutArg(env, a.at(3), *g);
  if (raw.size() != static_cast<size_t>(g->size)) {
    throw ArgError("recvCounts must have one entry per rank (" + std::to_string(g->size) + "), got " + std::to_string(raw.size()));
  }
  std::vector<size_t> counts(raw.begin(), raw.end());
  size_t total = 0;
  for (auto c : counts) total += c;
  if (total != v.length) throw ArgError("recvCounts must add up to data.length (" + std::to_string(v.length) + "), got " + std::to_string(total));
  float* ptr = static_cast<float*>(v.data);
  return Start(env, g, "reduceScatter", {v.value}, timeout, [ptr, counts](Group& grp, Millis t) {
    if (grp.size > 1) RingReduceScatter(grp, ptr, counts, t);
  });
}

// allgather(handle, input, output, timeoutMs?) -> Promise<void>: output = the ranks' inputs in
// rank order; output.length must be size x input.length, same element type.
napi_value Allgather(napi_env env, napi_callback_info info) {
  Args a(env, info, 4);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  View in = ToView(env, a.at(1), "input", {napi_float32_array, napi_int32_array, napi_uint8_array});
  View out = ToView(env, a.at(2), "output", {napi_float32_array, napi_int32_array, napi_uint8_array});
  Millis timeout = TimeoutArg(env, a.at(3), *g);
  if (in.type != out.type) throw ArgError(std::string("input and output must have the same type, got ") + TypeName(in.type) + " and " + TypeName(out.type));
  if (out.length != in.length * g->size) {
    throw ArgError("output.length must be size x input.length = " + std::to_string(in.length * g->size) + ", got " + std::to_string(out.length));
  }
  auto* src = static_cast<uint8_t*>(in.data);
  auto* dst = static_cast<uint8_t*>(out.data);
  size_t bytes = in.bytes;
  return Start(env, g, "allgather", {in.value, out.value}, timeout, [src, dst, bytes](Group& grp, Millis t) {
    if (bytes == 0) return;
    if (grp.size == 1) {
      std::memmove(dst, src, bytes);
      return;
    }
    gloo::AllgatherOptions opts(grp.context);
    opts.setInput(src, bytes);
    opts.setOutput(dst, bytes * grp.size);
    opts.setTimeout(t);
    gloo::allgather(opts);
  });
}

// broadcast(handle, array, root, timeoutMs?) -> Promise<void>: root's array into everyone's.
napi_value Broadcast(napi_env env, napi_callback_info info) {
  Args a(env, info, 4);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  View v = ToView(env, a.at(1), "data", {napi_float32_array, napi_int32_array, napi_uint8_array});
  int root = static_cast<int>(ToInt(env, a.at(2), "root", 0, g->size - 1));
  Millis timeout = TimeoutArg(env, a.at(3), *g);
  auto* ptr = static_cast<uint8_t*>(v.data);
  size_t bytes = v.bytes;
  return Start(env, g, "broadcast from rank " + std::to_string(root), {v.value}, timeout, [ptr, bytes, root](Group& grp, Millis t) {
    if (bytes == 0 || grp.size == 1) return;
    gloo::BroadcastOptions opts(grp.context);
    opts.setOutput(ptr, bytes);
    opts.setRoot(root);
    opts.setTimeout(t);
    gloo::broadcast(opts);
  });
}

// barrier(handle, timeoutMs?) -> Promise<void>
napi_value Barrier(napi_env env, napi_callback_info info) {
  Args a(env, info, 2);
  auto g = FindGroup(ToHandle(env, a.at(0), "group handle"));
  Millis timeout = TimeoutArg(env, a.at(1), *g);
  return Start(env, g, "barrier", {}, timeout, [](Group& grp, Millis t) {
    if (grp.size == 1) return;
    gloo::BarrierOptions opts(grp.context);
    opts.setTimeout(t);
    gloo::barrier(opts);
  });
}

}  // namespace commgloo
