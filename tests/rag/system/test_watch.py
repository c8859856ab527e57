"""A watched folder (rag/watch.py, `rag watch`): new, changed and deleted files reach the
collection, a file still being written waits, and a restart catches up on what changed
while nothing watched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.documents import make_rag
from harness.processes import wait_until
from rag import RagError
from rag.embedding import Embedder
from rag.watch import FolderWatch, describe

ROOT = Path(__file__).resolve().parents[3]


def _names(rag, collection: str = "notes") -> set[str]:  # noqa: ANN001 - a Rag
    return {Path(d.source).name for d in rag.documents(collection)}


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    # A second write within the same clock tick must still look changed.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_changes_reach_the_collection_once_settled(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "heron.md").write_text("# Herons\n\nThe heron nests in tall reeds.\n")
    (folder / "rock.txt").write_text("Granite is an igneous rock.\n")
    (folder / "picture.png").write_bytes(b"\x89PNG not a document")
    (folder / ".hidden.txt").write_text("never read")
    watch = FolderWatch(rag, folder, "notes")

    first = watch.check()
    assert sorted(Path(s).name for s in first.summary.added) == ["heron.md", "rock.txt"]
    assert watch.check().empty  # nothing changed

    _touch(folder / "heron.md", "# Herons\n\nHerons eat fish from the shallows.\n")
    (folder / "new.txt").write_text("Basalt cools fast.\n")
    (folder / "rock.txt").unlink()
    seen = watch.check()
    # Deletions act at once; new and changed files wait a round to be sure they are whole.
    assert [Path(s).name for s in seen.removed] == ["rock.txt"]
    assert not seen.summary.added and not seen.summary.replaced
    settled = watch.check()
    assert [Path(s).name for s in settled.summary.added] == ["new.txt"]
    assert [Path(s).name for s in settled.summary.replaced] == ["heron.md"]
    assert _names(rag) == {"heron.md", "new.txt"}
    assert "fish" in rag.retrieve("what do herons eat", "notes", k=1)[0].text
    assert describe(settled) == [f"added {folder / 'new.txt'}",
                                 f"updated {folder / 'heron.md'}"]


def test_a_file_still_changing_waits(tmp_path: Path, embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    folder = tmp_path / "notes"
    folder.mkdir()
    watch = FolderWatch(rag, folder, "notes")
    watch.check()
    growing = folder / "log.txt"
    for part in range(3):
        _touch(growing, "line\n" * (part + 1))
        assert watch.check().empty  # changed again since the last round: not yet
    assert [Path(s).name for s in watch.check().summary.added] == ["log.txt"]


def test_a_restart_catches_up(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha is the first letter.\n")
    (folder / "b.txt").write_text("Beta is the second letter.\n")
    FolderWatch(make_rag(tmp_path / "data", embedder), folder, "notes").check()
    # While nothing watches: one file changes, one goes, one arrives.
    _touch(folder / "a.txt", "Alpha comes before beta.\n")
    (folder / "b.txt").unlink()
    (folder / "c.txt").write_text("Gamma is the third letter.\n")
    rag = make_rag(tmp_path / "data", embedder)
    caught_up = FolderWatch(rag, folder, "notes").check()
    assert [Path(s).name for s in caught_up.summary.added] == ["c.txt"]
    assert [Path(s).name for s in caught_up.summary.replaced] == ["a.txt"]
    assert [Path(s).name for s in caught_up.removed] == ["b.txt"]
    assert _names(rag) == {"a.txt", "c.txt"}


def test_documents_outside_the_folder_are_left_alone(tmp_path: Path,
                                                      embedder: Embedder) -> None:
    rag = make_rag(tmp_path / "data", embedder)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("Kept, though not in the watched folder.\n")
    rag.ingest([elsewhere], "notes")
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "in.txt").write_text("Inside the folder.\n")
    FolderWatch(rag, folder, "notes").check()
    assert _names(rag) == {"elsewhere.txt", "in.txt"}


def test_a_missing_folder_is_an_error(tmp_path: Path, embedder: Embedder) -> None:
    watch = FolderWatch(make_rag(tmp_path / "data", embedder), tmp_path / "nope", "notes")
    with pytest.raises(RagError, match="not a folder"):
        watch.check()


def test_rag_watch_command(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "heron.md").write_text("# Herons\n\nThe heron nests in tall reeds.\n")
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "rag", "watch", str(folder), "--collection", "notes",
             "--interval", "1"], stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        def printed(line: str) -> None:
            wait_until(lambda: line in out.read_text(), repr(line), timeout=120)

        printed("1 added")
        (folder / "new.txt").write_text("Basalt cools fast.\n")
        printed(f"added {folder / 'new.txt'}")
        (folder / "heron.md").unlink()
        printed(f"removed {folder / 'heron.md'}")
    finally:
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 0
    text = out.read_text()
    assert text.startswith(f"Watching {folder} for collection 'notes' (every 1 s; Ctrl-C stops).")
    assert text.rstrip().endswith("Stopped watching.")
