"""The default backends: an exported model on ONNX Runtime (float32, or int8 by default),
with no torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.embedding.config import Layout, read_json
from rag.embedding.pooling import POOLERS
from rag.embedding.tokenizer import model_tokenizer
from rag.errors import EmbeddingError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession, SessionOptions


def _session_options() -> SessionOptions:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # ONNX Runtime's threads otherwise spin for a while after each call, waiting for the
    # next: CPU taken from the loading and chunking running alongside an ingest, and from
    # llama.cpp after a chat question's embedding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class OnnxModel:
    """An exported model on ONNX Runtime, tokenized by its `tokenizer.json` and pooled in
    numpy as sentence-transformers does."""

    def __init__(self, folder: Path, file_name: str) -> None:
        import onnxruntime

        layout = Layout.read(folder)
        self.max_tokens, self.dim, self.pooling = layout.max_tokens, layout.dim, layout.pooling
        self.tokenizer = model_tokenizer(layout)
        pad = read_json(layout.root / "tokenizer_config.json").get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = (self.tokenizer.token_to_id(pad) if pad else None) or 0
        try:
            self.session: InferenceSession = onnxruntime.InferenceSession(
                str(folder / file_name), _session_options(), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's errors derive from Exception alone
            raise EmbeddingError(f"cannot load {folder / file_name} ({e}): delete {folder} "
                                 "to export the model again") from None
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if not {"input_ids", "attention_mask"} <= inputs <= {
                "input_ids", "attention_mask", "token_type_ids"} or \
                "last_hidden_state" not in outputs:
            raise EmbeddingError(
                f"{folder / file_name} is not a feature-extraction export (inputs "
                f"{sorted(inputs)}, outputs {sorted(outputs)}): delete {folder} to export "
                "the model again"
            )
        self.with_types = "token_type_ids" in inputs

    def pool(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Sentence vectors, not normalized, of a right-padded batch."""
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if self.with_types:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        tokens = self.session.run(["last_hidden_state"], feeds)[0]
        return np.concatenate([POOLERS[mode](tokens, mask) for mode in self.pooling], axis=1)
