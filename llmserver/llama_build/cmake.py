"""CMake configure and build, with progress every 10% and the whole log kept."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

from llmserver.llama_build import BuildError
from llmserver.llama_build.flags import extra_cmake_args


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
