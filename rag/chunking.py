"""Split documents into chunks that fit the embedding model whole, counted in its own word
pieces, with overlap, never crossing a heading or a PDF page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.documents import Chunk, Document

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int


class Chunker:
    """tokenizer: the model's, neither padding nor truncating (Embedder.tokenizer).
    limit: word pieces the model reads including its special tokens ([CLS], [SEP]).
    size: target chunk size; overlap: word pieces repeated from the previous chunk."""

    def __init__(self, tokenizer: Tokenizer, limit: int, size: int, overlap: int) -> None:
        self.tokenizer = tokenizer
        self.special = len(tokenizer.encode("").ids)
        self.limit = limit - self.special
        self.size = min(size, self.limit)
        self.overlap = min(overlap, self.size // 2)

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]

    def _windows(self, text: str, size: int) -> list[_Unit]:
        """A text with no sentence break short enough: cut at word-piece boundaries."""
        offsets = self.tokenizer.encode(text, add_special_tokens=False).offsets
        step = max(size - self.overlap, 1)
        units = []
        for start in range(0, len(offsets), step):
            window = offsets[start : start + size]
            units.append(_Unit(text[window[0][0] : window[-1][1]], len(window)))
            if start + size >= len(offsets):
                break
        return units

    def _units(self, text: str, budget: int) -> list[_Unit]:
        paragraphs = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
        units = []
        for paragraph, tokens in zip(paragraphs, self.count(paragraphs), strict=True):
            if tokens <= budget:
                units.append(_Unit(paragraph, tokens))
                continue
            sentences = [s for s in _SENTENCES.split(paragraph) if s.strip()]
            for sentence, n in zip(sentences, self.count(sentences), strict=True):
                if n <= budget:
                    units.append(_Unit(sentence, n))
                else:
                    units.extend(self._windows(sentence, budget))
        return units

    def _pack(self, units: list[_Unit], budget: int) -> list[str]:
        chunks: list[str] = []
        current: list[_Unit] = []
        total = 0
        for unit in units:
            if current and total + unit.tokens > budget:
                chunks.append("\n\n".join(u.text for u in current))
                # Carry the tail of the chunk just closed, whole units only, as overlap.
                carried: list[_Unit] = []
                kept = 0
                for prev in reversed(current):
                    grown = kept + prev.tokens
                    if grown > self.overlap or grown + unit.tokens > budget:
                        break
                    carried.insert(0, prev)
                    kept += prev.tokens
                current, total = carried, kept
            current.append(unit)
            total += unit.tokens
        if current:
            chunks.append("\n\n".join(u.text for u in current))
        return chunks

    def _fit(self, context: str, texts: list[str]) -> list[tuple[str, list[int]]]:
        """Each packed text with the word pieces the model will read (special tokens
        included), counted in one call per section. The word-piece sum of units can differ
        from the joined text's count for some tokenizers: anything still too long is cut."""
        if not texts:
            return []
        encoded = self._ids([embedding_text(context, t) for t in texts])
        fitted: list[tuple[str, list[int]]] = []
        for text, ids in zip(texts, encoded, strict=True):
            if len(ids) <= self.limit + self.special:
                fitted.append((text, ids))
                continue
            budget = self.limit - self.count([context])[0] - 1
            pieces = [u.text for u in self._windows(text, max(budget, 16))]
            again = self._ids([embedding_text(context, p) for p in pieces])
            fitted.extend(zip(pieces, again, strict=True))
        return fitted

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """The word pieces the model reads for each text, special tokens included."""
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def split(self, doc: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in doc.sections:
            context = " > ".join(p for p in (doc.title, *section.headings) if p)
            context_tokens = self.count([context])[0] + 1 if context else 0
            # A very long heading path would crowd out the text: keep at most a quarter.
            if context_tokens > self.size // 4:
                context = " > ".join(section.headings[-1:]) or doc.title
                context = self._windows(context, self.size // 4)[0].text
                context_tokens = self.count([context])[0] + 1
            budget = self.size - context_tokens
            for text, ids in self._fit(context, self._pack(self._units(section.text, budget),
                                                           budget)):
                chunks.append(
                    Chunk(text, doc.source, doc.title, section.headings, section.page,
                          len(chunks), context, tuple(ids))
                )
        return chunks


def embedding_text(context: str, text: str) -> str:
    """What the model and the lexical index see: the heading path, then the passage."""
    return f"{context}\n{text}" if context else text
