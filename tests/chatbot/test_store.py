"""The conversation store on a real SQLite file."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from chatbot import create_app
from chatbot.db.migrations import MIGRATIONS, migrate
from chatbot.db.rows import TITLE_CHARS
from chatbot.db.store import Store
from chatbot.errors import MigrationError

# The schema exactly as chatbot/db/store.py created it before migrations existed: databases
# written with it are out there and must open unchanged.
SCHEMA_BEFORE_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS browsers (
    id TEXT PRIMARY KEY,
    current TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    browser TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    context_start INTEGER NOT NULL DEFAULT 0,
    truncation_noticed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_by_browser ON conversations (browser, updated);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'done',
    tokens INTEGER,
    sources TEXT,
    meta TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation, id);
"""


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


# Several instances on one data folder ----------------------------------------------

INSTANCES = 4
WRITES = 25


def _open(path: Path, start: Barrier, results: multiprocessing.Queue) -> None:
    try:
        start.wait()
        Store(path).close()
        results.put("opened")
    except BaseException as exc:
        results.put(repr(exc))


@pytest.mark.slow
def test_many_processes_opening_a_new_database_at_once_all_open_it(tmp_path: Path) -> None:
    # Switching a new file to WAL from several processes at once failed with "database is
    # locked" in about 1 opening in 20 (SQLite does not wait on a busy file there).
    context = multiprocessing.get_context("fork")
    for round_ in range(12):
        start = context.Barrier(8)
        results = context.Queue()
        path = tmp_path / f"round{round_}.sqlite3"
        processes = [context.Process(target=_open, args=(path, start, results))
                     for _ in range(8)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert outcomes == ["opened"] * 8


def _instance(data_dir: Path, start: Barrier, results: multiprocessing.Queue) -> None:
    """One chatbot instance's start-up and a burst of writes, in a process of its own."""
    try:
        start.wait()
        app = create_app({"data_dir": data_dir, "llm_base_url": "http://127.0.0.1:9/v1"})
        store: Store = app.extensions["chatbot"].store
        conversation = store.create("shared-browser")
        for i in range(WRITES):
            store.add_message(conversation.id, "user", f"question {i}")
        results.put((app.config["SECRET_KEY"], conversation.id))
    except BaseException as exc:
        results.put(("failed", repr(exc)))
        raise


def test_instances_starting_at_once_share_one_key_one_schema_and_every_write(
        tmp_path: Path) -> None:
    # fork: the children start from this process's imports, so they reach the barrier
    # together and race for real.
    context = multiprocessing.get_context("fork")
    start = context.Barrier(INSTANCES)
    results = context.Queue()
    processes = [context.Process(target=_instance, args=(tmp_path, start, results))
                 for _ in range(INSTANCES)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert all(kind != "failed" for kind, _ in outcomes), outcomes
    assert len({secret for secret, _ in outcomes}) == 1
    assert (tmp_path / "secret_key").read_text().strip() == outcomes[0][0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")] == []
    path = tmp_path / "conversations.sqlite3"
    assert [name for name, _ in _recorded(path)] == [fn.__name__ for fn in MIGRATIONS]
    store = Store(path)
    for _, conversation_id in outcomes:
        assert [m.content for m in store.messages(conversation_id)] == [
            f"question {i}" for i in range(WRITES)]
    assert len(store.conversations("shared-browser")) == INSTANCES
    store.close()


# Migrations ------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    """A connection set up the way the store sets up its own."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _recorded(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()
    finally:
        db.close()


def _schema(path: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master WHERE name != '_migrations' "
                          "AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name").fetchall()
    finally:
        db.close()


def _columns(path: Path, table: str) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()


def _kept(before: Path, after: Path) -> bool:
    """Every object of `before` is in `after` as it was, a table perhaps with columns added
    after its own (later migrations only add tables and nullable columns)."""
    now = set(_schema(after))
    return all(item in now or (item[0] == "table" and _columns(after, item[1])[
        :len(_columns(before, item[1]))] == _columns(before, item[1]))
        for item in _schema(before))


def _write_before_migrations(path: Path) -> None:
    """A database as the store wrote it before migrations: one conversation, two messages."""
    db = _connect(path)
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA_BEFORE_MIGRATIONS)
    db.execute("INSERT INTO conversations (id, browser, title, created, updated, settings, "
               "context_start, truncation_noticed) VALUES ('c1', 'b1', 'Old chat', 1.0, 2.0, "
               "?, 1, 1)", (json.dumps({"temperature": 0.2}),))
    db.execute("INSERT INTO browsers (id, current, created) VALUES ('b1', 'c1', 1.0)")
    db.execute("INSERT INTO messages (conversation, role, content, tokens, created) "
               "VALUES ('c1', 'user', 'old question', 3, 1.5)")
    db.execute("INSERT INTO messages (conversation, role, content, state, sources, meta, "
               "created) VALUES ('c1', 'assistant', 'old answer', 'stopped', ?, ?, 2.0)",
               (json.dumps([{"title": "T", "url": "https://e.org"}]),
                json.dumps({"tokens_per_s": 7.5})))
    db.close()


def test_a_database_from_before_migrations_is_adopted_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    _write_before_migrations(path)
    before = tmp_path / "before.sqlite3"
    _write_before_migrations(before)
    store = Store(path)
    conversation = store.current("b1")
    assert (conversation.id, conversation.title) == ("c1", "Old chat")
    assert conversation.settings == {"temperature": 0.2}
    assert conversation.context_start == 1 and conversation.truncation_noticed
    messages = store.messages("c1")
    assert [(m.role, m.content, m.state, m.tokens) for m in messages] == [
        ("user", "old question", "done", 3), ("assistant", "old answer", "stopped", None)]
    assert messages[1].sources == [{"title": "T", "url": "https://e.org"}]
    assert messages[1].meta == {"tokens_per_s": 7.5}
    # One path: each message follows the one before it.
    assert [(m.parent, m.chosen) for m in messages] == [(None, True), (messages[0].id, True)]
    new = store.add_message("c1", "user", "new question")
    assert new > messages[1].id
    assert [m.id for m in store.path("c1")] == [messages[0].id, messages[1].id, new]
    store.close()
    # Every object it had is as it was, the messages with columns added (m007, m008).
    assert _kept(before, path)
    assert {"parent", "chosen", "reasoning"} <= set(_columns(path, "messages"))
    assert [name for name, _ in _recorded(path)] == [fn.__name__ for fn in MIGRATIONS]


def test_a_fresh_database_has_the_old_schema_and_records_every_migration(
        tmp_path: Path) -> None:
    before = tmp_path / "before.sqlite3"
    _write_before_migrations(before)
    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).close()
    assert _kept(before, fresh)
    assert _columns(before, "messages") + ["parent", "chosen", "reasoning"] == _columns(
        fresh, "messages")
    recorded = _recorded(fresh)
    assert [name for name, _ in recorded] == [fn.__name__ for fn in MIGRATIONS]
    assert all(applied_at for _, applied_at in recorded)


def test_opening_again_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    Store(path).close()
    first = _recorded(path)
    Store(path).close()
    assert _recorded(path) == first
    db = _connect(path)
    assert migrate(db) == []
    db.close()


def m002_owner_then_fail(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE conversations ADD COLUMN owner TEXT")
    db.execute("CREATE TABLE teams (id TEXT PRIMARY KEY)")
    raise RuntimeError("boom")


def test_a_failing_migration_is_rolled_back_and_named(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    _write_before_migrations(path)
    Store(path).close()
    columns = _columns(path, "conversations")
    db = _connect(path)
    with pytest.raises(MigrationError, match="m002_owner_then_fail.*boom"):
        migrate(db, [*MIGRATIONS, m002_owner_then_fail])
    assert not db.in_transaction
    db.close()
    assert _columns(path, "conversations") == columns
    assert _columns(path, "teams") == []
    assert [name for name, _ in _recorded(path)] == [fn.__name__ for fn in MIGRATIONS]
    store = Store(path)
    assert [m.content for m in store.messages("c1")] == ["old question", "old answer"]
    store.close()


def m002_conversation_owner(db: sqlite3.Connection) -> None:
    # A table rebuild, SQLite's way to change a column's constraints.
    db.execute("CREATE TABLE conversations_new (id TEXT PRIMARY KEY, browser TEXT NOT NULL, "
               "owner TEXT, title TEXT NOT NULL DEFAULT '', created REAL NOT NULL, "
               "updated REAL NOT NULL, settings TEXT NOT NULL DEFAULT '{}', "
               "context_start INTEGER NOT NULL DEFAULT 0, "
               "truncation_noticed INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO conversations_new (id, browser, title, created, updated, settings, "
               "context_start, truncation_noticed) SELECT id, browser, title, created, "
               "updated, settings, context_start, truncation_noticed FROM conversations")
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_new RENAME TO conversations")
    db.execute("CREATE INDEX conversations_by_browser ON conversations (browser, updated)")


def m003_orphan_messages(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM conversations")


def test_a_table_rebuild_keeps_referencing_rows_and_orphans_are_refused(
        tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    _write_before_migrations(path)
    Store(path).close()
    db = _connect(path)
    assert migrate(db, [*MIGRATIONS, m002_conversation_owner]) == ["m002_conversation_owner"]
    with pytest.raises(MigrationError, match="m003_orphan_messages.*foreign key"):
        migrate(db, [*MIGRATIONS, m002_conversation_owner, m003_orphan_messages])
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()
    assert "owner" in _columns(path, "conversations")
    store = Store(path)
    assert [m.content for m in store.messages("c1")] == ["old question", "old answer"]
    assert store.delete("b1", "c1") and store.messages("c1") == []
    store.close()


def m002_commits_early(db: sqlite3.Connection) -> None:
    db.executescript("CREATE TABLE teams (id TEXT PRIMARY KEY);")


def test_a_migration_that_ends_its_transaction_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    Store(path).close()
    db = _connect(path)
    with pytest.raises(MigrationError, match="m002_commits_early.*own transaction"):
        migrate(db, [*MIGRATIONS, m002_commits_early])
    db.close()
    assert [name for name, _ in _recorded(path)] == [fn.__name__ for fn in MIGRATIONS]


def test_conversations_stored_before_versions_become_one_path_each(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    db = _connect(path)
    migrate(db, [fn for fn in MIGRATIONS if fn.__name__ != "m007_message_tree"])
    for cid in ("a", "b"):
        db.execute("INSERT INTO conversations (id, browser, created, updated) "
                   "VALUES (?, 'b1', 1, 1)", (cid,))
    # Two conversations written in turns: their ids interleave.
    for n, cid in enumerate("abab" * 2):
        db.execute("INSERT INTO messages (conversation, role, content, created) "
                   "VALUES (?, ?, ?, 1)", (cid, ("user", "assistant")[n // 2 % 2], f"{cid}{n}"))
    db.close()
    store = Store(path)
    try:
        for cid in ("a", "b"):
            messages = store.messages(cid)
            assert [m.parent for m in messages] == [None] + [m.id for m in messages[:-1]]
            assert all(m.chosen for m in messages)
            assert [m.id for m in store.path(cid)] == [m.id for m in messages]
            assert len(messages) == 4
    finally:
        store.close()
