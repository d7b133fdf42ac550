// The traced graph step (issue 20's second route): one TF graph built from a record of the
// tfjs-node kernels one training step ran (worker/src/traced-step.ts records them), run as one
// TF_SessionRun per step. Part of the graph_step addon (exported by graph_step.cc's Init).
//
//   const g = buildTracedGraph({ ops, consts, placeholders, fetches })
//     ops:          [{ name, attrs: tfjs-node's op attrs, inputs: [id], outputs: [id] }] in order
//     consts:       [{ id, dtype (TF_DataType), shape, data: TypedArray (raw bytes of the values) }]
//     placeholders: [{ id, dtype, shape }]
//     fetches:      [id]
//   const outs = runTracedGraph(g, feeds)   feeds: one TypedArray per placeholder; returns a Float32Array or
//                                Int32Array per fetch (a copy)
#include <node_api.h>
#include <tensorflow/c/c_api.h>

#include "napi_util.h"

#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace threadfit {
namespace {

struct Graph {
  TF_Graph *graph = TF_NewGraph();
  TF_Session *session = nullptr;
  std::vector<TF_Output> feeds, fetches;
  std::vector<std::vector<int64_t>> feed_shapes;
  std::vector<TF_DataType> feed_types;
  ~Graph() {
    TF_Status *s = TF_NewStatus();
    if (session != nullptr) {
      TF_CloseSession(session, s);
      TF_DeleteSession(session, s);
    }
    TF_DeleteStatus(s);
    TF_DeleteGraph(graph);
  }
};

napi_value Prop(napi_env env, napi_value o, const char *k) {
  napi_value v = nullptr;
  napi_get_named_property(env, o, k, &v);
  return v;
}
int64_t Int(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}
double Num(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}
std::string Str(napi_env env, napi_value v) {
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}
uint32_t Len(napi_env env, napi_value a) {
  uint32_t n = 0;
  napi_get_array_length(env, a, &n);
  return n;
}
napi_value At(napi_env env, napi_value a, uint32_t i) {
  napi_value v = nullptr;
  napi_get_element(env, a, i, &v);
  return v;
}
bool IsArray(napi_env env, napi_value v) {
  bool is = false;
  napi_is_array(env, v, &is);
  return is;
}
std::vector<int64_t> Ints(napi_env env, napi_value a) {
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < Len(env, a); i++) out.push_back(Int(env, At(env, a, i)));
  return out;
}
bool Bytes(napi_env env, napi_value v, void **data, size_t *bytes) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value buffer;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &buffer, &offset) != napi_ok) return false;
  size_t size = type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                : type == napi_int16_array || type == napi_uint16_array                                ? 2
                : type == napi_int8_array || type == napi_uint8_array || type == napi_uint8_clamped_array ? 1
                                                                                                            : 4;
  *bytes = length * size;
  return true;
}

// OpDef's input args: for each, its type_attr, number_attr and type_list_attr ("" when none). A
// minimal protobuf reader (OpDef.input_arg = 2; ArgDef.type_attr = 4, number_attr = 5,
// type_list_attr = 6). The attrs they name are inferred from the inputs in a graph: tfjs-node
// sometimes records a T that its inputs contradict (Mean of a float cast from bool keeps T =
// bool), which eager execution tolerates and a graph refuses, so they are not set.
bool Varint(const uint8_t *&p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    uint8_t b = *p++;
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}
bool Skip(const uint8_t *&p, const uint8_t *end, uint64_t key) {
  uint64_t v;
  switch (key & 7) {
    case 0: return Varint(p, end, &v);
    case 1: p += 8; return p <= end;
    case 2: if (!Varint(p, end, &v)) return false; p += v; return p <= end;
    case 5: p += 4; return p <= end;
    default: return false;
  }
}
struct InputArg {
  std::string number_attr, type_list_attr, type_attr;
};
std::vector<InputArg> InputArgs(const uint8_t *p, const uint8_t *end) {
  std::vector<InputArg> args;
  uint64_t key, len;
  while (p < end && Varint(p, end, &key)) {
    if (key == ((2 << 3) | 2)) {
      if (!Varint(p, end, &len)) break;
      const uint8_t *q = p, *qend = p + len;
      InputArg arg;
      while (q < qend && Varint(q, qend, &key)) {
        const uint64_t field = key >> 3;
        if ((key & 7) == 2 && (field == 4 || field == 5 || field == 6)) {
          uint64_t l;
          Varint(q, qend, &l);
          std::string v(reinterpret_cast<const char *>(q), l);
          q += l;
          (field == 4 ? arg.type_attr : field == 5 ? arg.number_attr : arg.type_list_attr) = v;
        } else if (!Skip(q, qend, key)) {
          break;
        }
      }
      args.push_back(arg);
      p = qend;
    } else if (!Skip(p, end, key)) {
      break;
    }
  }
  return args;
}

