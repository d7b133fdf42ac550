{
  # threadfit's native step, built by scripts/setup-tensorflow.mjs: node-gyp rebuild -- -Dtf_deps=<tfjs-node>/deps.
  # Kept out of the package root so that npm never runs node-gyp on its own.
  #   graph_step:  the dense chain as TF graph runs (src/graph_step.cc), against the libtensorflow
  #                the setup stages for tfjs-node;
  #   cpu_kernels: threadfit's own AVX-512 kernels (src/cpu_kernels.cc): the dense chain on its
  #                GEMM and the fused reduce + Adam; no TensorFlow. -ffp-contract=off: the Adam
  #                kernel must round as the WebAssembly one does (no fused multiply-add).
  "variables": { "tf_deps%": "" },
  "targets": [
    {
      "target_name": "graph_step",
      "sources": ["src/graph_step.cc", "src/traced_graph.cc"],
      "include_dirs": ["<(tf_deps)/include"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-unused-parameter", "-ffp-contract=off"],
      "libraries": [
        "<(tf_deps)/lib/libtensorflow_cc.so.2",
        "<(tf_deps)/lib/libtensorflow_framework.so.2",
        "-Wl,-rpath,<(tf_deps)/lib"
      ]
    },
    {
      "target_name": "cpu_kernels",
      "sources": ["src/cpu_kernels.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      # -Wno-maybe-uninitialized: GCC 12 warns inside its own avx512fintrin.h (_mm512_undefined_ps).
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-unused-parameter", "-Wno-maybe-uninitialized", "-ffp-contract=off"]
    }
  ]
}
