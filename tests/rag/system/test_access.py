"""Collection ownership: recorded in the Chroma collection's metadata at creation, changed
only by set_access (or `rag access`), and seen by every Rag on the same store."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.documents import make_rag
from rag import CollectionInfo, Rag, RagError, cli
from rag.embedding import Embedder


@pytest.fixture
def note(tmp_path: Path) -> Path:
    path = tmp_path / "note.md"
    path.write_text("# Note\n\nOtters hold hands while they sleep.\n")
    return path


@pytest.fixture
def rag(tmp_path: Path, embedder: Embedder) -> Rag:
    return make_rag(tmp_path / "data", embedder)


def access(info: CollectionInfo) -> tuple[str | None, bool]:
    return info.owner, info.shared


def test_access_recorded_at_creation_only(rag: Rag, note: Path) -> None:
    rag.ingest([note], "alices", owner="alice")
    rag.ingest([note], "handbook", owner="bob", shared=True)
    rag.ingest([note], "operators")
    assert {c.name: access(c) for c in rag.collections()} == {
        "alices": ("alice", False), "handbook": ("bob", True), "operators": (None, False)}
    assert rag.collection("handbook") == CollectionInfo("handbook", 1, 1, rag.embedder.name,
                                                        "bob", True)

    note.write_text("# Note\n\nOtters hold hands so they do not drift apart.\n")
    assert rag.ingest([note], "alices", owner="carol", shared=True).replaced == [str(note)]
    assert rag.ingest([note], "operators", owner="carol").replaced == [str(note)]
    assert access(rag.collection("alices")) == ("alice", False)
    assert access(rag.collection("operators")) == (None, False)


def test_set_access_changes_each_part_and_keeps_the_rest(rag: Rag, note: Path,
                                                         embedder: Embedder) -> None:
    rag.ingest([note], "handbook", owner="alice")
    assert rag.retrieve("otters", "handbook")  # opened (and cached) before the change

    assert access(rag.set_access("handbook", shared=True)) == ("alice", True)
    assert access(rag.set_access("handbook", owner="bob")) == ("bob", True)
    assert access(rag.set_access("handbook", owner=None)) == (None, True)
    assert access(rag.set_access("handbook", shared=False)) == (None, False)
    assert access(rag.set_access("handbook", owner="carol", shared=True)) == ("carol", True)
    assert access(rag.set_access("handbook")) == ("carol", True)

    [info] = rag.collections()
    assert (info.chunks, info.documents, info.model) == (1, 1, embedder.name)
    assert "Otters" in rag.retrieve("otters", "handbook")[0].text
    rag.ingest([note], "handbook")  # the embedding model is still checked and matches

    # Another process on the same store: it opens the collection and sees the new access.
    fresh = make_rag(rag.settings.data_dir, embedder)
    assert access(fresh.collection("handbook")) == ("carol", True)
    assert "Otters" in fresh.retrieve("otters", "handbook", mode="vector")[0].text
    fresh.set_access("handbook", owner=None, shared=False)
    assert access(rag.collection("handbook")) == (None, False)


def test_unknown_collection_and_empty_owner_refused(rag: Rag, note: Path) -> None:
    with pytest.raises(RagError, match="no collection 'nope'"):
        rag.collection("nope")
    with pytest.raises(RagError, match="no collection 'nope'"):
        rag.set_access("nope", shared=True)
    with pytest.raises(RagError, match="owner"):
        rag.ingest([note], "handbook", owner=" ")
    assert rag.collections() == []
    # Made by another tool with a distance key in its metadata, which Chroma will not rewrite.
    rag.store.client.create_collection(
        "legacy", metadata={"hnsw:space": "cosine", "embed_model": rag.embedder.name},
        embedding_function=None)
    with pytest.raises(RagError, match="cannot change the access of collection 'legacy'"):
        rag.set_access("legacy", shared=True)
    assert access(rag.collection("legacy")) == (None, False)


def test_cli_access_and_collections(rag: Rag, note: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "Rag", lambda: rag)
    assert cli.main(["ingest", str(note), "--collection", "handbook", "--owner", "alice"]) == 0
    captured = capsys.readouterr()
    assert "1 added" in captured.out and "rag: note" not in captured.err
    assert cli.main(["ingest", str(note), "--collection", "public", "--shared"]) == 0
    capsys.readouterr()

    assert cli.main(["access", "handbook"]) == 0
    assert capsys.readouterr().out == "Collection 'handbook': owner alice, private.\n"
    assert cli.main(["access", "handbook", "--shared"]) == 0
    assert capsys.readouterr().out == (
        "Collection 'handbook': owner alice, shared with everyone.\n")
    assert cli.main(["access", "handbook", "--no-owner", "--private"]) == 0
    assert capsys.readouterr().out == "Collection 'handbook': no owner (admins), private.\n"
    assert cli.main(["access", "public", "--owner", "bob"]) == 0
    assert capsys.readouterr().out == "Collection 'public': owner bob, shared with everyone.\n"

    assert cli.main(["collections"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["collection", "documents", "chunks", "model", "owner", "shared"]
    assert [row.split() for row in rows] == [
        ["handbook", "1", "1", rag.embedder.name, "-", "no"],
        ["public", "1", "1", rag.embedder.name, "bob", "yes"],
    ]

    # Ingesting into an existing collection with other access says so and changes nothing.
    assert cli.main(["ingest", str(note), "--collection", "handbook", "--owner", "alice"]) == 0
    captured = capsys.readouterr()
    assert "1 unchanged" in captured.out
    assert ("rag: note: collection 'handbook' already exists (no owner (admins), private); "
            "its access was left unchanged, `rag access` changes it.") in captured.err.splitlines()
    assert cli.main(["ingest", str(note), "--collection", "public", "--shared"]) == 0
    assert "rag: note" not in capsys.readouterr().err

    assert cli.main(["access", "nope", "--shared"]) == 2
    assert capsys.readouterr().err == "rag: error: no collection 'nope'\n"
    with pytest.raises(SystemExit):
        cli.main(["access", "handbook", "--owner", "bob", "--no-owner"])
    assert access(rag.collection("handbook")) == (None, False)
