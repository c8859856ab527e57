"""Chunks fit the model whole, overlap, and follow headings and pages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from rag.chunking import Chunker, embedding_text
from rag.documents import Chunk, Document, Section
from rag.embedding import load_tokenizer, packaged_model_path

LIMIT = 256  # all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP] included
# Chunks of a few texts (part of the README, a PDF's pages, unicode, runs longer than the
# model reads) as the chunker cut them with transformers' tokenizer, before its port to
# tokenizers: the port must not move a boundary, or re-ingesting would change every chunk.
EXPECTED = Path(__file__).with_name("expected_chunks.json")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return load_tokenizer(packaged_model_path())


@pytest.fixture(scope="module")
def reference():  # noqa: ANN201 - transformers' tokenizer, untyped upstream
    """transformers' tokenizer of the model, as sentence-transformers calls it."""
    return AutoTokenizer.from_pretrained(str(packaged_model_path()))


def _pieces(reference, text: str) -> int:  # noqa: ANN001
    return len(reference(text)["input_ids"])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _summary(chunk: Chunk) -> dict:
    """A chunk as expected_chunks.json records it."""
    return {"index": chunk.index, "context": chunk.context, "headings": list(chunk.headings),
            "page": chunk.page, "start": chunk.text[:24], "text_sha256": _digest(chunk.text),
            "tokens": len(chunk.token_ids),
            "ids_sha256": _digest(" ".join(map(str, chunk.token_ids)))}


def _cases() -> list[object]:
    data = json.loads(EXPECTED.read_text())
    return [pytest.param(data["documents"][case["document"]], case,
                         id=f"{case['document']}-{case['size']}")
            for case in data["cases"]]


@pytest.mark.parametrize(("document", "case"), _cases())
def test_same_chunks_as_before_the_port(tokenizer: Tokenizer, document: dict,
                                        case: dict) -> None:
    doc = Document(document["source"], document["title"],
                   [Section(s["text"], tuple(s["headings"]), s["page"])
                    for s in document["sections"]])
    chunks = Chunker(tokenizer, case["limit"], case["size"], case["overlap"]).split(doc)
    assert [_summary(c) for c in chunks] == case["chunks"]


def test_no_chunk_is_cut_by_the_model(tokenizer: Tokenizer, reference) -> None:  # noqa: ANN001
    words = " ".join(f"antidisestablishmentarianism{i}" for i in range(600))  # no sentence end
    prose = " ".join(f"Sentence number {i} says something plain." for i in range(300))
    doc = Document("s", "A title", [
        Section(words, ("Chapter", "Section")),
        Section(prose, ("Chapter",)),
        Section("Short one.", (), page=3),
    ])
    chunker = Chunker(tokenizer, LIMIT, size=LIMIT, overlap=40)
    chunks = chunker.split(doc)
    assert len(chunks) > 10
    for chunk in chunks:
        assert _pieces(reference, embedding_text(chunk.context, chunk.text)) <= LIMIT
        # The word pieces handed to the model are exactly the text's.
        assert list(chunk.token_ids) == reference(embedding_text(chunk.context, chunk.text))[
            "input_ids"]
    # Every word of the input survives in some chunk.
    joined = " ".join(c.text for c in chunks)
    assert all(f"antidisestablishmentarianism{i} " in joined + " " for i in range(600))
    assert all(f"Sentence number {i} " in joined for i in range(300))


def test_overlap_and_headings_and_pages(tokenizer: Tokenizer, reference) -> None:  # noqa: ANN001
    paragraphs = "\n\n".join(f"Paragraph {i} talks about topic {i} at some length here."
                             for i in range(60))
    doc = Document("s", "Doc", [
        Section(paragraphs, ("Intro",)),
        Section("Closing words on page two.", ("Outro",), page=2),
    ])
    chunks = Chunker(tokenizer, LIMIT, size=120, overlap=30).split(doc)
    intro = [c for c in chunks if c.headings == ("Intro",)]
    assert len(intro) >= 3
    for before, after in zip(intro, intro[1:], strict=False):
        # Overlap: the next chunk starts with the last whole paragraph(s) of this one.
        first = after.text.split("\n\n")[0]
        assert first in before.text.split("\n\n")
        assert before.text.split("\n\n")[-1] in after.text
        assert _pieces(reference, embedding_text(after.context, after.text)) <= 120 + 2
    assert chunks[-1].headings == ("Outro",) and chunks[-1].page == 2
    assert chunks[-1].context == "Doc > Outro"
    assert "Closing" not in intro[-1].text  # a chunk never crosses a heading
