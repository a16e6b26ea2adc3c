{
  "targets": [
    {
      "target_name": "troupe",
      "sources": [
        "native/addon.cc",
        "native/napi/args.cc",
        "native/napi/engine_wrap.cc",
        "native/napi/manual_core_wrap.cc",
        "native/napi/sealer_wrap.cc",
        "native/wire.cc",
        "native/reliability.cc",
        "native/reliability_send.cc",
        "native/reliability_receive.cc",
        "native/reliability_stability.cc",
        "native/transport_udp.cc",
        "native/transport_multicast.cc",
        "native/transport_unicast.cc",
        "native/inject.cc",
        "native/engine.cc",
        "native/engine_sink.cc",
        "native/assembly.cc",
        "native/seal.cc",
        "native/checksum.cc",
        "native/subject_filter.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fexceptions", "-O2"],
      "cflags_cc!": ["-fexceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags": ["-O3"]
    }
  ]
}
