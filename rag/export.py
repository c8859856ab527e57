"""The one-time export of a local sentence-transformers model to ONNX (optionally int8
quantized) that the default embedding backends run. The only code path of the product that
loads torch and sentence-transformers; `make install` runs it ahead (`main`), and the Docker
image's build does, so that the image that runs holds neither.

`make install` exports into the Python environment (INSTALL_DIR), beside the rest of the
install: a run finds it there whatever its DATA_DIR, and user data holds no build output.
An export the install did not make (another EMBED_MODEL, backend or preset) is made on
first use under DATA_DIR/models.

Two environment variables serve an export made on one machine and run on another (the
image's): EMBED_ONNX_DIR, the one place exports are then kept and looked for, and
EMBED_INT8_PRESET, the int8 quantization preset: `native` (default: the best for this CPU),
`portable` (AVX2 on x86-64, ARM64 on ARM: runs right on any CPU of its architecture that
the product supports), or a preset's own name (avx2, avx512, avx512_vnni, arm64).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

# Must be set before transformers or sentence_transformers is imported (export, torch
# backend): nothing is ever fetched from a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


PRESETS = ("avx2", "avx512", "avx512_vnni", "arm64")
# Where `make install` leaves the export: in the Python environment, as the llama.cpp build
# is, so that `make clean` removes both and a new DATA_DIR needs neither again.
INSTALL_DIR = Path(sys.prefix) / "share" / "rag" / "onnx"


def export_dir(default: Path) -> Path:
    """Where exports are looked for and made: EMBED_ONNX_DIR, else `default`."""
    configured = os.environ.get("EMBED_ONNX_DIR", "").strip()
    return Path(configured).expanduser() if configured else default


def find_export(source: Path, data_models: Path, quantize: bool) -> tuple[Path, str]:
    """The export to run, as (folder, model file in it): in EMBED_ONNX_DIR when that is set
    (made there if missing); else the install's, else the one under `data_models` (made
    there if missing)."""
    if os.environ.get("EMBED_ONNX_DIR", "").strip():
        return onnx_export(source, export_dir(data_models), quantize)
    target = _target(source, INSTALL_DIR)
    file_name = _exported_file(target, quantization_preset(), quantize)
    if file_name:
        return target, file_name
    return onnx_export(source, data_models, quantize)


def main() -> None:
    """Export the configured model ahead into INSTALL_DIR (or EMBED_ONNX_DIR), then load it
    as a run would: `make install`, so that no run waits for an export, and an export that
    does not load stops the install."""
    # Imported here: the embedder imports this module.
    from rag.embedding import Embedder, model_identity
    from rag.settings import RagSettings

    settings = RagSettings()
    if settings.embed_backend != "torch" and not settings.embed_url:
        onnx_export(model_identity(settings)[1], export_dir(INSTALL_DIR),
                    quantize=settings.embed_backend == "onnx-int8")
    Embedder(settings).embed(["a first sentence"])


def quantization_preset() -> str:
    """The onnxruntime dynamic-quantization preset of an int8 export (EMBED_INT8_PRESET).

    The preset is baked into the exported weights: `avx512_vnni` gives signed int8 weights
    that can overflow on a CPU without VNNI, so an export meant for other machines takes the
    preset every CPU of the architecture runs right."""
    choice = os.environ.get("EMBED_INT8_PRESET", "").strip().lower() or "native"
    if choice in PRESETS:
        return choice
    if choice == "portable":
        return "arm64" if _is_arm() else "avx2"
    if choice == "native":
        return _native_preset()
    raise ValueError(f"EMBED_INT8_PRESET={choice!r} is none of native, portable, "
                     f"{', '.join(PRESETS)}")


def _is_arm() -> bool:
    return platform.machine().lower() in ("arm64", "aarch64")


def _native_preset() -> str:
    """The preset that matches this CPU."""
    if _is_arm():
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "avx2"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def onnx_export(source: Path, cache: Path, quantize: bool) -> tuple[Path, str]:
    """Export (once) the local model to ONNX, optionally int8-quantized, under cache.
    Written to a temporary folder then renamed, so an interrupted export leaves nothing."""
    preset = quantization_preset()
    target = _target(source, cache)
    file_name = _exported_file(target, preset, quantize)
    if file_name:
        return target, file_name
    if importlib.util.find_spec("sentence_transformers") is None:
        # The Docker image ships an export, not the exporter: a setting that asks for
        # another export (model, backend, preset) ends here, not in a traceback.
        raise OSError(f"there is no ONNX export for preset {preset} in {target}, and "
                      "sentence-transformers, which makes one, is not installed")
    print(f"rag: exporting the embedding model to ONNX under {target} (once).", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=cache))
    # The exporter's tracer warnings and hints are about its internals, not the user's input.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(source, work, target, preset, quantize)
    file_name = _exported_file(target, preset, quantize)
    if file_name is None:
        raise OSError(f"the ONNX export left no model file for preset {preset} in {target}")
    return target, file_name


def _target(source: Path, cache: Path) -> Path:
    """The folder under `cache` of the export of `source` (a model folder)."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return cache / f"{source.name}-{digest}-onnx"


def _exported_file(target: Path, preset: str, quantize: bool) -> str | None:
    """The model file of an export, relative to `target`, or None if there is none yet.

    The quantizer names the file after its weight type, which depends on the preset
    (`model_qint8_avx512_vnni.onnx`, but `model_quint8_avx2.onnx`)."""
    if not quantize:
        return "onnx/model.onnx" if (target / "onnx/model.onnx").exists() else None
    found = sorted((target / "onnx").glob(f"model_*int8_{preset}.onnx"))
    return f"onnx/{found[0].name}" if found else None


def _export(source: Path, work: Path, target: Path, preset: str, quantize: bool) -> None:
    from sentence_transformers import (
        SentenceTransformer,
        export_dynamic_quantized_onnx_model,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    try:
        if (target / "onnx/model.onnx").exists():
            shutil.copytree(target, work, dirs_exist_ok=True)
            model = SentenceTransformer(str(work), backend="onnx", device="cpu",
                                        model_kwargs={"file_name": "onnx/model.onnx"})
        else:
            model = SentenceTransformer(str(source), backend="onnx", device="cpu")
            model.save_pretrained(str(work))
        if quantize:
            export_dynamic_quantized_onnx_model(model, preset, str(work))
        del model
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
