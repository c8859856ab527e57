"""The Chroma server goes away and comes back (a real `chroma run`, killed and started again on
its port and folder): chat goes on without the documents and says so, an upload fails with a
readable reason and writes nothing, and after Chroma's return both work, the collection
holding exactly what was added."""

from __future__ import annotations

import io
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from harness.fake_llm import FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.processes import free_port, running
from harness.uploads import rag_data_dir

CHROMA = Path(sys.executable).parent / "chroma"
QUESTION = "What colour is the Zorblax lighthouse?"


def chroma_server(stack: ExitStack, port: int, path: Path) -> None:
    url = f"http://127.0.0.1:{port}"
    stack.enter_context(running([str(CHROMA), "run", "--path", str(path), "--host",
                                 "127.0.0.1", "--port", str(port)], f"{url}/api/v2/heartbeat",
                                log=Path(os.devnull), timeout=60))


def post(tab: Tab, name: str, body: bytes) -> TestResponse:
    return tab.browser.post("/documents/files", headers={"Origin": ORIGIN},
                            data={"collection": "docs", "files": [(io.BytesIO(body), name)]})


def add(chat: ChatApp, tab: Tab, name: str, body: bytes) -> dict:
    start = tab.mark()
    response = post(tab, name, body)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    return tab.wait("ingest", since=start, timeout=120,
                    where=lambda d: d["job"] == job and d["state"] in ("done", "failed"))[1]


def test_chroma_down_then_back(tmp_path_factory: pytest.TempPathFactory,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    chroma_path = tmp_path_factory.mktemp("chroma-outage")
    monkeypatch.setenv("CHROMA_URL", f"http://127.0.0.1:{port}")
    with FakeLLM() as llm, ExitStack() as chroma:
        chroma_server(chroma, port, chroma_path)
        chat = ChatApp(rag_data_dir(tmp_path_factory, "outage"), llm.url, rag_timeout=5)
        tab = chat.tab()
        first = add(chat, tab, "lighthouse.md", b"# Zorblax lighthouse\n\nThe Zorblax "
                    b"lighthouse is painted bright violet.")
        assert first["state"] == "done", first
        tab.wait("settings", since=tab.emit("settings", {"rag": True,
                                                          "rag_collection": "docs"}))
        _, event, done = tab.ask(QUESTION)
        assert event == "done" and done["sources"]

        chroma.close()  # Chroma is gone
        start = tab.send(QUESTION)
        name, done = tab.wait("done", "error", since=start, timeout=60)
        assert name == "done" and not done["sources"]
        notices = [n["text"] for n in tab.since(start, "notice")]
        assert any("Could not search collection `docs`" in n for n in notices), notices
        refused = post(tab, "bakery.md", b"# Marmot bakery\n\nThe bakery sells rye bread.")
        assert refused.status_code == 503
        assert refused.get_json()["error"].startswith("Nothing can be added now: Chroma at ")

        chroma_server(chroma, port, chroma_path)  # back, with its data
        _, event, done = tab.ask(QUESTION)
        assert event == "done" and done["sources"]
        again = add(chat, tab, "bakery.md", b"# Marmot bakery\n\nThe bakery sells rye bread.")
        assert again["state"] == "done" and again["summary"]["added"] == 1, again
        listing = tab.wait("collections", since=tab.emit("collections", {}))[1]["collections"]
        [docs] = [c for c in listing if c["name"] == "docs"]
        assert docs["documents"] == 2
        chat.close()
