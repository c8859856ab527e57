"""RAG_WATCH and RAG_REFETCH_HOURS (chatbot/documents/maintenance.py): a watched folder
reaches its collection from the chatbot, one process of those sharing a DATA_DIR does the
work, and URL sources are fetched again with only changed pages embedded again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from chatbot.documents.library import Library
from chatbot.documents.maintenance import LAST_REFETCH, Maintenance
from chatbot.settings import Settings
from harness.documents import HTML, html_page, serve
from harness.processes import wait_until


def _names(library: Library, collection: str) -> set[str]:
    try:
        return {Path(d.source).name for d in library.rag.documents(collection)}
    except Exception:  # noqa: BLE001 - not created yet
        return set()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "heron.md").write_text("# Herons\n\nThe heron nests in tall reeds.\n")
    return notes


@pytest.fixture
def running(tmp_path: Path, folder: Path) -> Iterator[tuple[Maintenance, Library]]:
    settings = Settings(data_dir=tmp_path / "data", rag_watch=f"{folder}:notes")
    library = Library.open(settings)
    maintenance = Maintenance(settings, library)
    maintenance.start()
    yield maintenance, library
    maintenance.close()
    library.rag.close()


def test_a_watched_folder_reaches_its_collection(running: tuple[Maintenance, Library],
                                                 folder: Path) -> None:
    _, library = running
    wait_until(lambda: _names(library, "notes") == {"heron.md"}, "the first round", 120)
    (folder / "tides.txt").write_text("Tides follow the moon.\n")
    (folder / "heron.md").unlink()
    wait_until(lambda: _names(library, "notes") == {"tides.txt"}, "the change", 60)


def test_one_process_of_a_data_dir_maintains(running: tuple[Maintenance, Library],
                                             tmp_path: Path) -> None:
    first, library = running
    wait_until(lambda: first._lock_file is not None, "the lock", 30)
    second = Maintenance(Settings(data_dir=tmp_path / "data", rag_watch="x:notes"), library)
    assert not second._take_lock()
    first.close()
    assert second._take_lock()
    second.close()


def test_url_sources_fetched_again(tmp_path: Path) -> None:
    page = {"body": "<p>The ferry leaves at nine from pier four.</p>"}

    def answer() -> tuple[int, dict[str, str], bytes]:
        return 200, HTML, html_page("Ferry", page["body"])

    with serve({"/ferry": answer, "/pier": (200, HTML, html_page("Pier", "<p>Pier.</p>"))}
               ) as base:
        settings = Settings(data_dir=tmp_path / "data", rag_refetch_hours=24,
                            rag_url_allowlist=base.split("//", 1)[1])
        library = Library.open(settings)
        try:
            library.rag.ingest([base + "/ferry"], "web")
            note = tmp_path / "note.txt"
            note.write_text("A file: never fetched.\n")
            library.rag.ingest([base + "/pier", note], "other")
            maintenance = Maintenance(settings, library)
            assert maintenance.refetch_all() == (0, 2, 0)
            page["body"] = "<p>The ferry now leaves at ten from pier six.</p>"
            assert maintenance.refetch_all() == (1, 1, 0)
            [best] = library.rag.retrieve("when does the ferry leave", "web", k=1)
            assert "ten from pier six" in best.text
        finally:
            library.rag.close()


def test_the_schedule_counts_from_the_last_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / LAST_REFETCH).write_text(str(time.time()))
    settings = Settings(data_dir=data, rag_refetch_hours=1)
    library = Library.open(settings)
    maintenance = Maintenance(settings, library)
    ran: list[int] = []
    maintenance.refetch_all = lambda: ran.append(1) or (0, 0, 0)  # type: ignore[method-assign]
    maintenance.start()
    try:
        wait_until(lambda: maintenance._lock_file is not None, "the lock", 30)
        time.sleep(1)
        assert not ran  # ran an hour ago at most: not again at start
    finally:
        maintenance.close()
        library.rag.close()


def test_rag_watch_must_name_pairs() -> None:
    with pytest.raises(ValidationError, match="DIR:COLLECTION"):
        Settings(rag_watch="/srv/notes")
    assert Settings(rag_watch="/srv/a:notes, /srv/b:c:docs").watched_folders == [
        (Path("/srv/a"), "notes"), (Path("/srv/b:c"), "docs")]
