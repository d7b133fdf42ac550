// Probe for issue 20's native step (docs/PERFORMANCE.md, "Before choosing the native step's
// route"): the seed's gradient step (forward, softmax cross-entropy, backward written out) as ONE
// TF_SessionRun on the libtensorflow 2.15 that scripts/setup-tensorflow.mjs stages for tfjs-node,
// in 1..8 threads of one process, each with its own session over its own buffers. Not part of
// threadfit yet: the measurement the route is chosen by.
//
//   D=node_modules/@tensorflow/tfjs-node/deps
//   gcc -O2 -o /tmp/tf-graph-step scripts/probes/tf-graph-step.c -I$D/include \
//       $D/lib/libtensorflow_cc.so.2 $D/lib/libtensorflow_framework.so.2 -lpthread -Wl,-rpath,$D/lib
//   PERSESSION=1 TF_CPP_MIN_LOG_LEVEL=3 /tmp/tf-graph-step THREADS ROWS
//
// PERSESSION=1 sets ConfigProto.use_per_session_threads; without it every session runs its
// kernels on the process-wide intra-op pool (1 thread here), and two sessions serialize on it.
#include <tensorflow/c/c_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(TF_Status *s, const char *what) {
  if (TF_GetCode(s) != TF_OK) { fprintf(stderr, "%s: %s\n", what, TF_Message(s)); exit(1); }
}
typedef struct { TF_Graph *g; TF_Status *s; int n; } B;
static TF_Output out(TF_Operation *op) { TF_Output o = {op, 0}; return o; }
static TF_Operation *ph(B *b, const char *name, int64_t *dims, int nd) {
  TF_OperationDescription *d = TF_NewOperation(b->g, "Placeholder", name);
  TF_SetAttrType(d, "dtype", TF_FLOAT); TF_SetAttrShape(d, "shape", dims, nd);
  TF_Operation *op = TF_FinishOperation(d, b->s); check(b->s, name); return op;
}
static char *nm(B *b, const char *t) { static char buf[64]; snprintf(buf, 64, "%s_%d", t, b->n++); return buf; }
static TF_Operation *op2(B *b, const char *type, TF_Output x, TF_Output y) {
  TF_OperationDescription *d = TF_NewOperation(b->g, type, nm(b, type));
  TF_AddInput(d, x); TF_AddInput(d, y); TF_Operation *op = TF_FinishOperation(d, b->s); check(b->s, type); return op;
}
static TF_Operation *op1(B *b, const char *type, TF_Output x) {
  TF_OperationDescription *d = TF_NewOperation(b->g, type, nm(b, type));
  TF_AddInput(d, x); TF_Operation *op = TF_FinishOperation(d, b->s); check(b->s, type); return op;
}
static TF_Operation *matmul(B *b, TF_Output x, TF_Output y, int ta, int tb) {
  TF_OperationDescription *d = TF_NewOperation(b->g, "MatMul", nm(b, "MatMul"));
  TF_AddInput(d, x); TF_AddInput(d, y); TF_SetAttrBool(d, "transpose_a", ta); TF_SetAttrBool(d, "transpose_b", tb);
  TF_Operation *op = TF_FinishOperation(d, b->s); check(b->s, "MatMul"); return op;
}
static TF_Operation *iconst(B *b, int v) {
  TF_Tensor *t = TF_AllocateTensor(TF_INT32, NULL, 0, 4); *(int *)TF_TensorData(t) = v;
  TF_OperationDescription *d = TF_NewOperation(b->g, "Const", nm(b, "Const"));
  TF_SetAttrTensor(d, "value", t, b->s); TF_SetAttrType(d, "dtype", TF_INT32);
  TF_Operation *op = TF_FinishOperation(d, b->s); check(b->s, "Const"); TF_DeleteTensor(t); return op;
}
static TF_Operation *sum0(B *b, TF_Output x, int axis) { return op2(b, "Sum", x, out(iconst(b, axis))); }

typedef struct { TF_Session *sess; TF_Output in[6]; TF_Output outs[6]; int rows; double ms; } Step;

