"""Presets over Socket.IO, in-process against the canned LLM server: created, listed, changed
and deleted; a conversation started from one takes its settings and names it in `history`,
and its system prompt reaches the prompt sent upstream (and, rendered the way llmserver
renders it for the default base model, opens the text the model continues); each owner's
presets are theirs, an admin's shared ones everyone's to use and only admins' to change;
bad requests are refused with an `error` and change nothing."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatbot.accounts.accounts import Accounts
from chatbot.chat.presets import MAX_PRESETS
from chatbot.db.migrations import MIGRATIONS, migrate
from chatbot.db.presets import PresetStore
from chatbot.db.store import Store
from harness.fake_llm import MODEL, FakeLLM
from harness.inprocess import ORIGIN, ChatApp, Tab
from harness.uploads import rag_data_dir
from llmserver.models.chat_format import format_transcript

PASSWORD = "correct horse battery"
TUTOR = {"name": "Latin tutor", "system_prompt": "You are a patient Latin tutor.",
         "temperature": 0.2, "top_p": 0.5, "max_tokens": 100}


def listing(tab: Tab) -> list[dict[str, Any]]:
    return tab.wait("presets", since=tab.emit("presets", {}))[1]["presets"]


def create(tab: Tab, **fields: Any) -> dict[str, Any]:
    start = tab.emit("create_preset", {**TUTOR, **fields})
    name = fields.get("name", TUTOR["name"])
    presets = tab.wait("presets", "error", since=start)
    assert presets[0] == "presets", presets
    return next(p for p in presets[1]["presets"] if p["name"] == name)


def start_from(tab: Tab, preset_id: str) -> dict[str, Any]:
    return tab.wait("history", since=tab.emit("start_preset", {"id": preset_id}))[1]


@pytest.fixture
def auth_chat(make_chat: Callable[..., ChatApp]) -> ChatApp:
    app = make_chat(auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", PASSWORD, admin=True)
    accounts.add("bob", PASSWORD)
    return app


def test_a_preset_is_created_listed_used_changed_and_deleted(chat: ChatApp,
                                                             fake_llm: FakeLLM) -> None:
    tab = chat.tab()
    assert listing(tab) == []
    preset = create(tab)
    assert {k: preset[k] for k in TUTOR} == TUTOR
    assert preset | {"id": ""} == {**TUTOR, "id": "", "model": None, "collection": None,
                                    "shared": False, "yours": True, "can_edit": True}

    history = start_from(tab, preset["id"])
    assert history["preset"] == {"id": preset["id"], "name": "Latin tutor"}
    assert history["messages"] == []
    settings = history["settings"]
    assert {k: settings[k] for k in ("system_prompt", "temperature", "top_p", "max_tokens",
                                     "model", "rag")} == {
        **{k: TUTOR[k] for k in ("system_prompt", "temperature", "top_p", "max_tokens")},
        "model": None, "rag": False}
    assert tab.ask("Salve!")[1] == "done"
    body = fake_llm.call("Salve!").body
    assert body["messages"][0] == {"role": "system", "content": TUTOR["system_prompt"]}
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.5, 100)
    # The default model is a base model: llmserver renders the chat as a transcript whose
    # first line is the system prompt, in place of its default preamble.
    prompt = format_transcript(body["messages"]).prompt
    assert prompt.startswith(TUTOR["system_prompt"] + "\n\n")
    assert prompt.endswith("User: Salve!\nAssistant:")
    conversation = history["conversation"]["id"]

    start = tab.emit("update_preset", {"id": preset["id"], "name": "Greek tutor",
                                        "system_prompt": "You teach Greek."})
    changed = tab.wait("presets", since=start)[1]["presets"]
    assert [(p["name"], p["system_prompt"], p["temperature"]) for p in changed] == [
        ("Greek tutor", "You teach Greek.", 0.2)]
    # The conversation keeps the copy it was started with, and the name it had then.
    again = chat.tab(tab.browser).history()
    assert again["conversation"]["id"] == conversation
    assert again["preset"]["name"] == "Latin tutor"
    assert again["settings"]["system_prompt"] == TUTOR["system_prompt"]

    start = tab.emit("delete_preset", {"id": preset["id"]})
    assert tab.wait("presets", since=start)[1]["presets"] == []
    assert tab.ask("Vale!")[1] == "done"
    assert fake_llm.call("Vale!").body["messages"][0]["content"] == TUTOR["system_prompt"]
    assert chat.tab(tab.browser).history()["preset"]["name"] == "Latin tutor"
    assert "no longer exists" in tab.refused("start_preset", {"id": preset["id"]})


def test_starting_from_a_preset_opens_a_new_conversation_unless_this_one_is_empty(
        chat: ChatApp) -> None:
    tab = chat.tab()
    empty = tab.history()["conversation"]["id"]
    preset = create(tab)
    history = start_from(tab, preset["id"])
    assert history["conversation"]["id"] == empty  # nothing in it yet: it is reused
    assert tab.ask("Salve!")[1] == "done"
    history = start_from(tab, preset["id"])
    assert history["conversation"]["id"] != empty
    assert history["preset"]["id"] == preset["id"]
    # A plain new chat is not started from a preset.
    assert tab.ask("Salve!")[1] == "done"
    plain = tab.wait("history", since=tab.emit("reset", {}))[1]
    assert plain["preset"] is None
    assert plain["settings"]["system_prompt"] == ""


def test_each_browsers_presets_are_its_own(chat: ChatApp) -> None:
    mine, theirs = chat.tab(), chat.tab()
    preset = create(mine)
    assert listing(theirs) == []
    for event, payload in (("start_preset", {"id": preset["id"]}),
                           ("update_preset", {"id": preset["id"], "name": "Taken"}),
                           ("delete_preset", {"id": preset["id"]})):
        assert theirs.refused(event, payload) == "That preset no longer exists.", event
    assert [p["name"] for p in listing(mine)] == ["Latin tutor"]


def test_an_admin_shares_a_preset_that_every_user_uses_and_only_admins_change(
        auth_chat: ChatApp, fake_llm: FakeLLM) -> None:
    alice = auth_chat.tab(auth_chat.signed_in("alice", PASSWORD))
    bob = auth_chat.tab(auth_chat.signed_in("bob", PASSWORD))
    mark = bob.mark()
    shared = create(alice, name="House style", shared=True, model=MODEL)
    bob.wait("presets_changed", since=mark)
    private = create(bob, name="Bob's own")
    assert [(p["name"], p["shared"], p["yours"], p["can_edit"]) for p in listing(bob)] == [
        ("Bob's own", False, True, True), ("House style", True, False, False)]
    assert [p["name"] for p in listing(alice)] == ["House style"]  # not bob's private one

    assert bob.refused("update_preset", {"id": shared["id"], "name": "Mine now"}) == (
        "Only an admin can change a shared preset.")
    assert bob.refused("delete_preset", {"id": shared["id"]}) == (
        "Only an admin can change a shared preset.")
    assert "Only an admin can share" in bob.refused("update_preset",
                                                    {"id": private["id"], "shared": True})
    assert "Only an admin can switch the model" in bob.refused(
        "create_preset", {"name": "Other model", "model": MODEL})
    assert "no longer exists" in alice.refused("start_preset", {"id": private["id"]})

    # The model of a shared preset was an admin's choice: bob starts on it.
    history = start_from(bob, shared["id"])
    assert history["preset"]["name"] == "House style"
    assert history["settings"]["model"] == MODEL
    assert bob.ask("Hello")[1] == "done"
    assert fake_llm.call("Hello").body["model"] == MODEL

    mark = bob.mark()
    start = alice.emit("update_preset", {"id": shared["id"], "temperature": 1.5})
    assert alice.wait("presets", since=start)[1]["presets"][0]["temperature"] == 1.5
    bob.wait("presets_changed", since=mark)
    assert listing(bob)[1]["temperature"] == 1.5
    start = alice.emit("delete_preset", {"id": shared["id"]})
    assert alice.wait("presets", since=start)[1]["presets"] == []
    assert [p["name"] for p in listing(bob)] == ["Bob's own"]


@pytest.mark.parametrize(("payload", "problem"), [
    ({"name": "   "}, "needs a name"),
    ({"name": "n" * 1_000_000}, "needs a name of 1 to 80"),
    ({"name": 7}, "needs a name"),
    ({"name": "x", "colour": "red"}, "unknown field `colour`"),
    ({"name": "x", "temperature": 5}, "temperature"),
    ({"name": "x", "max_tokens": "many"}, "max_tokens"),
    ({"name": "x", "system_prompt": "s" * 8001}, "system_prompt"),
    ({"name": "x", "system_prompt": "a " * 2100}, "too long for the model"),
    ({"name": "x", "shared": "yes"}, "`shared` must be true or false"),
    ({"name": "x", "shared": True}, "Only an admin can share"),
    ({"name": "x", "model": "no-such-model"}, "No model `no-such-model`"),
    ({"name": "x", "collection": "nowhere"}, "No collection `nowhere`"),
    ({"name": "x", "collection": ["a"]}, "`collection` must be"),
])
def test_a_bad_preset_is_refused_and_changes_nothing(chat: ChatApp, payload: dict[str, Any],
                                                      problem: str) -> None:
    tab = chat.tab()
    create(tab)
    before = listing(tab)
    assert problem in tab.refused("create_preset", payload)
    assert problem in tab.refused("update_preset", {"id": before[0]["id"], **payload})
    assert listing(tab) == before


def test_names_are_required_and_unique_per_owner(chat: ChatApp) -> None:
    tab = chat.tab()
    assert "needs a name" in tab.refused("create_preset", {"system_prompt": "Be brief."})
    first = create(tab)
    second = create(tab, name="Second")
    assert "already have a preset named" in tab.refused("create_preset",
                                                        {"name": "latin TUTOR"})
    assert "already have a preset named" in tab.refused(
        "update_preset", {"id": second["id"], "name": "Latin tutor"})
    # Its own name, spelled anew, is no clash.
    start = tab.emit("update_preset", {"id": first["id"], "name": "LATIN TUTOR"})
    assert [p["name"] for p in tab.wait("presets", since=start)[1]["presets"]] == [
        "LATIN TUTOR", "Second"]


@pytest.mark.parametrize("payload", [{}, {"id": 5}, {"id": None}, {"id": "x" * 100_000}])
def test_a_bad_id_is_refused(chat: ChatApp, payload: dict[str, Any]) -> None:
    tab = chat.tab()
    for event in ("start_preset", "update_preset", "delete_preset"):
        message = tab.refused(event, payload)
        assert "id" in message or "no longer exists" in message, (event, message)


def test_an_owner_keeps_at_most_so_many_presets(chat: ChatApp) -> None:
    tab = chat.tab()
    for n in range(MAX_PRESETS):
        tab.emit("create_preset", {"name": f"Preset {n}"})
    assert len(listing(tab)) == MAX_PRESETS
    assert "the most one may keep" in tab.refused("create_preset", {"name": "One more"})
    assert len(listing(tab)) == MAX_PRESETS


def test_a_database_from_before_presets_upgrades_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, [m for m in MIGRATIONS if m.__name__ != "m009_presets"])
    db.execute("INSERT INTO conversations (id, browser, created, updated, settings) "
               "VALUES ('c1', 'b1', 1, 1, '{\"temperature\": 0.3}')")
    db.close()
    store = Store(path)
    try:
        assert store.get("b1", "c1").settings == {"temperature": 0.3}
        assert store.read("SELECT COUNT(*) FROM presets")[0][0] == 0
        assert store.read("SELECT COUNT(*) FROM conversation_presets")[0][0] == 0
    finally:
        store.close()


def test_accounts_take_over_and_remove_presets(tmp_path: Path) -> None:
    """The first admin takes over the presets made before accounts; removing a user removes
    their private presets and leaves their shared ones to the others."""
    store = Store(tmp_path / "chat.sqlite3")
    try:
        rows = PresetStore(store)
        rows.add("a-browser", "Before accounts", {}, False, MAX_PRESETS)
        accounts = Accounts(store, max_failures=0, max_failures_per_address=0,
                            failure_window_s=60)
        alice = accounts.add("alice", PASSWORD, admin=True)
        assert [p.name for p in rows.visible(alice.key)] == ["Before accounts"]
        accounts.add("bob", PASSWORD, admin=True)
        bob = accounts.by_name("bob")
        rows.add(bob.key, "Bob's own", {}, False, MAX_PRESETS)
        rows.add(bob.key, "Bob's shared", {}, True, MAX_PRESETS)
        accounts.remove("bob")
        assert [p.name for p in rows.visible(alice.key)] == ["Before accounts", "Bob's shared"]
    finally:
        store.close()


def test_a_presets_collection_must_be_readable_by_those_who_start_from_it(
        make_chat: Callable[..., ChatApp], tmp_path_factory: pytest.TempPathFactory) -> None:
    app = make_chat(data_dir=rag_data_dir(tmp_path_factory, "preset-docs"), auth=True)
    accounts = app.app.extensions["chatbot"].accounts
    accounts.add("alice", PASSWORD, admin=True)
    accounts.add("bob", PASSWORD)
    alice_browser = app.signed_in("alice", PASSWORD)
    alice, bob = app.tab(alice_browser), app.tab(app.signed_in("bob", PASSWORD))
    start = alice.mark()
    response = alice_browser.post("/documents/files", headers={"Origin": ORIGIN},
                                  data={"collection": "alice-docs",
                                        "files": [(io.BytesIO(b"# Notes\n\nViolet."),
                                                   "notes.md")]})
    assert response.status_code == 202, response.get_json()
    alice.wait("ingest", since=start, timeout=120, where=lambda d: d["state"] == "done")

    assert "No collection `alice-docs`" in bob.refused(
        "create_preset", {"name": "Peek", "collection": "alice-docs"})
    assert "share `alice-docs` first" in alice.refused(
        "create_preset", {"name": "Notes", "collection": "alice-docs", "shared": True})
    private = create(alice, name="Notes", collection="alice-docs")
    assert start_from(alice, private["id"])["settings"]["rag_collection"] == "alice-docs"

    alice.wait("collections", since=alice.emit("share_collection",
                                                 {"name": "alice-docs", "shared": True}))
    shared = create(alice, name="Shared notes", collection="alice-docs", shared=True)
    settings = start_from(bob, shared["id"])["settings"]
    assert (settings["rag"], settings["rag_collection"]) == (True, "alice-docs")
    alice.wait("collections", since=alice.emit("share_collection",
                                                 {"name": "alice-docs", "shared": False}))
    assert "no longer there for you" in bob.refused("start_preset", {"id": shared["id"]})