std::string SetAttr(napi_env env, TF_OperationDescription *d, napi_value attr, std::map<std::string, int64_t> *ints, std::map<std::string, int64_t> *lists,
                    const std::set<std::string> &inferred) {
  std::string name = Str(env, Prop(env, attr, "name"));
  int type = static_cast<int>(Int(env, Prop(env, attr, "type")));
  napi_value v = Prop(env, attr, "value");
  bool list = IsArray(env, v);
  if (inferred.count(name) > 0) {
    if (list) (*lists)[name] = Len(env, v);
    else if (type == TF_ATTR_INT) (*ints)[name] = Int(env, v);
    return "";
  }
  switch (type) {
    case TF_ATTR_STRING: {
      std::string str = Str(env, v);
      TF_SetAttrString(d, name.c_str(), str.data(), str.size());
      break;
    }
    case TF_ATTR_INT:
      if (list) {
        std::vector<int64_t> xs = Ints(env, v);
        TF_SetAttrIntList(d, name.c_str(), xs.data(), static_cast<int>(xs.size()));
        (*lists)[name] = static_cast<int64_t>(xs.size());
      } else {
        int64_t x = Int(env, v);
        TF_SetAttrInt(d, name.c_str(), x);
        (*ints)[name] = x;
      }
      break;
    case TF_ATTR_FLOAT:
      if (list) {
        std::vector<float> xs;
        for (uint32_t i = 0; i < Len(env, v); i++) xs.push_back(static_cast<float>(Num(env, At(env, v, i))));
        TF_SetAttrFloatList(d, name.c_str(), xs.data(), static_cast<int>(xs.size()));
      } else {
        TF_SetAttrFloat(d, name.c_str(), static_cast<float>(Num(env, v)));
      }
      break;
    case TF_ATTR_BOOL:
      if (list) {
        std::vector<unsigned char> xs;
        for (uint32_t i = 0; i < Len(env, v); i++) {
          bool b = false;
          napi_get_value_bool(env, At(env, v, i), &b);
          xs.push_back(b ? 1 : 0);
        }
        TF_SetAttrBoolList(d, name.c_str(), xs.data(), static_cast<int>(xs.size()));
      } else {
        bool b = false;
        napi_get_value_bool(env, v, &b);
        TF_SetAttrBool(d, name.c_str(), b ? 1 : 0);
      }
      break;
    case TF_ATTR_TYPE:
      if (list) {
        std::vector<TF_DataType> xs;
        for (uint32_t i = 0; i < Len(env, v); i++) xs.push_back(static_cast<TF_DataType>(Int(env, At(env, v, i))));
        TF_SetAttrTypeList(d, name.c_str(), xs.data(), static_cast<int>(xs.size()));
        (*lists)[name] = static_cast<int64_t>(xs.size());
      } else {
        TF_SetAttrType(d, name.c_str(), static_cast<TF_DataType>(Int(env, v)));
      }
      break;
    case TF_ATTR_SHAPE: {
      std::vector<int64_t> dims = Ints(env, v);
      TF_SetAttrShape(d, name.c_str(), dims.data(), static_cast<int>(dims.size()));
      break;
    }
    default:
      return "attr " + name + ": type " + std::to_string(type) + " is not supported";
  }
  return "";
}


