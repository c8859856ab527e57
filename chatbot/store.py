"""Conversation store: SQLite in DATA_DIR, one file, safe to share between threads and
between the processes of several chatbot instances on one host.

An owner holds conversations: a browser (its signed cookie's random id) when accounts are
off, a user (`user:<id>`, see accounts.py) when they are on. Every read and write of a
conversation names its owner, so one owner can never reach another's (the column keeps its
first name, `browser`). Commits use
WAL with synchronous=FULL: once a write method returns, the row survives a crash, which is
what lets the socket layer promise "durable before `done`". WAL lets readers go on while
another process writes; a writer that finds the file locked waits up to BUSY_TIMEOUT_S
rather than failing. The schema is brought up to date by `chatbot.migrations` when the
store opens (several processes opening it at once apply each migration once).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.migrations import migrate

TITLE_CHARS = 60
# A write holds the lock for milliseconds; waiting this long means something is stuck.
BUSY_TIMEOUT_S = 30.0


@dataclass
class Conversation:
    id: str
    title: str
    created: float
    updated: float
    settings: dict[str, Any] = field(default_factory=dict)
    # id of the oldest message still sent to the model; older ones were dropped for length.
    context_start: int = 0
    truncation_noticed: bool = False

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title or "New chat", "updated": self.updated}


@dataclass
class Message:
    id: int
    role: str
    content: str
    state: str = "done"
    tokens: int | None = None
    sources: list[dict[str, Any]] | None = None
    meta: dict[str, Any] | None = None
    created: float = 0.0

    def public(self) -> dict[str, Any]:
        """The form sent to the browser in `history` (the contract's fields, then extras)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.sources:
            out["sources"] = self.sources
        out["id"] = self.id
        if self.state != "done":
            out["state"] = self.state
        if self.meta:
            out.update({k: v for k, v in self.meta.items()
                        if k in ("usage", "tokens_per_s", "error", "finish_reason")})
        return out


def make_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            try:
                migrate(self._db)
            except Exception:
                self._db.close()
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements as one: all or none, and no other process's write between
        them. IMMEDIATE takes the write lock at the start, where waiting for another
        process is possible, instead of failing on the first write."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # some errors roll back on their own
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # Conversations -----------------------------------------------------------------

    def current(self, browser: str) -> Conversation:
        """The conversation this browser last used, created on first use."""
        rows = self.read(
            "SELECT c.* FROM browsers b JOIN conversations c ON c.id = b.current "
            "WHERE b.id = ? AND c.browser = b.id", (browser,))
        if rows:
            return _conversation(rows[0])
        latest = self.read("SELECT * FROM conversations WHERE browser = ? "
                            "ORDER BY updated DESC LIMIT 1", (browser,))
        if latest:
            conversation = _conversation(latest[0])
            self.set_current(browser, conversation.id)
            return conversation
        return self.create(browser)

    def create(self, browser: str, settings: dict[str, Any] | None = None) -> Conversation:
        now = time.time()
        conversation = Conversation(id=uuid.uuid4().hex, title="", created=now, updated=now,
                                    settings=settings or {})
        self.write("INSERT INTO conversations (id, browser, created, updated, settings) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (conversation.id, browser, now, now, json.dumps(conversation.settings)))
        self.set_current(browser, conversation.id)
        return conversation

    def set_current(self, browser: str, conversation_id: str) -> None:
        self.write("INSERT INTO browsers (id, current, created) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET current = excluded.current",
                    (browser, conversation_id, time.time()))

    def get(self, browser: str, conversation_id: str) -> Conversation | None:
        rows = self.read("SELECT * FROM conversations WHERE id = ? AND browser = ?",
                          (conversation_id, browser))
        return _conversation(rows[0]) if rows else None

    def conversations(self, browser: str) -> list[Conversation]:
        """Newest activity first."""
        rows = self.read("SELECT * FROM conversations WHERE browser = ? "
                          "ORDER BY updated DESC, created DESC", (browser,))
        return [_conversation(r) for r in rows]

    def rename(self, browser: str, conversation_id: str, title: str) -> bool:
        cursor = self.write("UPDATE conversations SET title = ? WHERE id = ? AND browser = ?",
                             (make_title(title), conversation_id, browser))
        return cursor.rowcount == 1

    def delete(self, browser: str, conversation_id: str) -> bool:
        cursor = self.write("DELETE FROM conversations WHERE id = ? AND browser = ?",
                             (conversation_id, browser))
        return cursor.rowcount == 1

    def update_settings(self, conversation_id: str, settings: dict[str, Any]) -> None:
        self.write("UPDATE conversations SET settings = ? WHERE id = ?",
                    (json.dumps(settings), conversation_id))

    def set_context_start(self, conversation_id: str, message_id: int, noticed: bool) -> None:
        self.write("UPDATE conversations SET context_start = ?, truncation_noticed = ? "
                    "WHERE id = ?", (message_id, int(noticed), conversation_id))

    # Messages ----------------------------------------------------------------------

    def messages(self, conversation_id: str) -> list[Message]:
        rows = self.read("SELECT * FROM messages WHERE conversation = ? ORDER BY id",
                          (conversation_id,))
        return [_message(r) for r in rows]

    def add_message(self, conversation_id: str, role: str, content: str, *, state: str = "done",
                    tokens: int | None = None, sources: list[dict[str, Any]] | None = None,
                    meta: dict[str, Any] | None = None) -> int:
        """Append a message; the conversation's first user message becomes its title."""
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation, role, content, state, tokens, sources, "
                "meta, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, state, tokens,
                 json.dumps(sources) if sources else None,
                 json.dumps(meta) if meta else None, now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                       (now, conversation_id))
            if role == "user":
                db.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                           (make_title(content), conversation_id))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def set_tokens(self, message_id: int, tokens: int) -> None:
        self.write("UPDATE messages SET tokens = ? WHERE id = ?", (tokens, message_id))

    def questions_since(self, owner: str, since: float) -> int:
        """User messages `owner` sent after `since`, in all their conversations (counted
        here, so every instance sharing the database counts the same)."""
        return self.read("SELECT COUNT(*) FROM messages m JOIN conversations c "
                         "ON c.id = m.conversation WHERE c.browser = ? AND m.role = 'user' "
                         "AND m.created > ?", (owner, since))[0][0]

    # Uploads -----------------------------------------------------------------------

    def add_uploads(self, owner: str, collection: str, items: list[tuple[str, int]]) -> None:
        """Record what `owner` added to `collection`: (file id or URL, bytes) each."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT INTO uploads (file, owner, collection, bytes, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(item, owner, collection, size, now) for item, size in items])

    def upload_usage(self, owner: str, since: float) -> tuple[int, int]:
        """What `owner` added after `since` (files and URLs), and the bytes of the distinct
        files they keep."""
        added = self.read("SELECT COUNT(*) FROM uploads WHERE owner = ? AND created > ?",
                          (owner, since))[0][0]
        kept = self.read("SELECT COALESCE(SUM(bytes), 0) FROM (SELECT MAX(bytes) AS bytes "
                         "FROM uploads WHERE owner = ? GROUP BY file)", (owner,))[0][0]
        return added, kept

    def forget_collection(self, collection: str) -> None:
        """Its uploads no longer count against their owners' storage."""
        self.write("DELETE FROM uploads WHERE collection = ?", (collection,))

    def upload_places(self, file: str) -> list[tuple[str, str]]:
        """(owner, collection) of every time this file was added."""
        return [(r["owner"], r["collection"]) for r in
                self.read("SELECT DISTINCT owner, collection FROM uploads WHERE file = ?",
                          (file,))]


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(id=row["id"], title=row["title"], created=row["created"],
                        updated=row["updated"], settings=json.loads(row["settings"]),
                        context_start=row["context_start"],
                        truncation_noticed=bool(row["truncation_noticed"]))


def _message(row: sqlite3.Row) -> Message:
    return Message(id=row["id"], role=row["role"], content=row["content"], state=row["state"],
                   tokens=row["tokens"],
                   sources=json.loads(row["sources"]) if row["sources"] else None,
                   meta=json.loads(row["meta"]) if row["meta"] else None,
                   created=row["created"])
