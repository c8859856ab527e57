"""The conversation store on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.store import TITLE_CHARS, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "chat.sqlite3")


def test_a_browser_gets_one_current_conversation(store: Store) -> None:
    first = store.current("b1")
    assert store.current("b1").id == first.id
    assert store.current("b2").id != first.id


def test_messages_keep_order_state_and_extras(store: Store) -> None:
    c = store.current("b1")
    store.add_message(c.id, "user", "Hello?", tokens=3)
    store.add_message(c.id, "assistant", "Hi", state="stopped",
                      sources=[{"title": "T", "url": "https://e.org", "score": 0.5}],
                      meta={"usage": {"completion_tokens": 1}, "tokens_per_s": 9.5})
    got = store.messages(c.id)
    assert [(m.role, m.content, m.state) for m in got] == [
        ("user", "Hello?", "done"), ("assistant", "Hi", "stopped")]
    assert got[0].tokens == 3
    public = got[1].public()
    assert public["sources"][0]["url"] == "https://e.org"
    assert public["state"] == "stopped" and public["tokens_per_s"] == 9.5


def test_the_first_question_titles_the_conversation(store: Store) -> None:
    c = store.current("b1")
    store.add_message(c.id, "user", "  How do\nI bake bread " + "x" * 100)
    store.add_message(c.id, "user", "Second question")
    title = store.get("b1", c.id).title
    assert title.startswith("How do I bake bread") and len(title) <= TITLE_CHARS


def test_list_is_newest_first_and_private_to_its_browser(store: Store) -> None:
    a = store.create("b1")
    b = store.create("b1")
    store.add_message(a.id, "user", "later activity")
    assert [c.id for c in store.conversations("b1")] == [a.id, b.id]
    assert store.conversations("b2") == []
    assert store.get("b2", a.id) is None
    assert not store.rename("b2", a.id, "stolen")
    assert not store.delete("b2", a.id)


def test_rename_delete_and_current_after_delete(store: Store) -> None:
    a = store.create("b1")
    b = store.create("b1")
    assert store.rename("b1", a.id, "Renamed")
    assert store.get("b1", a.id).title == "Renamed"
    store.add_message(b.id, "user", "q")
    assert store.delete("b1", b.id)
    assert store.messages(b.id) == []
    assert store.current("b1").id == a.id


def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    first = Store(path)
    c = first.current("b1")
    first.add_message(c.id, "user", "persist me")
    first.update_settings(c.id, {"temperature": 0.1})
    first.set_context_start(c.id, 1, noticed=True)
    first.close()
    again = Store(path)
    reopened = again.current("b1")
    assert reopened.id == c.id
    assert [m.content for m in again.messages(c.id)] == ["persist me"]
    assert reopened.settings == {"temperature": 0.1}
    assert reopened.context_start == 1 and reopened.truncation_noticed
