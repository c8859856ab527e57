"""The llama.cpp that `make install` built: portable, and its smoke check fails loudly."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.processes import DEFAULT_MODELS_DIR
from llmserver import llama_build as build
from llmserver.llama_build import flags, smoke

LIB = build.lib_dir()
# AMX tile instructions: the ones that faulted (`ldtilecfg`) on a CPU advertising AMX.
AMX_MNEMONICS = ("ldtilecfg", "tileloadd", "tdpbssd", "tdpbf16ps", "tilerelease", "tilezero")


def cpu_variants() -> list[Path]:
    return sorted(LIB.glob("libggml-cpu*.so"))


def test_the_build_is_portable_with_cpu_variants_chosen_at_run_time() -> None:
    info = json.loads((LIB / build.INFO_FILE).read_text())
    assert info["cmake_flags"]["GGML_NATIVE"] == "OFF"
    assert info["cmake_flags"]["GGML_BACKEND_DL"] == "ON"
    if platform.machine() in {"x86_64", "AMD64"} and not info["extra_cmake_args"]:
        names = {p.name.removeprefix("libggml-cpu-").removesuffix(".so") for p in cpu_variants()}
        assert names == set(flags.X86_VARIANTS)
        assert "x64" in names  # the baseline that any x86-64 CPU can run


@pytest.mark.skipif(platform.machine() != "x86_64", reason="AMX is x86-only")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) not installed")
@pytest.mark.parametrize("library", cpu_variants(), ids=lambda p: p.name)
def test_no_cpu_variant_contains_amx_instructions(library: Path) -> None:
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(library)],
        capture_output=True, text=True, check=True,
    ).stdout
    found = [m for m in AMX_MNEMONICS if f"\t{m}" in listing or f" {m} " in listing]
    assert not found, f"{library.name} contains AMX instructions: {found}"


def test_llama_server_was_built_beside_the_libraries() -> None:
    result = subprocess.run([str(build.server_binary()), "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_smoke_check_passes_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    smoke.smoke(DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf", LIB)
    assert "smoke check passed" in capsys.readouterr().out


def test_a_crashing_engine_stops_the_install_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The child really dies of SIGSEGV, as llama.cpp did on the CPU with AMX.
    monkeypatch.setattr(smoke, "SMOKE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(build.BuildError) as failure:
        smoke.smoke(DEFAULT_MODELS_DIR / "gemma-3-270m-q4_k_m.gguf", LIB)
    message = str(failure.value)
    assert "smoke check FAILED" in message
    assert "SIGSEGV" in message
    assert "LLAMA_CMAKE_ARGS" in message