// Softmax as TensorFlow's Eigen CPU kernel computes it, one op per step of its formula: exp(x -
// max(x)) * (1 / sum(exp(x - max(x)))) along the last axis (the same bits: measured against the
// eager kernel on 30 shapes and scales). Under oneDNN the graph rewrite pass replaces a Softmax
// node with oneDNN's kernel (other bits), which eager execution does not do; the pass leaves
// these ops alone.
std::string AddEigenSoftmax(TF_Graph *graph, napi_value o, napi_env env, std::map<int64_t, TF_Output> *by_id, int *count, TF_Status *s) {
  std::vector<int64_t> inputs = Ints(env, Prop(env, o, "inputs"));
  std::vector<int64_t> outputs = Ints(env, Prop(env, o, "outputs"));
  if (inputs.size() != 1 || outputs.size() != 1 || by_id->count(inputs[0]) == 0) return "expects one known input and one output";
  auto node = [&](const char *type, std::vector<TF_Output> in, bool keep_dims, TF_Output *out) -> std::string {
    std::string name = "n" + std::to_string((*count)++);
    TF_OperationDescription *d = TF_NewOperation(graph, type, name.c_str());
    for (const TF_Output &x : in) TF_AddInput(d, x);
    if (keep_dims) TF_SetAttrBool(d, "keep_dims", 1);
    TF_Operation *op = TF_FinishOperation(d, s);
    if (TF_GetCode(s) != TF_OK) return std::string(type) + ": " + TF_Message(s);
    *out = TF_Output{op, 0};
    return "";
  };
  TF_Output axis;
  {
    std::string name = "n" + std::to_string((*count)++);
    TF_Tensor *t = TF_AllocateTensor(TF_INT32, nullptr, 0, sizeof(int32_t));
    if (t == nullptr) return "could not allocate the axis constant";
    *static_cast<int32_t *>(TF_TensorData(t)) = -1;
    TF_OperationDescription *d = TF_NewOperation(graph, "Const", name.c_str());
    TF_SetAttrTensor(d, "value", t, s);
    TF_DeleteTensor(t);
    TF_SetAttrType(d, "dtype", TF_INT32);
    if (TF_GetCode(s) != TF_OK) {
      // Finishing the description is what frees it; its own error is not the one to report.
      std::string e = TF_Message(s);
      TF_Status *ignored = TF_NewStatus();
      TF_FinishOperation(d, ignored);
      TF_DeleteStatus(ignored);
      return e;
    }
    TF_Operation *op = TF_FinishOperation(d, s);
    if (TF_GetCode(s) != TF_OK) return TF_Message(s);
    axis = TF_Output{op, 0};
  }
  TF_Output x = by_id->at(inputs[0]), max, shifted, exp, sum, inv, y;
  std::string e;
  if (!(e = node("Max", {x, axis}, true, &max)).empty() || !(e = node("Sub", {x, max}, false, &shifted)).empty() ||
      !(e = node("Exp", {shifted}, false, &exp)).empty() || !(e = node("Sum", {exp, axis}, true, &sum)).empty() ||
      !(e = node("Reciprocal", {sum}, false, &inv)).empty() || !(e = node("Mul", {exp, inv}, false, &y)).empty())
    return e;
  (*by_id)[outputs[0]] = y;
  return "";
}

