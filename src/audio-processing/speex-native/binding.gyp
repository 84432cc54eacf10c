{
  "targets": [
    {
      "target_name": "speex_addon",
      "sources": ["speex_addon.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "include_dirs": [
        "<!@((pkg-config --cflags-only-I speexdsp 2>/dev/null || true) | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs speexdsp 2>/dev/null || echo -lspeexdsp)"
      ]
    }
  ]
}
