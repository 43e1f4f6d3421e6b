{
  "targets": [
    {
      "target_name": "kindling_native",
      "sources": ["src/addon.cc", "src/bpf_session.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../bpf"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
