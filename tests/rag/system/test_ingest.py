"""Ingest and retrieve end to end: real files, a loopback site, embedded Chroma, the CLI."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from harness.documents import HTML, html_page, image_only_pdf, make_pdf, make_rag, serve
from rag import Rag, RagError, cli
from rag.embedding import Embedder
from rag.lexical import LexicalIndex
from rag.settings import RagSettings

TOPICS = {
    "volcano.md": "# Volcanoes\n\nMagma rises through the crust and erupts as lava. The "
    "Pacific Ring of Fire holds most of the world's active volcanoes.\n",
    "bread.md": "# Baking bread\n\nYeast ferments the sugars in flour dough, releasing carbon "
    "dioxide that makes the loaf rise before it goes in the oven.\n",
    "chess.txt": "Chess openings. The Sicilian Defence answers 1.e4 with c5 and leads to sharp, "
    "unbalanced positions favoured by attacking players.\n",
    "whales.html": html_page("Whales", "<p>Blue whales are the largest animals ever known; "
                             "they feed almost entirely on krill.</p>").decode(),
}
PDF_PAGES = [
    "Photosynthesis converts sunlight, water and carbon dioxide into glucose in chloroplasts.",
    "The French Revolution began in 1789 with the storming of the Bastille in Paris.",
    "Compilers translate source code into machine code through parsing and optimisation.",
]
QUESTIONS = [
    ("Which animal eats krill and is the biggest?", "whales.html", None),
    ("Why does dough rise?", "bread.md", None),
    ("What is the Ring of Fire?", "volcano.md", None),
    ("How should black respond to e4 for an aggressive game?", "chess.txt", None),
    ("When did the storming of the Bastille happen?", "book.pdf", 2),
    ("How do plants make glucose from light?", "book.pdf", 1),
    ("What does a compiler do?", "book.pdf", 3),
]


def write_corpus(folder: Path) -> Path:
    folder.mkdir()
    for name, text in TOPICS.items():
        (folder / name).write_text(text)
    (folder / "book.pdf").write_bytes(make_pdf(PDF_PAGES, title="Mixed book"))
    (folder / "scan.pdf").write_bytes(image_only_pdf())
    (folder / "locked.pdf").write_bytes(make_pdf(["secret"], password="pw"))
    (folder / "blob.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "empty.md").write_text("\n\n")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Rag, Path]:
    root = tmp_path_factory.mktemp("ingest")
    rag = make_rag(root / "data", embedder)
    folder = write_corpus(root / "docs")
    summary = rag.ingest([folder], "docs")
    assert len(summary.added) == 5
    failed = {Path(f.source).name: f.reason for f in summary.failed}
    assert set(failed) == {"scan.pdf", "locked.pdf", "blob.txt", "empty.md"}
    assert "encrypted" in failed["locked.pdf"] and "binary" in failed["blob.txt"]
    assert "empty" in failed["empty.md"] and "no extractable text" in failed["scan.pdf"]
    return rag, folder


@pytest.mark.parametrize(("question", "name", "page"), QUESTIONS)
def test_right_passage_first(corpus: tuple[Rag, Path], question: str, name: str,
                             page: int | None) -> None:
    rag, _ = corpus
    best = rag.retrieve(question, "docs", k=3)[0]
    assert Path(best.source).name == name
    assert best.page == page


def test_reingest_unchanged_changes_nothing(corpus: tuple[Rag, Path]) -> None:
    rag, folder = corpus
    before = {c.name: (c.chunks, c.documents) for c in rag.collections()}
    summary = rag.ingest([folder], "docs")
    assert len(summary.unchanged) == 5 and not summary.added and not summary.replaced
    assert summary.chunks == 0
    assert {c.name: (c.chunks, c.documents) for c in rag.collections()} == before


def test_changed_source_replaces_its_chunks(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nThe secret launch code is ALPHA-ONE.\n")
    rag.ingest([doc], "col1")
    doc.write_text("# Notes\n\nThe secret launch code is BRAVO-TWO.\n")
    summary = rag.ingest([doc], "col1")
    assert summary.replaced == [str(doc)]
    texts = [p.text for p in rag.retrieve("secret launch code", "col1", k=10)]
    assert texts == ["The secret launch code is BRAVO-TWO."]
    assert [p.text for p in rag.retrieve("ALPHA", "col1", k=10, mode="lexical")] == []
    [info] = rag.collections()
    assert (info.chunks, info.documents) == (1, 1)


def test_interrupted_ingest_leaves_old_version_then_completes(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    doc = tmp_path / "long.md"
    doc.write_text("# Old\n\n" + "\n\n".join(f"Old paragraph {i} " * 30 for i in range(8)))
    rag.ingest([doc], "col2")
    old_chunks = rag.collections()[0].chunks
    doc.write_text("# New\n\n" + "\n\n".join(f"New paragraph {i} " * 30 for i in range(8)))

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(rag.store.open("col2", embedder.name, embedder.dim, create=False).__class__,
                      "replace_source", interrupted)
        with pytest.raises(KeyboardInterrupt):
            rag.ingest([doc], "col2")
    hits = rag.retrieve("paragraph", "col2", k=50)
    assert hits and all("Old paragraph" in p.text for p in hits)
    assert rag.collections()[0].chunks == old_chunks
    summary = rag.ingest([doc], "col2")
    assert summary.replaced == [str(doc)]
    hits = rag.retrieve("paragraph", "col2", k=50)
    assert hits and all("New paragraph" in p.text for p in hits)


def test_crash_between_writes_is_repaired(tmp_path: Path, embedder: Embedder) -> None:
    """Chunks written but never shown (a kill mid-write) stay invisible and are replaced."""
    rag = make_rag(tmp_path / "data", embedder)
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nQuokkas live on Rottnest Island.\n")
    rag.ingest([doc], "col3")
    collection = rag.store.open("col3", embedder.name, embedder.dim, create=False)
    collection.chroma.update(ids=collection.chroma.get()["ids"],
                             metadatas=[{"live": False}])
    collection.lexical.db.execute("UPDATE chunks SET live = 0")
    assert rag.retrieve("quokka", "col3") == []
    assert rag.ingest([doc], "col3").replaced == [str(doc)]
    assert "Quokkas" in rag.retrieve("quokka", "col3")[0].text


def test_embedding_word_pieces_equals_embedding_text(embedder: Embedder) -> None:
    texts = ["Quokkas live on Rottnest Island.", "short", "The part number is XJ-9000.\n\n"
             + "More words. " * 40, "too long " * 300]
    ids = [e.ids for e in embedder.tokenizer.encode_batch(texts)]
    # Beyond the model's 256 pieces, cut as its own tokenizer would ([SEP] kept last).
    assert np.abs(embedder.embed_ids(ids) - embedder.embed(texts)).max() < 1e-5


def test_collections_holding_text_as_chroma_documents_still_read(
        tmp_path: Path, embedder: Embedder) -> None:
    """Collections written before the text moved into the metadata."""
    rag = make_rag(tmp_path / "data", embedder)
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nQuokkas live on Rottnest Island.\n")
    rag.ingest([doc], "col5")
    collection = rag.store.open("col5", embedder.name, embedder.dim, create=False)
    got = collection.chroma.get(include=["metadatas", "embeddings"])
    metadata = {k: v for k, v in got["metadatas"][0].items() if k != "text"}
    collection.chroma.upsert(ids=got["ids"], embeddings=got["embeddings"],
                             documents=[got["metadatas"][0]["text"]], metadatas=[metadata])
    collection.chroma.update(ids=got["ids"], metadatas=[{"text": None}])
    assert "text" not in collection.chroma.get(include=["metadatas"])["metadatas"][0]
    [hit] = rag.retrieve("Where do quokkas live?", "col5", k=1, mode="vector")
    assert hit.text == "Quokkas live on Rottnest Island."


def test_lexical_index_rebuilt_from_chroma(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nThe part number is XJ-9000.\n")
    rag.ingest([doc], "col4")
    rag.store.close()
    (tmp_path / "data/lexical/col4.sqlite3").unlink()
    fresh = make_rag(tmp_path / "data", embedder)
    assert "XJ-9000" in fresh.retrieve("XJ-9000", "col4", mode="lexical")[0].text


def test_hybrid_beats_vector_on_rare_exact_terms(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    # Near-identical passages told apart only by an identifier: embeddings blur identifiers,
    # BM25 matches them exactly.
    codes = ["0x7f3a9c21", "0x7f3a9d44", "0x1b88e0f2", "0x1b88e1a7", "0x55c0de01",
             "0x55c0de9e", "0x9e2f4b60", "0x9e2f4b7d", "0x3d0c77aa", "0x3d0c78b3"]
    folder = tmp_path / "errors"
    folder.mkdir()
    for i, code in enumerate(codes):
        (folder / f"{i}.md").write_text(
            "# Storage incident report\n\nThe upload service failed while writing to the "
            "storage cluster; retries were exhausted and the operator was paged. The disk "
            f"quota check returned an unexpected status, fault address {code}. The incident "
            "was closed after the quota was raised.\n")
    rag.ingest([folder], "codes")

    def hits_at_1(mode: str) -> int:
        return sum(
            code in rag.retrieve(f"incident with fault address {code}", "codes", 5, mode)[0].text
            for code in codes
        )

    hybrid, vector = hits_at_1("hybrid"), hits_at_1("vector")
    assert hybrid == len(codes)
    assert hybrid > vector


def test_model_mismatch_refused(corpus: tuple[Rag, Path], tmp_path: Path) -> None:
    rag, folder = corpus
    other = Rag(RagSettings(data_dir=rag.settings.data_dir, embed_backend="torch",
                            embed_model=str(rag.embedder.path)))
    with pytest.raises(RagError, match="built with embedding model 'all-MiniLM-L6-v2'"):
        other.retrieve("anything", "docs")
    with pytest.raises(RagError, match="built with"):
        other.ingest([folder / "bread.md"], "docs")


def test_urls_and_crawl(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    routes = {
        "/": (200, HTML, html_page("Garden", "<p>Tomatoes need full sun.</p>",
                                   ["/herbs", "/broken"])),
        "/herbs": (200, HTML, html_page("Herbs", "<p>Basil dislikes cold nights.</p>")),
        "/robots.txt": (404, {}, b""),
    }
    with serve(routes) as base:
        summary = rag.ingest([base + "/"], "web", crawl_depth=1)
        again = rag.ingest([base + "/"], "web", crawl_depth=1)
        refused = rag.ingest([base + "/herbs"], "web", allow_private=False)
    assert sorted(summary.added) == [base + "/", base + "/herbs"]
    failed = [(f.source, f.reason) for f in summary.failed]
    assert failed == [(base + "/broken", "HTTP 404 Not Found")]
    assert len(again.unchanged) == 2 and not again.added
    assert "non-public" in refused.failed[0].reason
    best = rag.retrieve("Which herb hates the cold?", "web")[0]
    assert (best.source, best.title) == (base + "/herbs", "Herbs")


def test_cli_end_to_end(corpus: tuple[Rag, Path], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rag, folder = corpus
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["ingest", str(folder / "bread.md"), "--collection", "docs"]) == 0
    assert "0 added, 0 replaced, 1 unchanged, 0 failed" in capsys.readouterr().out

    assert cli.main(["ingest", str(folder / "blob.txt"), str(tmp_path / "missing.md"),
                     "--collection", "docs"]) == 1
    out = capsys.readouterr().out
    assert "2 failed" in out and "binary file" in out and "no such file" in out

    assert cli.main(["query", "Bastille 1789", "--collection", "docs", "-k", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [set(r) for r in results] == [{"text", "source", "title", "page", "score"}] * 2
    assert results[0]["page"] == 2 and results[0]["title"] == "Mixed book"
    assert results[0]["score"] >= results[1]["score"]

    assert cli.main(["collections"]) == 0
    assert "docs" in capsys.readouterr().out

    assert cli.main(["query", "x", "--collection", "nope"]) == 2
    assert "no collection 'nope'" in capsys.readouterr().err

    doomed = tmp_path / "d.md"
    doomed.write_text("# D\n\nTo be deleted.\n")
    rag.ingest([doomed], "doomed")
    assert cli.main(["delete", "doomed"]) == 0
    assert "doomed" not in [c.name for c in rag.collections()]
    assert not (rag.settings.lexical_dir / "doomed.sqlite3").exists()
    assert cli.main(["delete", "doomed"]) == 2


def test_collections_listed_and_searched_while_deleted(tmp_path: Path, embedder: Embedder
                                                       ) -> None:
    """The chat app lists, searches and deletes from different threads. A lexical index
    closed under a listing once crashed the whole process (SIGSEGV in SQLite)."""
    rag = make_rag(tmp_path / "data", embedder)
    note = tmp_path / "note.txt"
    note.write_text("Otters hold hands while they sleep.\n")
    names = [f"col{i}" for i in range(8)]
    for name in names:
        rag.ingest([note], name)
    errors: list[BaseException] = []
    deleting = threading.Event()

    def delete_all() -> None:
        deleting.set()
        for name in names:
            rag.delete(name)

    def read() -> None:
        deleting.wait()
        try:
            for round_ in range(40):
                rag.collections()
                with contextlib.suppress(RagError):  # deleted: the user is told so
                    rag.retrieve("otters", names[round_ % len(names)], k=1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(3)]
    threads.append(threading.Thread(target=delete_all))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [c.name for c in rag.collections()] == []
    assert not list((tmp_path / "data" / "lexical").glob("col*.sqlite3"))


def test_listing_during_an_ingest_leaves_the_lexical_index_alone(
        tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chroma is written before the lexical index, so mid-ingest their counts differ; a
    listing must not take that for damage and rebuild the index under the writer."""
    rag = make_rag(tmp_path / "data", embedder)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"n{i}.md").write_text(f"# Note {i}\n\nItem {i} is stored on shelf {i * 7}.\n")
    rag.ingest([folder / "n0.md"], "notes")
    rebuilds: list[str] = []
    original = LexicalIndex.clear
    monkeypatch.setattr(LexicalIndex, "clear",
                        lambda self: (rebuilds.append(self.path.name), original(self))[1])
    listed: list[int] = []
    done = threading.Event()

    def list_until_done() -> None:
        while not done.is_set():
            listed.extend(c.chunks for c in rag.collections())

    lister = threading.Thread(target=list_until_done)
    lister.start()
    try:
        summary = rag.ingest([folder], "notes")
    finally:
        done.set()
        lister.join()
    assert len(summary.added) == 29 and len(listed) > 1
    assert rebuilds == []
    collection = rag.store.open("notes", embedder.name, embedder.dim, create=False)
    assert collection.lexical.count() == collection.chroma.count() == 30
    assert "shelf 161" in rag.retrieve("shelf 161", "notes", k=1, mode="lexical")[0].text
