"""`python -m llmserver.llama_build [--smoke GGUF]`: build llama.cpp when the installed
build is not this version's with these flags, install it into llama-cpp-python's `lib/`, and
optionally run the smoke check."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
from pathlib import Path

from llmserver.llama_build import INFO_FILE, installed_build, lib_dir
from llmserver.llama_build.cmake import cmake_build
from llmserver.llama_build.flags import (
    CMAKE_FLAGS,
    PACKAGE,
    TARGETS,
    X86_VARIANTS,
    build_id,
    extra_cmake_args,
)
from llmserver.llama_build.smoke import smoke
from llmserver.llama_build.source import fetch_source, limit_variants


def build(version: str, work: Path, target_dir: Path, jobs: int) -> None:
    source = fetch_source(version, work)
    limit_variants(source)
    log = work / "llama.cpp-build.log"
    print(f"llama.cpp: building {PACKAGE} {version}'s llama.cpp with {jobs} jobs "
          f"(portable; about 15 minutes on 2 cores the first time). Log: {log}", flush=True)
    built = cmake_build(source, work / f"llama.cpp-{version}-build",
                        {**CMAKE_FLAGS, "GGML_BACKEND_DIR": str(target_dir)}, TARGETS, jobs, log)
    install(built, target_dir, version)


def install(built: Path, target_dir: Path, version: str) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    for old in target_dir.iterdir():
        if old.name.startswith(("lib", "llama-server")):
            old.unlink()
    names = []
    for item in sorted(built.iterdir()):
        if ".so" in item.name or item.name == "llama-server":
            # Copies keep symlinks (libllama.so -> libllama.so.0 -> ...) as links.
            shutil.copy2(item, target_dir / item.name, follow_symlinks=False)
            names.append(item.name)
    (target_dir / INFO_FILE).write_text(
        json.dumps(
            {
                "version": version,
                "build_id": build_id(version),
                "cmake_flags": {**CMAKE_FLAGS, "GGML_BACKEND_DIR": str(target_dir)},
                "extra_cmake_args": extra_cmake_args(),
                "x86_variants": list(X86_VARIANTS),
                "files": names,
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llmserver.llama_build",
        description="Build llama.cpp portably for llama-cpp-python and llama-server.",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("build"),
                        help="where the source and the CMake build tree go (default: build/)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--smoke", type=Path, metavar="GGUF",
                        help="after building, check that this model generates in a child process")
    args = parser.parse_args(argv)

    version = importlib.metadata.version(PACKAGE)
    target_dir = lib_dir()
    info = installed_build(target_dir)
    if args.force or not info or info.get("build_id") != build_id(version):
        build(version, args.work_dir.resolve(), target_dir, args.jobs)
    else:
        print(f"llama.cpp: {PACKAGE} {version}'s llama.cpp is built ({target_dir}).")
    if args.smoke:
        smoke(args.smoke, target_dir)


if __name__ == "__main__":
    main()
