"""A collection's documents: listed, removed (both indexes), URL sources fetched again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.documents import HTML, html_page, make_pdf, make_rag, serve
from rag import Rag, RagError, cli
from rag.embedding import Embedder


def _collection(tmp_path: Path, embedder: Embedder) -> tuple[Rag, Path]:
    rag = make_rag(tmp_path / "data", embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bread.md").write_text("# Bread\n\nYeast makes the dough rise before baking.\n")
    (docs / "tides.txt").write_text("Tides follow the moon: two high waters a day.\n")
    (docs / "book.pdf").write_bytes(make_pdf(["Glaciers carve valleys.", "Dunes migrate."],
                                             title="Landforms"))
    assert len(rag.ingest([docs], "shelf").added) == 3
    return rag, docs


def test_documents_listed_with_kind_chunks_and_date(tmp_path: Path, embedder: Embedder) -> None:
    rag, docs = _collection(tmp_path, embedder)
    listed = {Path(d.source).name: d for d in rag.documents("shelf")}
    assert set(listed) == {"bread.md", "tides.txt", "book.pdf"}
    assert (listed["book.pdf"].kind, listed["book.pdf"].title) == ("pdf", "Landforms")
    assert listed["book.pdf"].chunks == 2
    assert (listed["bread.md"].kind, listed["tides.txt"].kind) == ("markdown", "text")
    assert all(d.added.startswith("20") and d.chunks >= 1 for d in listed.values())
    assert sum(d.chunks for d in listed.values()) == rag.collection("shelf").chunks


def test_remove_document_drops_it_from_both_indexes(tmp_path: Path, embedder: Embedder) -> None:
    rag, docs = _collection(tmp_path, embedder)
    source = str(docs / "bread.md")
    assert rag.remove_document("shelf", source) == 1
    assert source not in {d.source for d in rag.documents("shelf")}
    for mode in ("lexical", "vector", "hybrid"):
        found = rag.retrieve("yeast dough rise", "shelf", k=5, mode=mode)  # type: ignore[arg-type]
        assert source not in {p.source for p in found}, mode
    info = rag.collection("shelf")
    assert (info.documents, info.chunks) == (2, 3)
    # A fresh process (its lexical index checked against Chroma) agrees.
    again = make_rag(tmp_path / "data", embedder)
    assert {Path(d.source).name for d in again.documents("shelf")} == {"tides.txt", "book.pdf"}
    with pytest.raises(RagError, match="no document"):
        rag.remove_document("shelf", source)
    with pytest.raises(RagError, match="no collection"):
        rag.documents("nope")


def test_refetch_reembeds_only_changed_content(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    page = {"body": "<p>The ferry leaves at nine from pier four.</p>"}

    def answer() -> tuple[int, dict[str, str], bytes]:
        return 200, HTML, html_page("Ferry", page["body"])

    with serve({"/ferry": answer}) as base:
        url = base + "/ferry"
        assert rag.ingest([url], "web").added == [url]
        unchanged = rag.refetch("web", url)
        assert (unchanged.unchanged, unchanged.chunks) == ([url], 0)
        page["body"] = "<p>The ferry now leaves at ten from pier six.</p>"
        changed = rag.refetch("web", url)
        assert changed.replaced == [url] and changed.chunks == 1
    [best] = rag.retrieve("when does the ferry leave", "web", k=1)
    assert "ten from pier six" in best.text
    # The server is gone: the failure is reported and the stored version kept.
    gone = rag.refetch("web", url)
    assert [f.source for f in gone.failed] == [url]
    assert [d.chunks for d in rag.documents("web")] == [1]
    with pytest.raises(RagError, match="not a URL"):
        rag.refetch("web", "/etc/hosts")
    with pytest.raises(RagError, match="no document"):
        rag.refetch("web", base + "/other")


def test_cli_documents_and_remove(tmp_path: Path, embedder: Embedder,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rag, docs = _collection(tmp_path, embedder)
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["documents", "--collection", "shelf"]) == 0
    out = capsys.readouterr().out
    assert "3 documents, 4 chunks in collection 'shelf'." in out
    assert f"{docs / 'book.pdf'} (Landforms)" in out and out.splitlines()[0].startswith("kind")
    assert cli.main(["documents", "--collection", "shelf", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {d["kind"] for d in listed} == {"pdf", "markdown", "text"}
    monkeypatch.chdir(docs)  # a relative path names the stored absolute one
    assert cli.main(["remove", "tides.txt", "--collection", "shelf"]) == 0
    assert f"Removed {docs / 'tides.txt'} (1 chunks)" in capsys.readouterr().out
    assert cli.main(["remove", "tides.txt", "--collection", "shelf"]) == 2
    assert "no document" in capsys.readouterr().err
    assert cli.main(["refetch", "notes.md", "--collection", "shelf"]) == 2
    assert "not a URL" in capsys.readouterr().err


def test_each_document_keeps_its_health(tmp_path: Path, embedder: Embedder,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from rag import ingest

    clock = iter(f"2026-12-0{day}T10:00:00+00:00" for day in range(1, 10))
    monkeypatch.setattr(ingest, "now_utc", lambda: next(clock))
    rag = make_rag(tmp_path / "data", embedder)
    page = {"status": 200, "body": "<p>The ferry leaves at nine from pier four.</p>"}

    def answer() -> tuple[int, dict[str, str], bytes]:
        return page["status"], HTML, html_page("Ferry", page["body"])

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    with serve({"/ferry": answer}) as base:
        url = base + "/ferry"
        rag.ingest([url], "web")  # day 1
        rag.ingest([broken], "web")  # day 2
        rag.refetch("web", url)  # day 3, unchanged
        page["status"] = 500
        rag.refetch("web", url)  # day 4, failed: the stored version stays
        [doc] = rag.documents("web")
        assert (doc.first_added, doc.added, doc.checked) == (
            "2026-12-01T10:00:00+00:00", "2026-12-01T10:00:00+00:00",
            "2026-12-04T10:00:00+00:00")
        assert "500" in doc.problem
        page.update(status=200, body="<p>The ferry now leaves at ten.</p>")
        rag.refetch("web", url)  # day 5, changed
        [doc] = rag.documents("web")
        assert (doc.first_added, doc.added, doc.checked, doc.problem) == (
            "2026-12-01T10:00:00+00:00", "2026-12-05T10:00:00+00:00",
            "2026-12-05T10:00:00+00:00", "")
    [failed] = rag.failed_sources("web")
    assert (failed.source, failed.checked) == (str(broken), "2026-12-02T10:00:00+00:00")
    assert failed.reason
    # Removed, a document's history goes with it; a fixed file leaves the failed list.
    rag.remove_document("web", url)
    broken.write_text("Now a readable text file.")
    broken.rename(fixed := tmp_path / "fixed.txt")
    rag.ingest([fixed], "web")
    assert [d.source for d in rag.documents("web")] == [str(fixed)]
    assert [f.source for f in rag.failed_sources("web")] == [str(broken)]
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["documents", "--collection", "web"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["kind", "chunks", "changed", "(UTC)", "checked", "(UTC)",
                              "source", "(title)"]
    assert out[1].split()[2:6] == ["2026-12-06", "10:00", "2026-12-06", "10:00"]
    assert out[-2:] == ["Failed, never stored:",
                        f"  2026-12-02 10:00  {broken}: {failed.reason}"]
