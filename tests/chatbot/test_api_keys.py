"""Users' keys to the OpenAI-compatible API (AUTH=on): made, listed and revoked in the account
area, stored hashed, acting as their user; each user's key reaches their collections only,
another user's answered exactly like a collection that does not exist.

In-process app, canned LLM server (it records each prompt), real embedded Chroma and the
packaged embedding model."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from harness.fake_llm import MODEL, FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import rag_data_dir

PASSWORD = "correct horse battery"
LIGHTHOUSE = (b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is painted "
              b"bright violet and stands 43 metres tall.")
BAKERY = (b"# Marmot bakery\n\nThe Marmot bakery sells rye bread and cinnamon buns. It "
          b"opens at six in the morning.")
QUESTION = "What colour is the Zorblax lighthouse on Quimby island?"
OPERATOR_KEY = "an-operator-key-ignored-here"
NEW_KEY = re.compile(r'id="new-key">(lc-[A-Za-z0-9_-]+)<')


@dataclass
class Users:
    app: ChatApp
    llm: FakeLLM
    alice: FlaskClient
    bob: FlaskClient


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
        # CHATBOT_API_KEY is ignored with accounts on: every key is a user's.
        app = ChatApp(rag_data_dir(tmp_path_factory, "api-keys"), llm.url, auth=True,
                      api_key=OPERATOR_KEY)
        accounts = app.app.extensions["chatbot"].accounts
        accounts.add("alice", PASSWORD, admin=True)
        accounts.add("bob", PASSWORD)
        alice, bob = app.signed_in("alice", PASSWORD), app.signed_in("bob", PASSWORD)
        assert add_files(alice, app.tab(alice), "alice-docs", "lighthouse.md",
                         LIGHTHOUSE)["state"] == "done"
        assert add_files(bob, app.tab(bob), "bob-docs", "bakery.md", BAKERY)["state"] == "done"
        yield Users(app, llm, alice, bob)
        app.close()


def make_key(browser: FlaskClient, name: str = "my laptop") -> str:
    response = browser.post("/account/keys", data={"name": name}, headers={"Origin": ORIGIN})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    found = NEW_KEY.search(response.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(users: Users, key: str, model: str, text: str = QUESTION, **extra: Any) -> Any:
    return users.app.app.test_client().post(
        "/v1/chat/completions", headers=bearer(key),
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra})


def model_ids(users: Users, key: str) -> list[str]:
    response = users.app.app.test_client().get("/v1/models", headers=bearer(key))
    assert response.status_code == 200, response.get_json()
    return [m["id"] for m in response.get_json()["data"]]


def key_ids(browser: FlaskClient) -> list[int]:
    page = browser.get("/account/keys").get_data(as_text=True)
    return [int(n) for n in re.findall(r'data-key="(\d+)"', page)]


def test_a_key_is_made_shown_once_stored_hashed_and_revoked(users: Users) -> None:
    store = users.app.app.extensions["chatbot"].store
    assert users.alice.post("/account/keys", data={"name": "x"}).status_code == 403  # no Origin
    key = make_key(users.alice, "notebook")
    assert key.startswith("lc-") and len(key) > 40
    rows = store.read("SELECT * FROM api_keys WHERE name = 'notebook'")
    assert [r["hash"] for r in rows] == [hashlib.sha256(key.encode()).hexdigest()]
    assert key not in json.dumps([dict(r) for r in store.read("SELECT * FROM api_keys")])
    page = users.alice.get("/account/keys")
    listing = page.get_data(as_text=True)
    assert "notebook" in listing and key[-4:] in listing and key not in listing

    assert model_ids(users, key)[0] == "rag:alice-docs"
    key_id = rows[0]["id"]
    # Another user's key id is no key of theirs: refused, and the key still works.
    assert users.bob.post(f"/account/keys/{key_id}/revoke",
                          headers={"Origin": ORIGIN}).status_code == 404
    assert model_ids(users, key)
    revoked = users.alice.post(f"/account/keys/{key_id}/revoke", headers={"Origin": ORIGIN})
    assert revoked.status_code == 302
    assert key_id not in key_ids(users.alice)
    for response in (ask(users, key, "rag:alice-docs"),
                     users.app.app.test_client().get("/v1/models", headers=bearer(key))):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "invalid_api_key"
    assert users.alice.post(f"/account/keys/{key_id}/revoke",
                            headers={"Origin": ORIGIN}).status_code == 404


def test_a_key_needs_a_name(users: Users) -> None:
    response = users.alice.post("/account/keys", data={"name": "  "}, headers={"Origin": ORIGIN})
    assert response.status_code == 400 and "name" in response.get_data(as_text=True)


def test_the_environments_key_is_ignored_with_accounts_on(users: Users) -> None:
    response = users.app.app.test_client().get("/v1/models", headers=bearer(OPERATOR_KEY))
    assert response.status_code == 401


def test_each_key_reaches_its_users_collections_only(users: Users) -> None:
    alice_key, bob_key = make_key(users.alice), make_key(users.bob)
    assert model_ids(users, alice_key) == ["rag:alice-docs", MODEL]
    assert model_ids(users, bob_key) == ["rag:bob-docs", MODEL]

    body = ask(users, alice_key, "rag:alice-docs").get_json()
    assert body["model"] == "rag:alice-docs"
    assert body["sources"][0]["title"] == "Zorblax lighthouse"
    assert "43 metres" in body["sources"][0]["passage"]
    assert "43 metres" in json.dumps(users.llm.calls[-1].body["messages"])
    asked = len(users.llm.calls)

    # Bob asking Alice's collection is told exactly what a collection that never existed
    # gets, and nothing of hers reaches the LLM server.
    theirs = ask(users, bob_key, "rag:alice-docs")
    missing = ask(users, bob_key, "rag:carol-docs")
    assert theirs.status_code == missing.status_code == 404
    assert (theirs.get_json()["error"]["message"].replace("alice-docs", "NAME")
            == missing.get_json()["error"]["message"].replace("carol-docs", "NAME"))
    assert len(users.llm.calls) == asked


def test_a_streamed_grounded_answer_ends_with_its_sources(users: Users) -> None:
    key = make_key(users.alice)
    response = ask(users, key, "rag:alice-docs", "How tall is the Zorblax lighthouse?",
                   stream=True)
    assert response.status_code == 200
    chunks = [json.loads(block[len("data: "):])
              for block in response.get_data(as_text=True).split("\n\n")
              if block.startswith("data: {")]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["sources"][0]["title"] == "Zorblax lighthouse"
    assert all("sources" not in c for c in chunks[:-1])


def test_a_disabled_or_removed_users_keys_stop_working(users: Users,
                                                        make_chat: Callable[..., ChatApp]
                                                        ) -> None:
    accounts = users.app.app.extensions["chatbot"].accounts
    accounts.add("carol", PASSWORD)
    key = make_key(users.app.signed_in("carol", PASSWORD))
    assert model_ids(users, key) == [MODEL]  # no collection of hers yet
    accounts.set_disabled("carol", True)
    assert users.app.app.test_client().get("/v1/models", headers=bearer(key)).status_code == 401
    accounts.set_disabled("carol", False)
    assert model_ids(users, key) == [MODEL]
    accounts.remove("carol")
    assert users.app.app.test_client().get("/v1/models", headers=bearer(key)).status_code == 401
    store = users.app.app.extensions["chatbot"].store
    assert store.read("SELECT COUNT(*) FROM api_keys WHERE hash = ?",
                      (hashlib.sha256(key.encode()).hexdigest(),))[0][0] == 0


def test_without_accounts_there_is_no_keys_page(chat: ChatApp) -> None:
    assert chat.browser().get("/account/keys").status_code == 302
