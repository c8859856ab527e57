"""How llama.cpp is built, and why: this file is the one place that says so.

- `GGML_NATIVE=OFF`: never `-march=native`. A build tuned to the CPU it was built on
  crashes on an older one (SIGILL), and a build on a CPU with AMX executes AMX tile
  instructions that fault where the kernel or hypervisor does not enable them (seen:
  `general protection fault` at `ldtilecfg` in libggml-cpu.so).
- `GGML_BACKEND_DL=ON` + `GGML_CPU_ALL_VARIANTS=ON`: as llama.cpp's own release builds, the
  CPU code is built once per instruction-set level (`X86_VARIANTS`), each a loadable module;
  at start ggml checks the running CPU (cpuid) and loads the best variant it supports.
- No AMX variant (`sapphirerapids`): AMX is the one path that has faulted on CPUs that
  advertise it. Sapphire Rapids and later load the `icelake` variant (AVX-512 VNNI/VBMI).
- Fewer variants than upstream's fifteen: each costs about a minute of compiling on two
  cores, and the ones left out (pre-AVX2 steps, BF16 and AMX) change little for the
  quantised models served here; a CPU between two levels loads the lower one.
- `GGML_BACKEND_DIR`: the variants are looked up in the install folder, wherever the
  process that loads them (Python, `llama-server`) was started from.
- `LLAMA_CMAKE_ARGS` (environment) appends CMake flags of your own, e.g. `-DGGML_CUDA=ON`,
  or `-DGGML_CPU_ALL_VARIANTS=OFF -DGGML_NATIVE=ON` to tune knowingly for one machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex

PACKAGE = "llama-cpp-python"

# Upstream's x86 list (ggml/src/CMakeLists.txt) less AMX and the rarely decisive steps.
X86_VARIANTS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "sandybridge": ("SSE42", "AVX"),
    "haswell": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"),
    "skylakex": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512"),
    "cascadelake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI"),
    "icelake": (
        "SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
    ),
    "alderlake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX_VNNI"),
}

CMAKE_FLAGS: dict[str, str] = {
    "CMAKE_BUILD_TYPE": "Release",
    "BUILD_SHARED_LIBS": "ON",
    "GGML_NATIVE": "OFF",
    "GGML_BACKEND_DL": "ON",
    "GGML_CPU_ALL_VARIANTS": "ON",
    # Everything lands in one folder and finds its neighbours there.
    "CMAKE_BUILD_WITH_INSTALL_RPATH": "ON",
    "CMAKE_INSTALL_RPATH": "$ORIGIN",
    "LLAMA_BUILD_TESTS": "OFF",
    "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_TOOLS": "ON",
    "LLAMA_BUILD_SERVER": "ON",
    "LLAMA_BUILD_APP": "OFF",
    # llama-server's own web page is not used (the chatbot is the UI) and would be fetched.
    "LLAMA_BUILD_UI": "OFF",
    "LLAMA_USE_PREBUILT_UI": "OFF",
    "LLAMA_OPENSSL": "OFF",
}

# The server links libllama, libmtmd and libggml (whose CPU variants are its dependencies):
# one target builds all that llama-cpp-python loads too, with one progress count.
TARGETS = ("llama-server",)


def extra_cmake_args() -> list[str]:
    return shlex.split(os.environ.get("LLAMA_CMAKE_ARGS", ""))


def build_id(version: str) -> str:
    """Changes whenever the source version, a flag or the variant list does."""
    what = [version, CMAKE_FLAGS, X86_VARIANTS, TARGETS, extra_cmake_args()]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
