{
  "targets": [
    {
      "target_name": "opus_addon",
      "sources": ["opus_addon.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "include_dirs": [
        "<!@((pkg-config --cflags-only-I opus 2>/dev/null || echo -I/usr/include/opus) | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs opus 2>/dev/null || echo -lopus)"
      ]
    }
  ]
}
