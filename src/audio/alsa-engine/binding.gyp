{
  "targets": [
    {
      "target_name": "alsa_engine",
      "sources": ["engine.c", "addon.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "include_dirs": [
        "<!@((pkg-config --cflags-only-I alsa 2>/dev/null || true) | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs alsa 2>/dev/null || echo -lasound)",
        "-lpthread"
      ]
    }
  ]
}
