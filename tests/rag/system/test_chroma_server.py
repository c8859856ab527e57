"""The same ingest and query against a real Chroma server started with `chroma run`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.documents import make_rag
from harness.processes import free_port, running
from rag.embedding import Embedder

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    url = f"http://127.0.0.1:{port}"
    with running([str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1",
                  "--port", str(port)], f"{url}/api/v2/heartbeat", log=Path(os.devnull),
                 timeout=60):
        yield url


def test_ingest_query_delete_through_server(chroma_url: str, tmp_path: Path,
                                            embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder, chroma_url=chroma_url)
    doc = tmp_path / "tides.md"
    doc.write_text("# Tides\n\nThe Moon's gravity pulls the oceans, causing two high tides a "
                   "day. Spring tides follow a new or full moon.\n\n## Ports\n\n"
                   "Harbour code HB-0042 marks the deepest berth.\n")
    assert rag.ingest([doc], "served").added == [str(doc)]
    assert rag.ingest([doc], "served").unchanged == [str(doc)]
    assert not (tmp_path / "data/chroma").exists()  # nothing embedded locally
    best = rag.retrieve("What causes tides?", "served")[0]
    assert "Moon's gravity" in best.text and best.source == str(doc)
    assert "HB-0042" in rag.retrieve("HB-0042", "served")[0].text

    # A second machine (fresh DATA_DIR, no lexical index) sees the same collection.
    other = make_rag(tmp_path / "other", embedder, chroma_url=chroma_url)
    [info] = other.collections()
    assert (info.name, info.chunks, info.documents) == ("served", 2, 1)
    assert "HB-0042" in other.retrieve("HB-0042", "served", mode="lexical")[0].text
    other.delete("served")
    assert rag.collections() == []


def test_access_round_trips_through_server(chroma_url: str, tmp_path: Path,
                                           embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder, chroma_url=chroma_url)
    doc = tmp_path / "otters.md"
    doc.write_text("# Otters\n\nOtters hold hands while they sleep.\n")
    rag.ingest([doc], "owned", owner="alice")
    assert "Otters" in rag.retrieve("otters", "owned")[0].text  # opened before the change

    # Another machine changes the access; both see it, and both still search the collection.
    other = make_rag(tmp_path / "other", embedder, chroma_url=chroma_url)
    changed = other.set_access("owned", owner="bob", shared=True)
    assert (changed.owner, changed.shared, changed.model) == ("bob", True, embedder.name)
    [info] = rag.collections()
    assert (info.owner, info.shared, info.chunks) == ("bob", True, 1)
    assert "Otters" in rag.retrieve("otters", "owned")[0].text
    assert "Otters" in other.retrieve("otters", "owned", mode="vector")[0].text
    other.set_access("owned", owner=None)
    assert (rag.collection("owned").owner, rag.collection("owned").shared) == (None, True)
    rag.delete("owned")
