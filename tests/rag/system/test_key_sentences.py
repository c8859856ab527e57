"""An extractive summary (rag.evidence.key_sentences): the sentences that stand for the text
as a whole, in order, without repeats, tables or code."""

from __future__ import annotations

from rag import Passage
from rag.embedding import Embedder
from rag.evidence import key_sentences

TEXT = [
    "Lighthouses guide ships along dangerous coasts at night. Each lighthouse shows a light "
    "pattern of its own, so sailors know which one they see.",
    "Each lighthouse shows a light pattern of its own, so sailors know which one they see. "
    "| column | another | third |\n\n```\nlamp.on()\n```\nKeepers once trimmed the wicks of "
    "the lamps every few hours through the night.",
    "Today most lighthouses are automated and keepers are gone. My cat likes tuna on "
    "Tuesdays a lot.",
]


def test_key_sentences_stand_for_the_whole(embedder: Embedder) -> None:
    passages = [Passage(text, "/doc.md", "Lights", page, 1.0)
                for page, text in enumerate(TEXT, 1)]
    chosen = key_sentences(embedder, passages, 3)
    sentences = [s for _, s in chosen]
    assert len(sentences) == 3 == len(set(sentences))
    # In the text's order, each with its passage (for its page).
    order = [" ".join(TEXT).find(s[:30]) for s in sentences]
    assert order == sorted(order)
    assert all(s in p.text.replace("\n", " ") or s[:30] in p.text for p, s in chosen)
    assert not any("|" in s or "lamp.on" in s for s in sentences)
    assert "tuna" not in " ".join(sentences)  # the off-topic sentence stands for nothing
    assert key_sentences(embedder, [], 3) == []
