"""Documents into a running chatbot: data folders sharing one exported embedding model,
uploads and URL submissions as the page makes them, and waiting for their jobs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from harness.inprocess import ORIGIN, Tab
from harness.socketclient import ChatClient

# The ONNX export of the embedding model takes ~20 s; every chatbot the tests and benchmarks
# start shares one.
SHARED_MODELS = Path(tempfile.gettempdir()) / "localchat-test-embedding-models"


def rag_data_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    data = tmp_path_factory.mktemp(name)
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (data / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    return data


def upload(client: ChatClient, files: list[tuple[str, bytes]], collection: str,
           origin: str | None = "same") -> httpx.Response:
    headers = {"Cookie": client.cookie}
    if origin is not None:
        headers["Origin"] = client.base_url if origin == "same" else origin
    return httpx.post(f"{client.base_url}/documents/files", headers=headers, timeout=60,
                      data={"collection": collection},
                      files=[("files", (name, body)) for name, body in files])


def submit_url(client: ChatClient, url: str, collection: str) -> httpx.Response:
    return httpx.post(f"{client.base_url}/documents/url", timeout=60,
                      headers={"Cookie": client.cookie, "Origin": client.base_url},
                      data={"url": url, "collection": collection})


def finished(client: ChatClient, response: httpx.Response, timeout: float = 180) -> dict[str, Any]:
    """The final `ingest` event of the job an accepted request started."""
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    return client.wait("ingest", timeout=timeout,
                       where=lambda d: d["job"] == job and d["state"] in ("done", "failed"))[2]


def ingest_finished(tab: Tab, start: int, job: str) -> dict[str, Any]:
    """The end (`done` or `failed`) of ingestion `job` as an in-process tab sees it."""
    return tab.wait("ingest", since=start, timeout=120,
                    where=lambda d: d["job"] == job and d["state"] in ("done", "failed"))[1]


def add_in_process(client: FlaskClient, tab: Tab, path: str, **data: Any) -> dict[str, Any]:
    """POST documents to `path` of an in-process app as the page does; the job's end."""
    start = tab.mark()
    response = client.post(path, headers={"Origin": ORIGIN}, data=data)
    assert response.status_code == 202, response.get_json()
    return ingest_finished(tab, start, response.get_json()["job"])
