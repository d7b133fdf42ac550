// The native step of a Dense chain on the tensorflow backend (issue 20): the forward pass as ONE
// TF_SessionRun, the backward pass as another, on a graph built once per worker with the TF C
// API (the libtensorflow that scripts/setup-tensorflow.mjs stages for tfjs-node). The loss and
// its gradient at the output stay in JavaScript (output-loss.ts), as on the dense fast path, so
// every loss and metric it supports is supported here; between the two runs the forward's
// activations stay in TF tensors (fed back to the backward run, never copied to JS).
//
// Inputs are TF tensors over the caller's memory (the gathered rows, the committed weights in
// shared memory, the output gradient): no copies in. The gradients are copied once, into the
// caller's gradient slot. Each worker owns its session, with its own thread pools
// (ConfigProto.use_per_session_threads): without them every session runs its kernels on the one
// process-wide intra-op pool and two workers serialize (docs/PERFORMANCE.md).
//
// JS API (one object per worker):
//   const step = binding.createDenseStep(stages, inputWidth)   stages: [{ units, bias, activation }]
//   const p = binding.forward(step, x, n, weights)             x: Float32Array [n, inputWidth];
//                                                              weights: Float32Array per variable
//                                                              (kernel, then bias, per stage);
//                                                              returns the output [n, units] (a copy)
//   binding.backward(step, dz, grads)                          dz: Float32Array [n, units] (dL/dz of
//                                                              the output); grads: Float32Array per
//                                                              variable, written in place
#include <node_api.h>
#include <tensorflow/c/c_api.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "napi_util.h"

namespace threadfit {
void RegisterTracedGraph(napi_env env, napi_value exports);  // traced_graph.cc
}

namespace threadfit {
namespace {

#define NAPI_CALL THREADFIT_NAPI_CALL
using Stage = DenseStage;

struct DenseStep {
  TF_Graph *graph = nullptr;
  TF_Session *session = nullptr;
  std::vector<Stage> stages;
  int64_t input_width = 0;
  // Forward: feeds x, then kernel[, bias] per stage; fetches every stage's activation.
  std::vector<TF_Output> fwd_feeds, fwd_fetches;
  // Backward: feeds x, the hidden activations, the kernels, dz; fetches every variable's gradient.
  std::vector<TF_Output> bwd_feeds, bwd_fetches;
  // The last forward run: its inputs' shape and its activations (owned, fed to the backward run).
  int64_t n = 0;
  const float *x = nullptr;
  std::vector<const float *> weights;
  std::vector<TF_Tensor *> acts;
  ~DenseStep() {
    ReleaseActs();
    TF_Status *s = TF_NewStatus();
    if (session != nullptr) {
      TF_CloseSession(session, s);
      TF_DeleteSession(session, s);
    }
    TF_DeleteStatus(s);
    if (graph != nullptr) TF_DeleteGraph(graph);
  }
  void ReleaseActs() {
    for (TF_Tensor *t : acts) TF_DeleteTensor(t);
    acts.clear();
  }
};

// ---- graph building ---------------------------------------------------------------------------

struct Builder {
  TF_Graph *g;
  TF_Status *s;
  int count = 0;
  std::string error;

