{
  # The native step's addon (src/graph_step.cc), built by scripts/setup-tensorflow.mjs against the
  # libtensorflow it stages for tfjs-node: node-gyp rebuild -- -Dtf_deps=<tfjs-node>/deps.
  # Kept out of the package root so that npm never runs node-gyp on its own.
  "variables": { "tf_deps%": "" },
  "targets": [
    {
      "target_name": "graph_step",
      "sources": ["src/graph_step.cc"],
      "include_dirs": ["<(tf_deps)/include"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-unused-parameter"],
      "libraries": [
        "<(tf_deps)/lib/libtensorflow_cc.so.2",
        "<(tf_deps)/lib/libtensorflow_framework.so.2",
        "-Wl,-rpath,<(tf_deps)/lib"
      ]
    }
  ]
}