static void build(Step *st, int rows) {
  B b = {TF_NewGraph(), TF_NewStatus(), 0};
  int64_t dx[2] = {-1, 784}, dy[2] = {-1, 10}, dw1[2] = {784, 512}, db1[1] = {512}, dw2[2] = {512, 10}, db2[1] = {10};
  TF_Operation *x = ph(&b, "x", dx, 2), *y = ph(&b, "y", dy, 2), *w1 = ph(&b, "w1", dw1, 2), *b1 = ph(&b, "b1", db1, 1),
               *w2 = ph(&b, "w2", dw2, 2), *b2 = ph(&b, "b2", db2, 1);
  TF_Operation *z1 = op2(&b, "BiasAdd", out(matmul(&b, out(x), out(w1), 0, 0)), out(b1));
  TF_Operation *h1 = op1(&b, "Relu", out(z1));
  TF_Operation *z2 = op2(&b, "BiasAdd", out(matmul(&b, out(h1), out(w2), 0, 0)), out(b2));
  TF_Operation *p = op1(&b, "Softmax", out(z2));
  // dz2 = p - y (the mean's 1/n folded in by the caller's slot weight); loss sum = -sum(y log p)
  TF_Operation *dz2 = op2(&b, "Sub", out(p), out(y));
  TF_Operation *gw2 = matmul(&b, out(h1), out(dz2), 1, 0);
  TF_Operation *gb2 = sum0(&b, out(dz2), 0);
  TF_Operation *dh1 = matmul(&b, out(dz2), out(w2), 0, 1);
  TF_Operation *dz1 = op2(&b, "ReluGrad", out(dh1), out(h1));
  TF_Operation *gw1 = matmul(&b, out(x), out(dz1), 1, 0);
  TF_Operation *gb1 = sum0(&b, out(dz1), 0);
  TF_Operation *loss = op1(&b, "Neg", out(sum0(&b, out(op2(&b, "Mul", out(y), out(op1(&b, "Log", out(p))))), 1)));
  TF_SessionOptions *so = TF_NewSessionOptions();
  unsigned char cfg[] = {0x10, 0x01, 0x28, (unsigned char)atoi(getenv("INTER") ? getenv("INTER") : "1"), 0x48, (unsigned char)atoi(getenv("PERSESSION") ? getenv("PERSESSION") : "0")};
  TF_SetConfig(so, cfg, sizeof cfg, b.s); check(b.s, "config");
  st->sess = TF_NewSession(b.g, so, b.s); check(b.s, "session");
  TF_Operation *ins[6] = {x, y, w1, b1, w2, b2}, *outs[6] = {gw1, gb1, gw2, gb2, loss, p};
  for (int i = 0; i < 6; i++) { st->in[i] = out(ins[i]); st->outs[i] = out(outs[i]); }
  st->rows = rows;
}
static void noop(void *d, size_t l, void *a) {}
static void *run(void *arg) {
  Step *st = arg; int n = st->rows;
  float *x = calloc(n * 784, 4), *y = calloc(n * 10, 4), *w1 = calloc(784 * 512, 4), *b1 = calloc(512, 4), *w2 = calloc(5120, 4), *b2 = calloc(10, 4);
  for (int i = 0; i < n * 784; i++) x[i] = (i % 13) / 13.0f;
  for (int i = 0; i < 784 * 512; i++) w1[i] = ((i * 7) % 11 - 5) / 100.0f;
  for (int i = 0; i < 5120; i++) w2[i] = ((i * 3) % 7 - 3) / 50.0f;
  for (int i = 0; i < n; i++) y[i * 10 + i % 10] = 1;
  int64_t dx[2] = {n, 784}, dy[2] = {n, 10}, dw1[2] = {784, 512}, db1[1] = {512}, dw2[2] = {512, 10}, db2[1] = {10};
  TF_Status *s = TF_NewStatus();
  struct timespec t0, t1;
  for (int it = 0; it < 420; it++) {
    if (it == 20) clock_gettime(CLOCK_MONOTONIC, &t0);
    TF_Tensor *in[6] = {TF_NewTensor(TF_FLOAT, dx, 2, x, n * 784 * 4, noop, 0), TF_NewTensor(TF_FLOAT, dy, 2, y, n * 40, noop, 0),
                        TF_NewTensor(TF_FLOAT, dw1, 2, w1, 784 * 512 * 4, noop, 0), TF_NewTensor(TF_FLOAT, db1, 1, b1, 2048, noop, 0),
                        TF_NewTensor(TF_FLOAT, dw2, 2, w2, 5120 * 4, noop, 0), TF_NewTensor(TF_FLOAT, db2, 1, b2, 40, noop, 0)};
    TF_Tensor *o[6] = {0};
    TF_SessionRun(st->sess, NULL, st->in, in, 6, st->outs, o, 5, NULL, 0, NULL, s); check(s, "run");
    for (int i = 0; i < 6; i++) TF_DeleteTensor(in[i]);
    for (int i = 0; i < 5; i++) TF_DeleteTensor(o[i]);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  st->ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 400;
  return NULL;
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]), rows = atoi(argv[2]);
  Step st[8]; pthread_t th[8];
  for (int i = 0; i < threads; i++) build(&st[i], rows);
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, run, &st[i]);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < threads; i++) printf("{\"threads\":%d,\"rows\":%d,\"thread\":%d,\"msPerStep\":%.3f,\"samplesPerSec\":%.0f}\n", threads, rows, i, st[i].ms, rows * 1000.0 / st[i].ms);
  return 0;
}
