"""`POST /v1/models/pull` on a real llmserver against the stand-in hub (harness/hub.py): the
pull runs in the background, one at a time, behind the API key, and what it saves is offered
by `/v1/models` without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.hub import (
    ALIAS,
    FILE,
    REPO,
    Hub,
    models_dir_for,
    pulling_llmserver,
    serving,
    write_gguf,
)
from harness.processes import DEFAULT_MODELS_DIR, free_port
from llmserver.models.discovery import DEFAULT_MODEL_FILE

KEY = "pull-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WAIT_S = 60.0



@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    content = write_gguf(tmp_path_factory.mktemp("hub") / "source.gguf")
    # And a real model (the packaged one under another name), for llama-server to load.
    real = (DEFAULT_MODELS_DIR / DEFAULT_MODEL_FILE).read_bytes()
    with serving(Hub(files={f"{REPO}/{FILE}": content, f"{REPO}/copy.gguf": real})) as served:
        yield served


@pytest.fixture(scope="module")
def server(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    models = models_dir_for(tmp_path_factory.mktemp("pull"), ALIAS)
    with pulling_llmserver(hub.url, models, KEY) as url:
        yield url


def settled(url: str) -> dict[str, Any]:
    """The pull's state once it is no longer running."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/v1/models/pull", headers=AUTH).json()
        if state["state"] != "running":
            return state
        time.sleep(0.2)
    raise AssertionError(f"the pull is still running after {WAIT_S} s")


def test_a_pull_from_the_api_is_offered_at_once(server: str, hub: Hub) -> None:
    assert httpx.get(f"{server}/v1/models/pull", headers=AUTH).json()["state"] == "idle"
    hub.hold = threading.Event()
    try:
        started = httpx.post(f"{server}/v1/models/pull", json={"model": f"{REPO}/{FILE}"},
                             headers=AUTH)
        assert started.status_code == 202
        assert started.json()["state"] == "running"
        busy = httpx.post(f"{server}/v1/models/pull", json={"model": "qwen2.5-0.5b-instruct"},
                          headers=AUTH)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "pull_in_progress"
    finally:
        hub.hold.set()
    size = len(hub.files[f"{REPO}/{FILE}"])
    assert settled(server) == {"model": f"{REPO}/{FILE}", "state": "done", "bytes": size,
                               "total": size, "alias": ALIAS}
    listed = httpx.get(f"{server}/v1/models", headers=AUTH).json()["data"]
    offered = {m["id"]: m.get("description") for m in listed}
    assert offered[ALIAS] == "A tiny test model"
    # The default model stays first.
    assert listed[0]["id"] == Path(DEFAULT_MODEL_FILE).stem


def test_the_catalog_names_the_curated_models(server: str) -> None:
    catalog = httpx.get(f"{server}/v1/models/pull/catalog", headers=AUTH).json()["models"]
    by_name = {m["name"]: m for m in catalog}
    assert by_name["qwen2.5-0.5b-instruct"]["size"] == "0.4 GB"
    assert by_name["qwen2.5-0.5b-instruct"]["description"]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/models/pull"), ("GET", "/v1/models/pull"),
    ("GET", "/v1/models/pull/catalog")])
def test_pulling_needs_the_key(server: str, method: str, path: str) -> None:
    answer = httpx.request(method, f"{server}{path}", json={"model": f"{REPO}/{FILE}"})
    assert answer.status_code == 401


@pytest.mark.parametrize("body", [{}, {"model": ""}, {"model": "not-a-model"}, [1]])
def test_a_model_that_cannot_be_pulled_is_a_400(server: str, body: object) -> None:
    answer = httpx.post(f"{server}/v1/models/pull", json=body, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"


def test_an_unreachable_hub_fails_the_pull_in_words(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with pulling_llmserver(down, models_dir_for(tmp_path), KEY) as url:
        started = httpx.post(f"{url}/v1/models/pull", json={"model": "qwen2.5-0.5b-instruct"},
                             headers=AUTH)
        assert started.status_code == 202
        state = settled(url)
    assert state["state"] == "failed"
    assert state["error"] == (f"cannot reach {down}: offline, or its name does not resolve "
                              "(Connection refused)")



def test_a_pulled_model_answers_when_asked_for(server: str) -> None:
    started = httpx.post(f"{server}/v1/models/pull", json={"model": f"{REPO}/copy.gguf"},
                         headers=AUTH)
    assert started.status_code == 202
    assert settled(server)["state"] == "done"
    answer = httpx.post(f"{server}/v1/chat/completions", headers=AUTH, timeout=120, json={
        "model": "copy", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "copy"
