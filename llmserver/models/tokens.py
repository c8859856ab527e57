"""Token counts from vocab-only copies of the models, outside the generation lock."""

from __future__ import annotations

import threading
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from llmserver.models.chat_format import BASE_MODEL_FORMAT, format_transcript
from llmserver.models.discovery import ModelEntry


class Tokenizers:
    """One vocab-only `Llama` per model alias, loaded on first use (a few MB, ~0.1 s)."""

    def __init__(self, entries: list[ModelEntry]):
        self._entries = {e.alias: e for e in entries}
        self._vocabs: dict[str, llama_cpp.Llama] = {}
        self._lock = threading.Lock()

    def offer(self, entries: list[ModelEntry]) -> None:
        with self._lock:
            self._entries.update((e.alias, e) for e in entries)

    def _vocab(self, alias: str) -> llama_cpp.Llama:
        with self._lock:
            vocab = self._vocabs.get(alias)
            if vocab is None:
                path = self._entries[alias].path
                vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
                self._vocabs[alias] = vocab
            return vocab

    def count(self, alias: str, text: str, *, add_bos: bool = False) -> int:
        vocab = self._vocab(alias)
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def chat_prompt_tokens(self, alias: str, messages: list[dict[str, Any]]) -> int:
        """Tokens of the prompt a chat request becomes.

        Exact for the transcript format and for a GGUF's own template (or its yaml's).
        llama-cpp-python maps some well-known templates to built-in formats that may differ
        by a token or two.
        """
        entry = self._entries[alias]
        if entry.chat_format == BASE_MODEL_FORMAT:
            return self.count(alias, format_transcript(messages).prompt, add_bos=True)
        vocab = self._vocab(alias)
        bos = vocab.token_bos()
        eos = vocab.token_eos()
        formatter = Jinja2ChatFormatter(
            template=entry.chat_template or vocab.metadata["tokenizer.chat_template"],
            bos_token=_text(vocab, bos),
            eos_token=_text(vocab, eos),
        )
        return self.count(alias, formatter(messages=messages).prompt, add_bos=False)


def _text(vocab: llama_cpp.Llama, token: int) -> str:
    """A special token's text, as the template writes it (`<bos>`); "" for none."""
    return vocab.detokenize([token], special=True).decode() if token != -1 else ""
