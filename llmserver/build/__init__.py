"""Build llama.cpp once, portably, for llama-cpp-python and `llama-server` alike.

`python -m llmserver.build` (run by `make install` and the Docker image build) compiles the
llama.cpp tree that the pinned llama-cpp-python release vendors, with one CMake build, and
puts the shared libraries and `llama-server` into the `llama_cpp` package's `lib/` folder,
where llama-cpp-python loads them from (`pip` installs it with `LLAMA_BUILD=OFF`, so
llama.cpp is never compiled twice).

This file is the one place that says how llama.cpp is built, and why:

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

After building, a smoke check generates one short completion in a child process, so a
library that cannot run on this CPU stops the install with a message instead of killing
the server on its first request.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from llmserver.crash import describe_exit
from llmserver.names import UnsafeName, inside

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
INFO_FILE = "BUILD-INFO.json"


class BuildError(SystemExit):
    """Stops `make install` with a message for a person, not a traceback."""


def lib_dir() -> Path:
    """The `llama_cpp` package's `lib/` folder, found without importing the package (which
    would try to load the libraries this module builds)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"{PACKAGE} is not installed in {sys.prefix}; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def server_binary(directory: Path | None = None) -> Path:
    return (directory or lib_dir()) / "llama-server"


def extra_cmake_args() -> list[str]:
    return shlex.split(os.environ.get("LLAMA_CMAKE_ARGS", ""))


def build_id(version: str) -> str:
    """Changes whenever the source version, a flag or the variant list does."""
    what = [version, CMAKE_FLAGS, X86_VARIANTS, TARGETS, extra_cmake_args()]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def installed_build(directory: Path) -> dict[str, object] | None:
    try:
        return json.loads((directory / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def fetch_source(version: str, work: Path) -> Path:
    """llama.cpp's source as vendored by the pinned llama-cpp-python sdist (from PyPI)."""
    source = work / f"llama.cpp-{version}"
    if (source / "CMakeLists.txt").exists():
        return source
    downloads = work / "sdist"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"llama_cpp_python-{version}.tar.gz"
    if not archive.exists():
        print(f"llama.cpp: fetching the {PACKAGE} {version} source from the package index.")
        subprocess.run(
            # Only this package from source: with `:all:`, pip also compiled the tools its
            # metadata step needs (CMake among them), for minutes.
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             PACKAGE, f"{PACKAGE}=={version}", "-d", str(downloads)],
            check=True,
        )
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    partial = Path(tempfile.mkdtemp(prefix=".llama.cpp-", dir=work))
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                member.name = member.name[len(prefix):]
                _check_member(partial, member)
                members.append(member)
        # Extraction filters came with Python 3.11.4; Debian 12's python3 is 3.11.2.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(partial, members=members, **safe)
    partial.rename(source)
    return source


def _check_member(root: Path, member: tarfile.TarInfo) -> None:
    """Refuse an archive member that would land, or link, outside `root`: the data filter
    does this from Python 3.11.4 on, and Debian 12's 3.11.2 has none."""
    try:
        target = inside(root, member.name)
        if member.issym():
            inside(root, target.parent / member.linkname)
        elif member.islnk():
            inside(root, member.linkname)
    except UnsafeName as exc:
        raise SystemExit(f"llama.cpp: the source archive is unsafe: {member.name}: {exc}"
                         ) from None


def limit_variants(source: Path) -> None:
    """Replace upstream's x86 variant list with `X86_VARIANTS` (idempotent)."""
    cmake = source / "ggml" / "src" / "CMakeLists.txt"
    text = cmake.read_text()
    # Linear (tests/test_regexes.py): the text may hold no second x86 header before the
    # "elseif", and only spaces or tabs between its newline and "elseif". With (.*?) and
    # \n\s*, every newline after every x86 header ran over all the white space that follows.
    pattern = re.compile(
        r'(if \(GGML_SYSTEM_ARCH STREQUAL "x86"\)\n)'
        r'((?:(?!if \(GGML_SYSTEM_ARCH STREQUAL "x86"\)\n).)*?)'
        r'(\n[ \t]*elseif ?\(GGML_SYSTEM_ARCH STREQUAL "ARM"\))',
        re.S,
    )
    matches = [m for m in pattern.finditer(text) if "ggml_add_cpu_backend_variant(x64)" in m[2]]
    if len(matches) != 1:
        raise BuildError(
            f"llama.cpp: the CPU variant list in {cmake} is not where llmserver/build.py "
            f"expects it; update X86_VARIANTS' patch for this llama.cpp version."
        )
    ours = "\n".join(
        f"        ggml_add_cpu_backend_variant({' '.join((name, *features))})"
        for name, features in X86_VARIANTS.items()
    )
    match = matches[0]
    cmake.write_text(text[: match.start(2)] + ours + text[match.end(2):])


def run_logged(command: list[str], log: Path, label: str) -> None:
    """Run a long build step, printing its progress every 10% and keeping the full log."""
    started = time.monotonic()
    shown = -10
    with log.open("a") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            progress = re.match(r"\[\s*(\d+)%\]", line)
            if progress and int(progress[1]) >= shown + 10:
                shown = int(progress[1]) // 10 * 10
                minutes = (time.monotonic() - started) / 60
                print(f"llama.cpp: {label} {shown}% ({minutes:.1f} min)", flush=True)
        code = process.wait()
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise BuildError(
            f"{tail}\nllama.cpp: {label} failed (exit {code}); the whole log is {log}.\n"
            "A C++ compiler and CMake are needed: apt-get install build-essential cmake"
        )


def cmake_build(source: Path, build_dir: Path, flags: dict[str, str], targets: tuple[str, ...],
                jobs: int, log: Path) -> Path:
    """Configure and build `targets`; returns the folder that holds what was built."""
    build_dir.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    configure = ["cmake", "-S", str(source), "-B", str(build_dir)]
    configure += [f"-D{name}={value}" for name, value in flags.items()]
    configure += extra_cmake_args()
    run_logged(configure, log, "configure")
    run_logged(
        ["cmake", "--build", str(build_dir), "--config", "Release", "-j", str(jobs),
         "--target", *targets],
        log,
        "build",
    )
    return build_dir / "bin"


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llmserver.build",
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
