"""The model picker's events on the in-process chat app (AUTH=on, an admin and a user) against
a real llmserver that pulls from the stand-in hub (harness/hub.py): only the admin may pull,
and their tabs follow the pull to its end and get the new listing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

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
from harness.inprocess import ChatApp, Tab

KEY = "pull-test-key"
PASSWORD = "correct horse battery"
WAIT_S = 60.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    content = write_gguf(tmp_path_factory.mktemp("hub") / "source.gguf")
    with serving(Hub(files={f"{REPO}/{FILE}": content}, hold=threading.Event())) as served:
        yield served


@pytest.fixture(scope="module")
def llm_url(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pulling_llmserver(hub.url, models_dir_for(tmp_path_factory.mktemp("llm"), ALIAS),
                           KEY) as url:
        yield url


@pytest.fixture
def chat(llm_url: str, make_chat: Callable[..., ChatApp]) -> ChatApp:
    app = make_chat(llm_url=llm_url, llm_api_key=KEY, auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", PASSWORD, admin=True)
    accounts.add("bob", PASSWORD)
    return app


def tab_of(chat: ChatApp, name: str) -> Tab:
    tab = chat.tab(chat.signed_in(name, PASSWORD))
    tab.history()
    return tab


def test_a_user_may_not_pull(chat: ChatApp) -> None:
    bob = tab_of(chat, "bob")
    listing = bob.wait("models", since=bob.emit("models", {}))[1]
    assert listing["can_pull"] is False
    assert listing["catalog"] == []
    assert [m["id"] for m in listing["models"]] == ["gemma-3-270m-q4_k_m"]
    refused = bob.wait("error", since=bob.emit("pull_model", {"model": f"{REPO}/{FILE}"}))[1]
    assert refused["message"] == "Only an admin can pull models (with accounts on)."
    assert "model_pull" not in [name for name, _ in bob.events()]


def test_the_admin_pulls_and_follows_it_to_the_new_listing(chat: ChatApp, hub: Hub) -> None:
    alice, bob = tab_of(chat, "alice"), tab_of(chat, "bob")
    listing = alice.wait("models", since=alice.emit("models", {}))[1]
    assert listing["can_pull"] is True
    assert listing["current"] == "gemma-3-270m-q4_k_m"
    assert "qwen2.5-0.5b-instruct" in [m["name"] for m in listing["catalog"]]
    other = tab_of(chat, "alice")  # another tab of the same admin follows it too
    start = alice.emit("pull_model", {"model": f"{REPO}/{FILE}"})
    assert alice.wait("model_pull", since=start, timeout=WAIT_S)[1]["state"] == "running"
    again = alice.emit("pull_model", {"model": "qwen2.5-0.5b-instruct"})
    assert alice.wait("error", since=again)[1]["message"] == (
        f"Could not pull qwen2.5-0.5b-instruct: {REPO}/{FILE} is being pulled; one pull at "
        "a time")
    assert hub.hold is not None
    hub.hold.set()
    size = len(hub.files[f"{REPO}/{FILE}"])
    for tab in (alice, other):
        done = tab.wait("model_pull", since=start, timeout=WAIT_S,
                        where=lambda d: d["state"] != "running")[1]
        assert done == {"model": f"{REPO}/{FILE}", "state": "done", "bytes": size,
                        "total": size, "alias": ALIAS}
        listed = tab.wait("models", since=start, timeout=WAIT_S)[1]
        assert {"id": ALIAS, "description": "A tiny test model"} in listed["models"]
    assert "model_pull" not in [name for name, _ in bob.events()]

