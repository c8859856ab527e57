"""Files of an upload that are not read are named, never dropped silently: the job's final
`ingest` event carries `skipped: [{"name", "reason"}]` and its text names them; an upload of
which nothing can be added is refused with each file's reason. In-process app, the real
embedding model, a real PPTX."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.fake_llm import FakeLLM
from harness.formats import make_pptx
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import rag_data_dir
from rag import SUPPORTED_EXTENSIONS


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[FlaskClient, Tab, Path]]:
    with FakeLLM() as llm:
        app = ChatApp(rag_data_dir(tmp_path_factory, "skipped"), llm.url)
        browser = app.browser()
        yield browser, app.tab(browser), app.data_dir
        app.close()


def post(browser: FlaskClient, files: list[tuple[str, bytes]]) -> Any:
    return browser.post("/documents/files", headers={"Origin": ORIGIN},
                        data={"collection": "mixed",
                              "files": [(io.BytesIO(body), name) for name, body in files]})


def test_the_ingest_result_names_the_files_not_read(page: tuple[FlaskClient, Tab, Path]
                                                    ) -> None:
    browser, tab, data_dir = page
    start = tab.mark()
    deck = make_pptx([("Ferries", ["Boats leave Kerrow every hour."], "")])
    response = post(browser, [("deck.pptx", deck), ("photo.jpg", b"\xff\xd8\xff"),
                              ("todo.txt", b""), ("notes.md", b"# Notes\n\nValves need care.")])
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    done = tab.wait("ingest", since=start, timeout=120,
                    where=lambda d: d["job"] == job and d["state"] in ("done", "failed"))[1]
    assert done["state"] == "done" and done["names"] == ["deck.pptx", "notes.md"]
    assert done["skipped"] == [{"name": "photo.jpg", "reason": "unsupported kind '.jpg'"},
                               {"name": "todo.txt", "reason": "empty file"}]
    assert done["summary"]["added"] == 2
    assert done["text"] == ("Added 2 chunks from 2 documents to “mixed”. Not read: photo.jpg "
                            "(unsupported kind '.jpg'); todo.txt (empty file).")
    # The deck opens from its source link as a download: no browser shows a PPTX.
    [stored] = data_dir.glob("uploads/*/deck.pptx")
    served = browser.get(f"/files/{stored.parent.name}")
    assert served.status_code == 200 and served.data == deck
    assert served.headers["Content-Disposition"].startswith("attachment")


def test_an_upload_with_nothing_to_add_is_refused_with_each_reason(
        page: tuple[FlaskClient, Tab, Path]) -> None:
    browser, _, _ = page
    response = post(browser, [("photo.jpg", b"\xff\xd8\xff"), ("todo.txt", b"")])
    assert response.status_code == 400
    error = response.get_json()["error"]
    kinds = ", ".join(sorted(SUPPORTED_EXTENSIONS))
    assert error == ("photo.jpg: only PDF, HTML, Markdown, text, Word, OpenDocument, PowerPoint, "
                     f"spreadsheet and EPUB files ({kinds}) can be added. todo.txt is empty.")
