{
  # A probe, not part of the product (issue 20's second route): tfjs-node's kernels recorded for
  # one step, replayed as one TF graph run. Built by trace-graph.mjs (node-gyp, -Dtf_deps=...).
  "variables": { "tf_deps%": "" },
  "targets": [
    {
      "target_name": "trace_graph",
      "sources": ["src/trace_graph.cc"],
      "include_dirs": ["<(tf_deps)/include"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["<(tf_deps)/lib/libtensorflow_cc.so.2", "<(tf_deps)/lib/libtensorflow_framework.so.2", "-Wl,-rpath,<(tf_deps)/lib"]
    }
  ]
}
