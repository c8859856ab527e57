"""`rag query --explain`: each passage's rank on the lexical and the vector side, and the
fused score they add up to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.documents import make_rag
from rag import Rag, cli
from rag.embedding import Embedder
from rag.retrieval import DEFAULT_TUNING

DOCS = {
    "pumps.md": "# Pumps\n\nThe ZX-41 pump needs its seal replaced every 400 hours.\n",
    "boats.md": "# Boats\n\nA sailing boat heels in strong wind and is steered by its rudder.\n",
    "bees.md": "# Bees\n\nHoney bees dance to tell the hive where flowers are.\n",
}


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Rag:
    root = tmp_path_factory.mktemp("explain")
    rag = make_rag(root / "data", embedder)
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    rag.ingest([docs], "manuals")
    return rag


def test_explained_passages_are_the_retrieved_ones_with_their_ranks(rag: Rag) -> None:
    question = "When does the ZX-41 seal need replacing?"
    explained = rag.explain(question, "manuals", k=3)
    assert [e.passage for e in explained] == rag.retrieve(question, "manuals", k=3)
    best = explained[0]
    assert Path(best.passage.source).name == "pumps.md"
    assert best.lexical_rank == 1 and best.vector_rank == 1
    for e in explained:
        assert e.lexical_rank is not None or e.vector_rank is not None
        fused = sum(1 / (DEFAULT_TUNING.rrf_k + r) for r in (e.lexical_rank, e.vector_rank)
                    if r is not None)
        assert e.passage.score == pytest.approx(fused)
    # Only the pump page has the rare words: the others were found by their vectors alone.
    assert all(e.lexical_rank is None for e in explained[1:])


def test_one_sided_modes_rank_one_side(rag: Rag) -> None:
    [lexical] = rag.explain("ZX-41", "manuals", k=1, mode="lexical")
    assert (lexical.lexical_rank, lexical.vector_rank) == (1, None)
    [vector] = rag.explain("insects and flowers", "manuals", k=1, mode="vector")
    assert (vector.lexical_rank, vector.vector_rank) == (None, 1)


def test_cli_explain(rag: Rag, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["query", "ZX-41 seal", "--collection", "manuals", "-k", "2",
                     "--explain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1. [") and lines[0].endswith("] Pumps")
    assert lines[2].startswith("   lexical rank 1, vector rank 1, fused score 0.03")
    assert lines[3] == "   under: Pumps"
    assert any("lexical rank -, vector rank 2" in line for line in lines[4:])
    assert cli.main(["query", "ZX-41 seal", "--collection", "manuals", "-k", "2", "--json",
                     "--explain"]) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert (first["lexical_rank"], first["vector_rank"], first["fused_rank"]) == (1, 1, 1)
    assert (second["lexical_rank"], second["vector_rank"]) == (None, 2)
    assert first["headings"] == ["Pumps"]
    assert set(first) == {"text", "source", "title", "page", "score", "lexical_rank",
                          "vector_rank", "fused_rank", "headings"}
