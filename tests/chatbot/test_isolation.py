"""Two users on one instance (AUTH=on): each one's conversations, uploads and collections are
theirs alone. Bob walks every Socket.IO event and HTTP route that takes an id or a
collection name with Alice's, and is refused each time; the same question asked by both
retrieves only from what each may read, down to the prompt the LLM server receives.

In-process app, canned LLM server (it records each prompt), real embedded Chroma and the
packaged embedding model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.fake_llm import FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import rag_data_dir

PASSWORD = "correct horse battery"
LIGHTHOUSE = (b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is painted "
              b"bright violet and stands 43 metres tall.")
BAKERY = (b"# Marmot bakery\n\nThe Marmot bakery sells rye bread and cinnamon buns. It "
          b"opens at six in the morning.")
QUESTION = "What colour is the Zorblax lighthouse on Quimby island?"


@dataclass
class Users:
    app: ChatApp
    llm: FakeLLM
    alice: FlaskClient
    bob: FlaskClient
    alice_tab: Tab
    bob_tab: Tab
    alice_conversation: str
    alice_file: str


def add_files(client: FlaskClient, tab: Tab, collection: str, name: str, body: bytes
              ) -> dict[str, Any]:
    start = tab.mark()
    response = client.post("/documents/files", headers={"Origin": ORIGIN},
                           data={"collection": collection,
                                 "files": [(io.BytesIO(body), name)]})
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    return tab.wait("ingest", since=start, timeout=120,
                    where=lambda d: d["job"] == job and d["state"] in ("done", "failed"))[1]


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    with FakeLLM() as llm:
        app = ChatApp(rag_data_dir(tmp_path_factory, "isolation"), llm.url, auth=True)
        accounts = app.app.extensions["chatbot"].accounts
        accounts.add("alice", PASSWORD, admin=True)
        accounts.add("bob", PASSWORD)
        alice, bob = app.signed_in("alice", PASSWORD), app.signed_in("bob", PASSWORD)
        alice_tab, bob_tab = app.tab(alice), app.tab(bob)
        assert add_files(alice, alice_tab, "alice-docs", "lighthouse.md",
                         LIGHTHOUSE)["state"] == "done"
        assert add_files(bob, bob_tab, "bob-docs", "bakery.md", BAKERY)["state"] == "done"
        assert alice_tab.ask("a private question")[1] == "done"
        conversation = alice_tab.history()["conversation"]["id"]
        store = app.app.extensions["chatbot"].store
        alice_key = accounts.by_name("alice").key
        file = next(f for f, _ in _uploads(store) if (f, alice_key) in _uploads(store))
        yield Users(app, llm, alice, bob, alice_tab, bob_tab, conversation, file)
        app.close()


def _uploads(store: Any) -> set[tuple[str, str]]:
    return {(r["file"], r["owner"]) for r in store.read("SELECT file, owner FROM uploads")}



def test_every_event_with_alices_ids_is_refused_to_bob(users: Users) -> None:
    bob, theirs = users.bob_tab, users.alice_conversation
    for event, payload, words in (
            ("switch", {"id": theirs}, "no longer exists"),
            ("rename", {"id": theirs, "title": "mine now"}, "no longer exists"),
            ("delete", {"id": theirs}, "no longer exists"),
            ("settings", {"rag": True, "rag_collection": "alice-docs"}, "no collection"),
            ("delete_collection", {"name": "alice-docs"}, "no such collection"),
            ("share_collection", {"name": "alice-docs", "shared": True}, "Only an admin"),
            ("message", {"text": "/rag on alice-docs"}, "No collection `alice-docs`")):
        assert words in bob.refused(event, payload), event
    start = bob.send("/rag list")
    listing = bob.wait("notice", since=start)[1]["text"]
    assert "bob-docs" in listing and "alice-docs" not in listing
    start = bob.emit("collections", {})
    names = [c["name"] for c in bob.wait("collections", since=start)[1]["collections"]]
    assert names == ["bob-docs"]
    # Nothing of Alice's changed.
    history = users.app.tab(users.alice).history()
    assert history["conversation"]["id"] == theirs
    assert history["conversation"]["title"] == "a private question"
    assert [m["content"] for m in history["messages"]][0] == "a private question"


def test_every_route_with_alices_ids_is_refused_to_bob(users: Users) -> None:
    theirs = users.alice_conversation
    for path in (f"/conversations/{theirs}/export.json",
                 f"/conversations/{theirs}/export.md", f"/files/{users.alice_file}"):
        assert users.alice.get(path).status_code == 200, path
        assert users.bob.get(path).status_code == 404, path
    upload = users.bob.post("/documents/files", headers={"Origin": ORIGIN},
                            data={"collection": "alice-docs",
                                  "files": [(io.BytesIO(b"spam"), "spam.txt")]})
    assert upload.status_code == 403 and "taken by another user" in upload.get_json()["error"]
    url = users.bob.post("/documents/url", headers={"Origin": ORIGIN},
                         json={"url": "https://example.org/", "collection": "alice-docs"})
    assert url.status_code == 403


def test_the_same_question_retrieves_only_what_each_user_may_read(users: Users) -> None:
    for tab, collection in ((users.alice_tab, "alice-docs"), (users.bob_tab, "bob-docs")):
        start = tab.send(f"/rag on {collection}")
        assert "RAG is on" in tab.wait("notice", since=start)[1]["text"]
    _, event, done = users.alice_tab.ask(QUESTION)
    assert event == "done" and [s["title"] for s in done["sources"]] == ["Zorblax lighthouse"]
    alice_prompt = _prompt(users.llm, "violet")
    assert "Zorblax lighthouse" in alice_prompt
    # Bob's documents do not cover it: he is told so, and the closest passages are his.
    _, event, done = users.bob_tab.ask(QUESTION)
    assert event == "done" and done["sources"] == []
    closest = done["not_covered"]["closest"]
    assert [c["title"] for c in closest] == ["Marmot bakery"]
    _, event, done = users.bob_tab.ask("When does the Marmot bakery open in the morning?")
    assert event == "done" and [s["title"] for s in done["sources"]] == ["Marmot bakery"]
    bob_prompts = [m["content"] for call in users.llm.calls
                   for m in call.body["messages"] if "Marmot" in m["content"]]
    assert bob_prompts and not any("violet" in p for p in bob_prompts)


def test_a_shared_collection_is_readable_until_unshared(users: Users) -> None:
    alice, bob = users.alice_tab, users.bob_tab
    start = alice.emit("share_collection", {"name": "alice-docs", "shared": True})
    listing = alice.wait("collections", since=start)[1]["collections"]
    assert any(c["name"] == "alice-docs" and c["shared"] for c in listing)
    bob.wait("collections_changed", since=start)
    assert users.bob.get(f"/files/{users.alice_file}").status_code == 200
    start = bob.send("/rag on alice-docs")
    assert "RAG is on" in bob.wait("notice", since=start)[1]["text"]
    question = "Which island has the violet lighthouse?"
    _, event, done = bob.ask(question)
    assert event == "done" and [s["title"] for s in done["sources"]] == ["Zorblax lighthouse"]
    # Unshared: the conversation still names the collection, but it reads nothing from it.
    start = alice.emit("share_collection", {"name": "alice-docs", "shared": False})
    alice.wait("collections", since=start)
    assert users.bob.get(f"/files/{users.alice_file}").status_code == 404
    start = bob.send("How tall is the lighthouse on Quimby island?")
    name, done = bob.wait("done", "error", since=start)
    assert name == "done" and not done.get("sources")
    notices = [d["text"] for d in bob.since(start, "notice")]
    assert any("Could not search collection `alice-docs`" in n for n in notices), notices
    last = users.llm.calls[-1].body["messages"][-1]["content"]
    assert "violet" not in last


def _prompt(llm: FakeLLM, word: str) -> str:
    found = [m["content"] for call in llm.calls for m in call.body["messages"]
             if word in m["content"]]
    assert found, f"no prompt mentions {word!r}"
    return found[-1]
