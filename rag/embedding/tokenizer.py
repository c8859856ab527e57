"""A model's tokenizer from its `tokenizer.json` (tokenizers), set as sentence-transformers
sets it: no padding, no truncation, lower-casing where the model asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.embedding.config import Layout

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def untruncated(tokenizer: Tokenizer) -> Tokenizer:
    """Neither padding nor truncating: a `tokenizer.json` often holds its trainer's padding
    and truncation (128 for all-MiniLM-L6-v2), which sentence-transformers overrides."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def model_tokenizer(layout: Layout) -> Tokenizer:
    """The model's tokenizer as sentence-transformers runs it."""
    from tokenizers import normalizers

    tokenizer = load_tokenizer(layout.root)
    if layout.lower_case:  # what sentence-transformers does for do_lower_case
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.Lowercase(), *filter(None, [tokenizer.normalizer])])
    return tokenizer


def load_tokenizer(folder: Path) -> Tokenizer:
    """A model folder's `tokenizer.json`, neither padding nor truncating."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    text = path.read_text()
    try:
        return untruncated(Tokenizer.from_str(text))
    except Exception as e:  # tokenizers' parse errors are bare Exceptions
        raise ValueError(f"{path}: {e}") from None