napi_value Build(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value spec;
  napi_get_cb_info(env, info, &argc, &spec, nullptr, nullptr);
  auto g = std::make_unique<Graph>();
  TF_Status *s = TF_NewStatus();
  std::map<int64_t, TF_Output> by_id;
  int count = 0;
  auto fail = [&](const std::string &m) {
    TF_DeleteStatus(s);
    return Throw(env, m);
  };
  napi_value phs = Prop(env, spec, "placeholders");
  for (uint32_t i = 0; i < Len(env, phs); i++) {
    napi_value p = At(env, phs, i);
    std::vector<int64_t> shape = Ints(env, Prop(env, p, "shape"));
    TF_DataType dtype = static_cast<TF_DataType>(Int(env, Prop(env, p, "dtype")));
    std::string name = "ph" + std::to_string(i);
    TF_OperationDescription *d = TF_NewOperation(g->graph, "Placeholder", name.c_str());
    TF_SetAttrType(d, "dtype", dtype);
    TF_SetAttrShape(d, "shape", shape.data(), static_cast<int>(shape.size()));
    TF_Operation *op = TF_FinishOperation(d, s);
    if (TF_GetCode(s) != TF_OK) return fail(std::string("placeholder: ") + TF_Message(s));
    by_id[Int(env, Prop(env, p, "id"))] = TF_Output{op, 0};
    g->feeds.push_back(TF_Output{op, 0});
    g->feed_shapes.push_back(shape);
    g->feed_types.push_back(dtype);
  }
  napi_value consts = Prop(env, spec, "consts");
  for (uint32_t i = 0; i < Len(env, consts); i++) {
    napi_value c = At(env, consts, i);
    std::vector<int64_t> shape = Ints(env, Prop(env, c, "shape"));
    TF_DataType dtype = static_cast<TF_DataType>(Int(env, Prop(env, c, "dtype")));
    void *data;
    size_t bytes;
    if (!Bytes(env, Prop(env, c, "data"), &data, &bytes)) return fail("const " + std::to_string(i) + ": data must be a TypedArray");
    TF_Tensor *t = TF_AllocateTensor(dtype, shape.data(), static_cast<int>(shape.size()), bytes);
    if (t != nullptr && TF_TensorByteSize(t) != bytes) {
      TF_DeleteTensor(t);
      t = nullptr;
    }
    if (t == nullptr) return fail("const " + std::to_string(i) + ": " + std::to_string(bytes) + " bytes do not fit its shape and dtype");
    std::memcpy(TF_TensorData(t), data, bytes);
    std::string name = "c" + std::to_string(i);
    TF_OperationDescription *d = TF_NewOperation(g->graph, "Const", name.c_str());
    TF_SetAttrTensor(d, "value", t, s);  // copies the value
    TF_DeleteTensor(t);
    if (TF_GetCode(s) != TF_OK) return fail(std::string("const: ") + TF_Message(s));
    TF_SetAttrType(d, "dtype", dtype);
    TF_Operation *op = TF_FinishOperation(d, s);
    if (TF_GetCode(s) != TF_OK) return fail(std::string("const: ") + TF_Message(s));
    by_id[Int(env, Prop(env, c, "id"))] = TF_Output{op, 0};
  }
  napi_value ops = Prop(env, spec, "ops");
  std::map<std::string, std::vector<InputArg>> arg_cache;
  for (uint32_t i = 0; i < Len(env, ops); i++) {
    napi_value o = At(env, ops, i);
    std::string type = Str(env, Prop(env, o, "name"));
    if (type == "Softmax") {
      std::string e = AddEigenSoftmax(g->graph, o, env, &by_id, &count, s);
      if (!e.empty()) return fail("op Softmax: " + e);
      continue;
    }
    auto cached = arg_cache.find(type);
    if (cached == arg_cache.end()) {
      TF_Buffer *buf = TF_NewBuffer();
      TF_GraphGetOpDef(g->graph, type.c_str(), buf, s);
      if (TF_GetCode(s) != TF_OK) {
        TF_DeleteBuffer(buf);
        return fail("op " + type + ": " + TF_Message(s));
      }
      const uint8_t *p = static_cast<const uint8_t *>(buf->data);
      cached = arg_cache.emplace(type, InputArgs(p, p + buf->length)).first;
      TF_DeleteBuffer(buf);
    }
    std::string name = "n" + std::to_string(count++);
    TF_OperationDescription *d = TF_NewOperation(g->graph, type.c_str(), name.c_str());
    std::map<std::string, int64_t> ints, lists;
    std::set<std::string> inferred;
    for (const InputArg &arg : cached->second)
      for (const std::string *a : {&arg.type_attr, &arg.number_attr, &arg.type_list_attr})
        if (!a->empty()) inferred.insert(*a);
    napi_value attrs = Prop(env, o, "attrs");
    for (uint32_t a = 0; a < Len(env, attrs); a++) {
      std::string e = SetAttr(env, d, At(env, attrs, a), &ints, &lists, inferred);
      if (!e.empty()) return fail("op " + type + ": " + e);
    }
    std::vector<int64_t> inputs = Ints(env, Prop(env, o, "inputs"));
    size_t k = 0;
    for (const auto &arg : cached->second) {
      int64_t n = !arg.number_attr.empty() ? ints[arg.number_attr] : !arg.type_list_attr.empty() ? lists[arg.type_list_attr] : -1;
      auto input = [&](int64_t id) -> TF_Output * {
        auto it = by_id.find(id);
        return it == by_id.end() ? nullptr : &it->second;
      };
      if (n < 0) {
        if (k >= inputs.size() || input(inputs[k]) == nullptr) return fail("op " + type + ": input " + std::to_string(k) + " (tensor " + (k < inputs.size() ? std::to_string(inputs[k]) : "?") + ") is unknown");
        TF_AddInput(d, *input(inputs[k++]));
      } else {
        std::vector<TF_Output> xs;
        for (int64_t j = 0; j < n; j++, k++) {
          if (k >= inputs.size() || input(inputs[k]) == nullptr) return fail("op " + type + ": list input " + std::to_string(k) + " is unknown");
          xs.push_back(*input(inputs[k]));
        }
        TF_AddInputList(d, xs.data(), static_cast<int>(xs.size()));
      }
    }
    if (k != inputs.size()) return fail("op " + type + ": " + std::to_string(inputs.size()) + " inputs recorded, its OpDef takes " + std::to_string(k));
    TF_Operation *op = TF_FinishOperation(d, s);
    if (TF_GetCode(s) != TF_OK) return fail("op " + type + ": " + TF_Message(s));
    std::vector<int64_t> outputs = Ints(env, Prop(env, o, "outputs"));
    for (size_t j = 0; j < outputs.size(); j++) by_id[outputs[j]] = TF_Output{op, static_cast<int>(j)};
  }
  std::vector<int64_t> fetches = Ints(env, Prop(env, spec, "fetches"));
  for (int64_t id : fetches) {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail("fetch " + std::to_string(id) + " is not produced by the trace");
    // The step's results are float32 (the loss, the metric means, the gradients).
    if (TF_OperationOutputType(it->second) != TF_FLOAT) return fail("fetch " + std::to_string(id) + " is not float32");
    g->fetches.push_back(it->second);
  }
  TF_SessionOptions *opts = TF_NewSessionOptions();
  // intra_op 1, inter_op 1, use_per_session_threads, and graph_options.rewrite_options
  // .disable_meta_optimizer: without grappler the graph runs exactly the recorded kernels (the
  // eager step's bits; measured on sentiment's LSTM: 0 difference) and its first run takes 0.7 s
  // instead of 3.5 s, at the same speed afterwards (40 vs 42 ms per 128-row step).
  static const unsigned char config[] = {0x10, 0x01, 0x28, 0x01, 0x48, 0x01, 0x52, 0x05, 0x52, 0x03, 0x98, 0x01, 0x01};
  TF_SetConfig(opts, config, sizeof config, s);
  g->session = TF_NewSession(g->graph, opts, s);
  TF_DeleteSessionOptions(opts);
  if (TF_GetCode(s) != TF_OK) return fail(std::string("session: ") + TF_Message(s));
  TF_DeleteStatus(s);
  return WrapExternal(env, std::move(g));
}

