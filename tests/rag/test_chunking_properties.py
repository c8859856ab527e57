"""Properties of the chunker over generated documents (hypothesis): every chunk fits the
model whole, is a piece of its section's text up to whitespace (no character invented, none
split: Python strings are code points, so a chunk that is a substring of its section cannot
hold half of a UTF-8 sequence), and every word of the section is in some chunk."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from rag.chunking import Chunker
from rag.documents import Document, Section
from rag.embedding import load_tokenizer, packaged_model_path

LIMIT = 256

# Words from several scripts, emoji and combining marks, joined by the separators the
# chunker splits on (spaces, sentence ends, line and paragraph breaks).
PIECE = st.sampled_from([*"abcdefghijklmnopqrstuvwxyzABCXYZ0123456789éüßçøÆﬁ—'-", "日本",
                         "中文", "Привет", "مرحبا", "🙂", "👍🏽", "e\u0301"])
WORD = st.lists(PIECE, min_size=1, max_size=8).map("".join)
SEPARATOR = st.sampled_from([" ", " ", " ", ". ", "? ", "; ", "\n", "\n\n", "  \n\n "])
TEXT = st.lists(st.tuples(WORD, SEPARATOR), min_size=1, max_size=400).map(
    lambda parts: "".join(w + s for w, s in parts))
SECTION = st.builds(Section, text=TEXT,
                    headings=st.lists(WORD, max_size=3).map(tuple),
                    page=st.one_of(st.none(), st.integers(1, 500)))


def _collapsed(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return load_tokenizer(packaged_model_path())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(title=WORD, sections=st.lists(SECTION, min_size=1, max_size=3),
       size=st.integers(40, LIMIT), overlap=st.integers(0, 60))
def test_chunks_fit_the_model_and_keep_every_word(tokenizer: Tokenizer, title: str,
                                                  sections: list[Section], size: int,
                                                  overlap: int) -> None:
    chunker = Chunker(tokenizer, LIMIT, size=size, overlap=overlap)
    doc = Document(source="/doc.txt", title=title, sections=sections)
    chunks = chunker.split(doc)
    for chunk in chunks:
        assert 0 < len(chunk.token_ids) <= LIMIT
        # Paragraphs are re-joined with one blank line: compare with whitespace collapsed.
        text = _collapsed(chunk.text)
        assert text and any(s.headings == chunk.headings and s.page == chunk.page
                            and text in _collapsed(s.text) for s in sections)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for section in sections:
        kept = " ".join(c.text for c in chunks
                        if c.headings == section.headings and c.page == section.page)
        for word in re.findall(r"\w+", section.text):
            assert word in kept
