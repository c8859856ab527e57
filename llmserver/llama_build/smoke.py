"""The smoke check: one short generation in a child process, and `llama-server --version`,
so that a build that cannot run on this CPU stops the install rather than the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llmserver.crash import describe_exit
from llmserver.llama_build import INFO_FILE, BuildError, installed_build, server_binary

SMOKE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=128, n_batch=64, verbose=False)
out = llm("The capital of France is", max_tokens=2, temperature=0)
print(repr(out["choices"][0]["text"]))
"""


def smoke(model: Path, directory: Path) -> None:
    """One short generation in a child process, and `llama-server --version`."""
    checks = [
        ("a 2-token generation with llama-cpp-python", [sys.executable, "-c", SMOKE, str(model)]),
        ("llama-server --version", [str(server_binary(directory)), "--version"]),
    ]
    for what, command in checks:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            flags = json.dumps(installed_build(directory) or {}, indent=2)
            raise BuildError(
                f"{result.stdout}{result.stderr[-3000:]}\n"
                f"llama.cpp smoke check FAILED: {what} {describe_exit(result.returncode)}.\n"
                "The inference engine built here cannot run on this CPU (or this machine "
                "stops it), so the model server would die on its first request.\n"
                f"How it was built ({directory / INFO_FILE}):\n{flags}\n"
                "Set LLAMA_CMAKE_ARGS to change the build, e.g.\n"
                "  LLAMA_CMAKE_ARGS='-DGGML_CPU_ALL_VARIANTS=OFF -DGGML_AVX2=OFF' make install\n"
                "and see docs/engine.md. The kernel log (dmesg) names the faulting instruction."
            )
    print("llama.cpp: smoke check passed (a short generation ran in a child process).")
