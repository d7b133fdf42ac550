cmd_Release/obj.target/trace_graph/src/trace_graph.o := g++ -o Release/obj.target/trace_graph/src/trace_graph.o ../src/trace_graph.cc '-DNODE_GYP_MODULE_NAME=trace_graph' '-DUSING_UV_SHARED=1' '-DUSING_V8_SHARED=1' '-DV8_DEPRECATION_WARNINGS=1' '-D_GLIBCXX_USE_CXX11_ABI=1' '-D_FILE_OFFSET_BITS=64' '-D_LARGEFILE_SOURCE' '-D__STDC_FORMAT_MACROS' '-DOPENSSL_NO_PINSHARED' '-DOPENSSL_THREADS' '-DNAPI_VERSION=8' '-DBUILDING_NODE_EXTENSION' -I/usr/include/node -I/usr/src -I/usr/deps/openssl/config -I/usr/deps/openssl/openssl/include -I/usr/deps/uv/include -I/usr/deps/zlib -I/usr/deps/v8/include -I/work/main/node_modules/@tensorflow/tfjs-node/deps/include  -fPIC -pthread -Wall -Wextra -Wno-unused-parameter -m64 -O3 -fno-omit-frame-pointer -fno-rtti -fno-exceptions -std=c++17 -O2 -Wall -Wno-unused-parameter -MMD -MF ./Release/.deps/Release/obj.target/trace_graph/src/trace_graph.o.d.raw   -c
Release/obj.target/trace_graph/src/trace_graph.o: ../src/trace_graph.cc \
 /usr/include/node/node_api.h /usr/include/node/js_native_api.h \
 /usr/include/node/js_native_api_types.h \
 /usr/include/node/node_api_types.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/c_api.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/c_api_macros.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_attrtype.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_buffer.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_datatype.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_status.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/c/tsl_status.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_tensor.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_tstring.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/core/platform/ctstring.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/platform/ctstring.h \
 /work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/platform/ctstring_internal.h
../src/trace_graph.cc:
/usr/include/node/node_api.h:
/usr/include/node/js_native_api.h:
/usr/include/node/js_native_api_types.h:
/usr/include/node/node_api_types.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/c_api.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/c_api_macros.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_attrtype.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_buffer.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_datatype.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_status.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/c/tsl_status.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_tensor.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/c/tf_tstring.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tensorflow/core/platform/ctstring.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/platform/ctstring.h:
/work/main/node_modules/@tensorflow/tfjs-node/deps/include/tsl/platform/ctstring_internal.h:
