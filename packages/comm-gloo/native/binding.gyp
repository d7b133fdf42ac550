{
  # Built by scripts/setup-gloo.mjs (npm's bundled node-gyp, --nodedir: no header download).
  # Kept out of the package root so that npm never runs node-gyp on its own.
  "targets": [
    {
      "target_name": "comm_gloo",
      "sources": [
        "src/addon.cc",
        "src/napi_util.cc",
        "src/registry.cc",
        "src/store_ops.cc",
        "src/group_ops.cc",
        "src/collectives.cc"
      ],
      "include_dirs": ["/usr/include/hiredis"],
      "defines": ["NAPI_VERSION=8", "HIREDIS_NESTED_INCLUDE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lgloo", "-lhiredis", "-lpthread"]
    }
  ]
}
