"""EMBED_BACKEND=torch: the model on torch through sentence-transformers itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.embedding.tokenizer import untruncated

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class TorchModel:
    """The model on torch, through sentence-transformers (EMBED_BACKEND=torch)."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from tokenizers import Tokenizer

        self.model: SentenceTransformer = SentenceTransformer(str(path), device="cpu")
        hf_tokenizer = self.model.tokenizer
        # A copy: transformers changes its tokenizer's settings on every call.
        self.tokenizer = untruncated(
            Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str()))
        self.max_tokens = int(self.model.max_seq_length)
        # Renamed in sentence-transformers 5.x; both exist in the supported range.
        get = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get())
        self.pad_id = hf_tokenizer.pad_token_id or 0
        self.with_types = "token_type_ids" in hf_tokenizer.model_input_names

    def pool(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        features = {"input_ids": torch.from_numpy(input_ids),
                    "attention_mask": torch.from_numpy(mask)}
        if self.with_types:
            features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        with torch.inference_mode():
            return self.model.forward(features)["sentence_embedding"].float().numpy()
