"""The Embedder: the configured backend loaded once, and texts (or word-piece ids) encoded
into normalized vectors in the batches sentence-transformers would run."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from rag.embedding.config import model_identity
from rag.embedding.onnx_model import OnnxModel
from rag.embedding.remote_model import RemoteModel
from rag.embedding.torch_model import TorchModel
from rag.errors import EmbeddingError
from rag.export import find_export
from rag.settings import RagSettings

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class Embedder:
    """Owns the loaded model (or the remote one, EMBED_URL); encodes normalized vectors in
    batches."""

    def __init__(self, settings: RagSettings) -> None:
        self.settings = settings
        self.name, self.path = model_identity(settings)
        self.backend = settings.embed_backend

    @cached_property
    def model(self) -> OnnxModel | TorchModel | RemoteModel:
        try:
            if self.settings.embed_url:
                return RemoteModel(self.path, self.name, self.settings.embed_url,
                                   self.settings.embed_api_key)
            if self.backend == "torch":
                return TorchModel(self.path)
            folder, file_name = find_export(self.path, self.settings.models_dir,
                                            quantize=self.backend == "onnx-int8")
            return OnnxModel(folder, file_name)
        # KeyError: a configuration file without a key it must have.
        except (OSError, ValueError, KeyError) as e:
            raise EmbeddingError(f"cannot load embedding model {self.path}: {e}") from None

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, neither padding nor truncating. It may be used from several
        threads at once: a tokenizers.Tokenizer only refuses a change of its settings while
        another thread encodes, and nothing changes them after loading."""
        return self.model.tokenizer

    @cached_property
    def _truncating(self) -> Tokenizer:
        """The tokenizer as sentence-transformers sets it for encoding: cut to the model's
        limit, special tokens included."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self.tokenizer.to_str())
        tokenizer.enable_truncation(self.max_tokens)
        return tokenizer

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included; the rest it would cut."""
        return self.model.max_tokens

    @property
    def dim(self) -> int:
        return self.model.dim

    def _batch(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of one batch, padded to its longest row, as
        sentence-transformers pads: the int8 model's scales are the whole batch's, padding
        included, so anything else gives other vectors."""
        model = self.model
        if isinstance(model, RemoteModel):
            return model.vectors(rows)
        input_ids = np.full((len(rows), max(map(len, rows))), model.pad_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(rows):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        vectors = model.pool(input_ids, mask)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def embed_ids(self, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of texts already tokenized by this model's tokenizer (special
        tokens included), as `embed` would give for the texts: the chunker tokenizes every
        chunk to measure it, and the model's own tokenizing is then not done twice."""
        if not token_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit, size = self.max_tokens, self.settings.embed_batch_size
        batches = (
            [list(ids[: limit - 1]) + list(ids[-1:]) if len(ids) > limit else ids
             for ids in token_ids[start : start + size]]
            for start in range(0, len(token_ids), size)
        )
        return np.concatenate([self._batch(rows) for rows in batches])

    def encode(self, texts: list[str]) -> list[list[int]]:
        """The word pieces `embed` runs for each text: special tokens included, cut to the
        model's limit."""
        return [e.ids for e in self._truncating.encode_batch(texts)]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalized vectors, as sentence-transformers' `encode` gives them: the same
        truncation, and the same batches (longest texts first), on which int8 depends."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts])
        ids = self.encode([texts[i] for i in order])
        size = self.settings.embed_batch_size
        vectors = np.concatenate(
            [self._batch(ids[start : start + size]) for start in range(0, len(ids), size)])
        return vectors[np.argsort(order)]
