"""Retrieval: chunks per page, before fusion and in the results."""

from __future__ import annotations

from rag.lexical import Row
from rag.retrieval import Tuning, fuse
from rag.store import Hit


def _hit(source: str, n: int, page: int | None = None) -> Hit:
    chunk_id = f"{source}-{n}"
    return Hit(chunk_id, Row(chunk_id, source, source, page, "", "", f"text {n}"), 1.0)


def test_chunks_per_page_capped_in_results_then_topped_up() -> None:
    ranking = [_hit("long", n) for n in range(6)] + [_hit("short", 0)]
    capped = fuse([(ranking, 1.0)], 4, Tuning(results_per_page=2))
    # The short page moves up past the cap; the long one fills the places left.
    assert [p.text for p in capped] == ["text 0", "text 1", "text 0", "text 2"]
    assert [p.source for p in capped] == ["long", "long", "short", "long"]
    uncapped = fuse([(ranking, 1.0)], 4, Tuning(results_per_page=0))
    assert [p.source for p in uncapped] == ["long"] * 4


def test_chunks_per_page_capped_in_candidates() -> None:
    vector = [_hit("long", n) for n in range(4)] + [_hit("short", 0)]
    lexical = [_hit("short", 0)]
    fused = fuse([(vector, 1.0), (lexical, 1.0)], 5, Tuning(candidates_per_page=1))
    assert [p.source for p in fused] == ["short", "long"]


def test_default_results_hold_one_chunk_per_page_while_others_match() -> None:
    vector = [_hit("long", n) for n in range(5)] + [_hit("a", 0), _hit("b", 0)]
    fused = fuse([(vector, 1.0)], 4)
    assert [p.source for p in fused] == ["long", "a", "b", "long"]


def test_each_page_of_a_pdf_counts_as_a_page_of_its_own() -> None:
    # Two chunks of page 3, one of page 7, then another document.
    vector = [_hit("manual.pdf", 0, 3), _hit("manual.pdf", 1, 3), _hit("manual.pdf", 2, 7),
              _hit("other.html", 0)]
    fused = fuse([(vector, 1.0)], 3)
    assert [(p.source, p.page) for p in fused] == [
        ("manual.pdf", 3), ("manual.pdf", 7), ("other.html", None)]