  std::string Name(const char *type) { return std::string(type) + "_" + std::to_string(count++); }
  bool Ok(const char *what) {
    if (TF_GetCode(s) == TF_OK) return true;
    if (error.empty()) error = std::string(what) + ": " + TF_Message(s);
    return false;
  }
  TF_Output Out(TF_Operation *op) { return TF_Output{op, 0}; }
  TF_Output Placeholder(const char *name, std::vector<int64_t> dims) {
    TF_OperationDescription *d = TF_NewOperation(g, "Placeholder", name);
    TF_SetAttrType(d, "dtype", TF_FLOAT);
    TF_SetAttrShape(d, "shape", dims.data(), static_cast<int>(dims.size()));
    TF_Operation *op = TF_FinishOperation(d, s);
    Ok(name);
    return Out(op);
  }
  TF_Output Op(const char *type, std::vector<TF_Output> in, bool ta = false, bool tb = false, bool matmul = false) {
    std::string name = Name(type);
    TF_OperationDescription *d = TF_NewOperation(g, type, name.c_str());
    for (const TF_Output &i : in) TF_AddInput(d, i);
    if (matmul) {
      TF_SetAttrBool(d, "transpose_a", ta);
      TF_SetAttrBool(d, "transpose_b", tb);
    }
    TF_Operation *op = TF_FinishOperation(d, s);
    Ok(type);
    return Out(op);
  }
  TF_Output MatMul(TF_Output a, TF_Output b, bool ta, bool tb) { return Op("MatMul", {a, b}, ta, tb, true); }
  TF_Output IntConst(int v) {
    TF_Tensor *t = TF_AllocateTensor(TF_INT32, nullptr, 0, sizeof(int));
    *static_cast<int *>(TF_TensorData(t)) = v;
    std::string name = Name("Const");
    TF_OperationDescription *d = TF_NewOperation(g, "Const", name.c_str());
    TF_SetAttrTensor(d, "value", t, s);
    TF_SetAttrType(d, "dtype", TF_INT32);
    TF_Operation *op = TF_FinishOperation(d, s);
    TF_DeleteTensor(t);
    Ok("Const");
    return Out(op);
  }
  TF_Output Activate(const std::string &a, TF_Output z) {
    if (a == "relu") return Op("Relu", {z});
    if (a == "sigmoid") return Op("Sigmoid", {z});
    if (a == "tanh") return Op("Tanh", {z});
    if (a == "softmax") return Op("Softmax", {z});
    return z;  // linear
  }
  // dL/dz of a hidden layer from dL/da and its output a (tfjs's formulas: relu's mask is a > 0).
  TF_Output ActivationGrad(const std::string &a, TF_Output out, TF_Output da) {
    if (a == "relu") return Op("ReluGrad", {da, out});
    if (a == "sigmoid") return Op("SigmoidGrad", {out, da});
    if (a == "tanh") return Op("TanhGrad", {out, da});
    return da;  // linear
  }
};

std::string Build(DenseStep *st) {
  TF_Status *status = TF_NewStatus();
  Builder b{TF_NewGraph(), status, 0, ""};
  st->graph = b.g;
  TF_Output x = b.Placeholder("x", {-1, st->input_width});
  std::vector<TF_Output> kernels, biases, acts, act_feeds;
  TF_Output a = x;
  st->fwd_feeds.push_back(x);
  for (size_t l = 0; l < st->stages.size(); l++) {
    const Stage &s = st->stages[l];
    TF_Output k = b.Placeholder(("kernel_" + std::to_string(l)).c_str(), {s.in, s.units});
    kernels.push_back(k);
    st->fwd_feeds.push_back(k);
    TF_Output z = b.MatMul(a, k, false, false);
    if (s.bias) {
      TF_Output bias = b.Placeholder(("bias_" + std::to_string(l)).c_str(), {s.units});
      biases.push_back(bias);
      st->fwd_feeds.push_back(bias);
      z = b.Op("BiasAdd", {z, bias});
    } else {
      biases.push_back(TF_Output{nullptr, 0});
    }
    a = b.Activate(s.activation, z);
    acts.push_back(a);
    st->fwd_fetches.push_back(a);
  }
  // The backward graph reads the hidden activations as placeholders (fed with the forward run's
  // tensors), so it never recomputes the forward.
  TF_Output dz = b.Placeholder("dz", {-1, st->stages.back().units});
  st->bwd_feeds.push_back(x);
  for (size_t l = 0; l + 1 < st->stages.size(); l++) {
    TF_Output p = b.Placeholder(("act_" + std::to_string(l)).c_str(), {-1, st->stages[l].units});
    act_feeds.push_back(p);
    st->bwd_feeds.push_back(p);
  }
  for (TF_Output k : kernels) st->bwd_feeds.push_back(k);
  st->bwd_feeds.push_back(dz);
  std::vector<TF_Output> grads;  // per stage: kernel grad, then bias grad
  std::vector<std::vector<TF_Output>> per_stage(st->stages.size());
  for (int l = static_cast<int>(st->stages.size()) - 1; l >= 0; l--) {
    TF_Output input = l == 0 ? x : act_feeds[l - 1];
    per_stage[l].push_back(b.MatMul(input, dz, true, false));
    if (st->stages[l].bias) per_stage[l].push_back(b.Op("Sum", {dz, b.IntConst(0)}));
    if (l == 0) break;
    TF_Output da = b.MatMul(dz, kernels[l], false, true);
    dz = b.ActivationGrad(st->stages[l - 1].activation, act_feeds[l - 1], da);
  }
  for (auto &g : per_stage)
    for (TF_Output o : g) st->bwd_fetches.push_back(o);
  std::string error = b.error;
  if (error.empty()) {
    TF_SessionOptions *opts = TF_NewSessionOptions();
    // intra_op_parallelism_threads: 1, inter_op_parallelism_threads: 1, use_per_session_threads: true
    static const unsigned char config[] = {0x10, 0x01, 0x28, 0x01, 0x48, 0x01};
    TF_SetConfig(opts, config, sizeof config, status);
    if (TF_GetCode(status) == TF_OK) st->session = TF_NewSession(st->graph, opts, status);
    if (TF_GetCode(status) != TF_OK) error = std::string("session: ") + TF_Message(status);
    TF_DeleteSessionOptions(opts);
  }
  TF_DeleteStatus(status);
  return error;
}

// ---- N-API ------------------------------------------------------------------------------------

void Noop(void *, size_t, void *) {}

TF_Tensor *View(const float *data, std::vector<int64_t> dims) {
  size_t count = 1;
  for (int64_t d : dims) count *= static_cast<size_t>(d);
  return TF_NewTensor(TF_FLOAT, dims.data(), static_cast<int>(dims.size()), const_cast<float *>(data), count * sizeof(float), Noop, nullptr);
}


napi_value CreateDenseStep(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 2) return Throw(env, "createDenseStep(stages, inputWidth)");
  auto st = std::make_unique<DenseStep>();
  int64_t width = 0;
  if (napi_get_value_int64(env, argv[1], &width) != napi_ok || width <= 0) return Throw(env, "createDenseStep(stages, inputWidth)");
  st->input_width = width;
  std::string parsed = ParseStages(env, argv[0], width, &st->stages);
  if (!parsed.empty()) return Throw(env, "createDenseStep: " + parsed);
  std::string error = Build(st.get());
  if (!error.empty()) return Throw(env, "building the step's graph failed: " + error);
  return WrapExternal(env, std::move(st));
}

napi_value Forward(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  DenseStep *st = argc == 4 ? UnwrapExternal<DenseStep>(env, argv[0]) : nullptr;
  if (st == nullptr) return Throw(env, "forward(step, x, n, weights)");
  float *x;
  int64_t n = 0;
  if (!Rows(env, argv[1], argv[2], st->input_width, &x, &n)) return Throw(env, "forward: x must be a Float32Array of n x inputWidth floats");
  // Feeds: x, then kernel[, bias] per stage (the weights' order).
  std::vector<float *> weights;
  if (!WeightViews(env, argv[3], st->stages, &weights)) return Throw(env, "forward: weights must be one Float32Array per variable, of the variable's size");
  std::vector<TF_Tensor *> feeds{View(x, {n, st->input_width})};
  st->weights.assign(weights.begin(), weights.end());
  size_t w = 0;
  for (const Stage &s : st->stages) {
    feeds.push_back(View(weights[w++], {s.in, s.units}));
    if (s.bias) feeds.push_back(View(weights[w++], {s.units}));
  }
  st->ReleaseActs();
  st->acts.assign(st->fwd_fetches.size(), nullptr);
  TF_Status *status = TF_NewStatus();
  TF_SessionRun(st->session, nullptr, st->fwd_feeds.data(), feeds.data(), static_cast<int>(feeds.size()), st->fwd_fetches.data(), st->acts.data(),
                static_cast<int>(st->acts.size()), nullptr, 0, nullptr, status);
  for (TF_Tensor *t : feeds) TF_DeleteTensor(t);
  if (TF_GetCode(status) != TF_OK) {
    std::string m = TF_Message(status);
    TF_DeleteStatus(status);
    st->acts.clear();
    return Throw(env, "forward run failed: " + m);
  }
  TF_DeleteStatus(status);
  st->n = n;
  st->x = x;
  TF_Tensor *last = st->acts.back();
  return CopyOut(env, static_cast<const float *>(TF_TensorData(last)), TF_TensorByteSize(last) / sizeof(float));
}

napi_value Backward(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  DenseStep *st = argc == 3 ? UnwrapExternal<DenseStep>(env, argv[0]) : nullptr;
  if (st == nullptr || st->acts.empty()) return Throw(env, "backward(step, dz, grads) after forward");
  float *dz;
  size_t dzlen;
  const Stage &last = st->stages.back();
  if (!Floats(env, argv[1], &dz, &dzlen) || static_cast<int64_t>(dzlen) < st->n * last.units) return Throw(env, "backward: dz must be n x units floats");
  // Feeds: x, the hidden activations (the forward's own tensors), the kernels, dz.
  std::vector<TF_Tensor *> owned{View(st->x, {st->n, st->input_width})};
  std::vector<TF_Tensor *> feeds{owned[0]};
  for (size_t l = 0; l + 1 < st->stages.size(); l++) feeds.push_back(st->acts[l]);
  size_t w = 0;
  for (const Stage &s : st->stages) {
    owned.push_back(View(st->weights[w], {s.in, s.units}));
    feeds.push_back(owned.back());
    w += s.bias ? 2 : 1;
  }
  owned.push_back(View(dz, {st->n, last.units}));
  feeds.push_back(owned.back());
  std::vector<TF_Tensor *> grads(st->bwd_fetches.size(), nullptr);
  TF_Status *status = TF_NewStatus();
  TF_SessionRun(st->session, nullptr, st->bwd_feeds.data(), feeds.data(), static_cast<int>(feeds.size()), st->bwd_fetches.data(), grads.data(),
                static_cast<int>(grads.size()), nullptr, 0, nullptr, status);
  for (TF_Tensor *t : owned) TF_DeleteTensor(t);
  st->ReleaseActs();
  if (TF_GetCode(status) != TF_OK) {
    std::string m = TF_Message(status);
    TF_DeleteStatus(status);
    return Throw(env, "backward run failed: " + m);
  }
  TF_DeleteStatus(status);
  std::vector<float *> outs;
  std::string error;
  if (!WeightViews(env, argv[2], st->stages, &outs)) error = "backward: grads must be one Float32Array per variable, of the variable's size";
  for (size_t i = 0; i < grads.size(); i++) {
    if (error.empty()) std::memcpy(outs[i], TF_TensorData(grads[i]), TF_TensorByteSize(grads[i]));
    TF_DeleteTensor(grads[i]);
  }
  if (!error.empty()) return Throw(env, error);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"createDenseStep", nullptr, CreateDenseStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"forward", nullptr, Forward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"backward", nullptr, Backward, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  RegisterTracedGraph(env, exports);
  return exports;
}

}  // namespace
}  // namespace threadfit

NAPI_MODULE_INIT() { return threadfit::Init(env, exports); }