void NoopFree(void *, size_t, void *) {}

napi_value Run(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Graph *g = argc == 2 ? UnwrapExternal<Graph>(env, argv[0]) : nullptr;
  if (g == nullptr) return Throw(env, "runTracedGraph(graph, feeds)");
  if (Len(env, argv[1]) != g->feeds.size()) return Throw(env, "runTracedGraph: " + std::to_string(g->feeds.size()) + " feeds expected");
  std::vector<TF_Tensor *> feeds;
  for (size_t i = 0; i < g->feeds.size(); i++) {
    void *data;
    size_t bytes;
    const auto &shape = g->feed_shapes[i];
    size_t want = TF_DataTypeSize(g->feed_types[i]);
    for (int64_t d : shape) want *= static_cast<size_t>(d);
    TF_Tensor *t = nullptr;
    // A feed must be exactly its placeholder's bytes: TF reads it in place.
    if (Bytes(env, At(env, argv[1], static_cast<uint32_t>(i)), &data, &bytes) && bytes == want) {
      t = TF_NewTensor(g->feed_types[i], shape.data(), static_cast<int>(shape.size()), data, bytes, NoopFree, nullptr);
    }
    if (t == nullptr) {
      for (TF_Tensor *f : feeds) TF_DeleteTensor(f);
      return Throw(env, "runTracedGraph: feed " + std::to_string(i) + " must be a TypedArray of " + std::to_string(want) + " bytes");
    }
    feeds.push_back(t);
  }
  std::vector<TF_Tensor *> outs(g->fetches.size(), nullptr);
  TF_Status *s = TF_NewStatus();
  TF_SessionRun(g->session, nullptr, g->feeds.data(), feeds.data(), static_cast<int>(feeds.size()), g->fetches.data(), outs.data(), static_cast<int>(outs.size()),
                nullptr, 0, nullptr, s);
  for (TF_Tensor *t : feeds) TF_DeleteTensor(t);
  if (TF_GetCode(s) != TF_OK) {
    std::string m = TF_Message(s);
    TF_DeleteStatus(s);
    return Throw(env, "run: " + m);
  }
  TF_DeleteStatus(s);
  napi_value result;
  napi_create_array_with_length(env, outs.size(), &result);
  for (size_t i = 0; i < outs.size(); i++) {
    size_t bytes = TF_TensorByteSize(outs[i]);
    void *copy;
    napi_value ab, arr;
    napi_create_arraybuffer(env, bytes, &copy, &ab);
    std::memcpy(copy, TF_TensorData(outs[i]), bytes);
    napi_create_typedarray(env, TF_TensorType(outs[i]) == TF_INT32 ? napi_int32_array : napi_float32_array, bytes / 4, ab, 0, &arr);
    napi_set_element(env, result, static_cast<uint32_t>(i), arr);
    TF_DeleteTensor(outs[i]);
  }
  return result;
}

}  // namespace

void RegisterTracedGraph(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"buildTracedGraph", nullptr, Build, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"runTracedGraph", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, props);
}

}  // namespace threadfit
