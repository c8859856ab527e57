"""Build llama.cpp once, portably, for llama-cpp-python and `llama-server` alike.

`python -m llmserver.llama_build` (run by `make install` and the Docker image build)
compiles the llama.cpp tree that the pinned llama-cpp-python release vendors, with one CMake
build, and puts the shared libraries and `llama-server` into the `llama_cpp` package's
`lib/` folder, where llama-cpp-python loads them from (`pip` installs it with
`LLAMA_BUILD=OFF`, so llama.cpp is never compiled twice). After building, a smoke check
generates one short completion in a child process, so a library that cannot run on this CPU
stops the install with a message instead of killing the server on its first request.

`flags.py` says how it is built and why; `source.py` fetches and patches the source,
`cmake.py` runs CMake, `smoke.py` is the check. This module says where the build is
installed, for the engine that runs it. The package needs only the standard library and
`llmserver.crash` and `llmserver.names`, so that the image's build stage copies it alone.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from llmserver.llama_build.flags import PACKAGE

INFO_FILE = "BUILD-INFO.json"


class BuildError(SystemExit):
    """Stops `make install` with a message for a person, not a traceback."""


def lib_dir() -> Path:
    """The `llama_cpp` package's `lib/` folder, found without importing the package (which
    would try to load the libraries this package builds)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"{PACKAGE} is not installed in {sys.prefix}; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def server_binary(directory: Path | None = None) -> Path:
    return (directory or lib_dir()) / "llama-server"


def installed_build(directory: Path) -> dict[str, object] | None:
    try:
        return json.loads((directory / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
