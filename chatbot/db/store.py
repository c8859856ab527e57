"""Conversation store: SQLite in DATA_DIR, one file, safe to share between threads and
between the processes of several chatbot instances on one host.

An owner holds conversations: a browser (its signed cookie's random id) when accounts are
off, a user (`user:<id>`, see accounts.py) when they are on. Every read and write of a
conversation names its owner, so one owner can never reach another's (the column keeps its
first name, `browser`). Commits use
WAL with synchronous=FULL: once a write method returns, the row survives a crash, which is
what lets the socket layer promise "durable before `done`". WAL lets readers go on while
another process writes; a writer that finds the file locked waits up to BUSY_TIMEOUT_S
rather than failing. The schema is brought up to date by `chatbot.db.migrations` when the
store opens (several processes opening it at once apply each migration once).
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from chatbot.db.migrations import migrate
from chatbot.db.organise import FolderRecords
from chatbot.db.rows import (
    MARK_END,
    MARK_START,
    SEARCH_RESULTS,
    Conversation,
    Message,
    SearchHit,
    conversation_from,
    make_title,
    match_query,
    message_from,
)
from chatbot.db.shares import ShareRecords
from chatbot.db.tree import MessageTree, choose_among_siblings, shown_path
from chatbot.db.usage import UsageRecords
from chatbot.errors import StoreFull

# A write holds the lock for milliseconds; waiting this long means something is stuck.
BUSY_TIMEOUT_S = 30.0


@contextmanager
def _opening(path: Path) -> Iterator[None]:
    """One process at a time past this point, for the set-up of the file. Switching a new
    database to WAL can fail at once with "database is locked" while another process does
    the same: SQLite does not call the busy handler there (it would risk a deadlock), so
    BUSY_TIMEOUT_S does not help; an exclusive lock on a file beside it does."""
    if str(path) == ":memory:":  # private to this connection: nobody to race
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Store(UsageRecords, FolderRecords, ShareRecords, MessageTree):
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            with self._lock, _opening(path):
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                migrate(self._db)
        except Exception:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock, _full_disk():
            return self._db.execute(sql, args)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements as one: all or none, and no other process's write between
        them. IMMEDIATE takes the write lock at the start, where waiting for another
        process is possible, instead of failing on the first write."""
        with self._lock, _full_disk():
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

    def current(self, owner: str) -> Conversation:
        """The conversation this browser last used, created on first use."""
        rows = self.read(
            "SELECT c.* FROM browsers b JOIN conversations c ON c.id = b.current "
            "WHERE b.id = ? AND c.browser = b.id", (owner,))
        if rows:
            return conversation_from(rows[0])
        latest = self.read("SELECT * FROM conversations WHERE browser = ? "
                            "ORDER BY updated DESC LIMIT 1", (owner,))
        if latest:
            conversation = conversation_from(latest[0])
            self.set_current(owner, conversation.id)
            return conversation
        return self.create(owner)

    def create(self, owner: str, settings: dict[str, Any] | None = None) -> Conversation:
        now = time.time()
        conversation = Conversation(id=uuid.uuid4().hex, title="", created=now, updated=now,
                                    settings=settings or {})
        self.write("INSERT INTO conversations (id, browser, created, updated, settings) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (conversation.id, owner, now, now, json.dumps(conversation.settings)))
        self.set_current(owner, conversation.id)
        return conversation

    def set_current(self, owner: str, conversation_id: str) -> None:
        self.write("INSERT INTO browsers (id, current, created) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET current = excluded.current",
                    (owner, conversation_id, time.time()))

    def get(self, owner: str, conversation_id: str) -> Conversation | None:
        rows = self.read("SELECT * FROM conversations WHERE id = ? AND browser = ?",
                          (conversation_id, owner))
        return conversation_from(rows[0]) if rows else None

    def conversations(self, owner: str) -> list[Conversation]:
        """Newest activity first."""
        rows = self.read("SELECT * FROM conversations WHERE browser = ? "
                          "ORDER BY updated DESC, created DESC", (owner,))
        return [conversation_from(r) for r in rows]

    def rename(self, owner: str, conversation_id: str, title: str) -> bool:
        cursor = self.write("UPDATE conversations SET title = ? WHERE id = ? AND browser = ?",
                             (make_title(title), conversation_id, owner))
        return cursor.rowcount == 1

    def delete(self, owner: str, conversation_id: str) -> bool:
        cursor = self.write("DELETE FROM conversations WHERE id = ? AND browser = ?",
                             (conversation_id, owner))
        return cursor.rowcount == 1

    def update_settings(self, conversation_id: str, settings: dict[str, Any]) -> None:
        self.write("UPDATE conversations SET settings = ? WHERE id = ?",
                    (json.dumps(settings), conversation_id))

    def set_context_start(self, conversation_id: str, message_id: int, noticed: bool) -> None:
        self.write("UPDATE conversations SET context_start = ?, truncation_noticed = ? "
                    "WHERE id = ?", (message_id, int(noticed), conversation_id))

    # Messages ----------------------------------------------------------------------

    def messages(self, conversation_id: str) -> list[Message]:
        """Every message, every version, oldest first (a parent before its children)."""
        rows = self.read("SELECT * FROM messages WHERE conversation = ? ORDER BY id",
                          (conversation_id,))
        return [message_from(r) for r in rows]

    def add_message(self, conversation_id: str, role: str, content: str, *,
                    parent: int | None | Literal["end"] = "end", state: str = "done",
                    tokens: int | None = None, sources: list[dict[str, Any]] | None = None,
                    meta: dict[str, Any] | None = None, reasoning: str | None = None) -> int:
        """Add a message after `parent` (None: at the start; "end": after the last message
        shown), as the version shown there; the conversation's first user message becomes
        its title."""
        now = time.time()
        with self.transaction() as db:
            if parent == "end":
                path = shown_path(message_from(r) for r in db.execute(
                    "SELECT * FROM messages WHERE conversation = ? ORDER BY id",
                    (conversation_id,)))
                parent = path[-1].id if path else None
            cursor = db.execute(
                "INSERT INTO messages (conversation, parent, role, content, state, tokens, "
                "sources, meta, created, reasoning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent, role, content, state, tokens,
                 json.dumps(sources) if sources else None,
                 json.dumps(meta) if meta else None, now, reasoning))
            assert cursor.lastrowid is not None
            choose_among_siblings(db, conversation_id, cursor.lastrowid)
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                       (now, conversation_id))
            if role == "user":
                titled = db.execute("SELECT title FROM conversations WHERE id = ?",
                                    (conversation_id,)).fetchone()
                # A new version of the first question renames a chat that its old version named.
                named_by = [r["content"] for r in db.execute(
                    "SELECT content FROM messages WHERE conversation = ? AND parent IS NULL "
                    "AND role = 'user' AND id != ?", (conversation_id, cursor.lastrowid))
                    ] if parent is None else []
                if titled is not None and (titled["title"] == "" or any(
                        titled["title"] == make_title(c) for c in named_by)):
                    db.execute("UPDATE conversations SET title = ? WHERE id = ?",
                               (make_title(content), conversation_id))
            return cursor.lastrowid

    def search(self, owner: str, text: str) -> list[SearchHit]:
        """`owner`'s conversations whose title or messages hold every word of `text`:
        titles first, then messages, each best first. A title is left out when a message of
        its conversation matched: that result leads there too, and to the words."""
        query = match_query(text)
        if query is None:
            return []
        marks = (MARK_START, MARK_END, "…")
        titles = self.read(
            "SELECT c.id, c.title, snippet(titles_fts, 1, ?, ?, ?, 12) AS snippet "
            "FROM titles_fts JOIN conversations c ON c.id = titles_fts.conversation "
            "WHERE titles_fts MATCH ? AND c.browser = ? ORDER BY rank LIMIT ?",
            (*marks, query, owner, SEARCH_RESULTS))
        found = self.read(
            "SELECT m.id, m.conversation, c.title, "
            "snippet(messages_fts, 0, ?, ?, ?, 12) AS snippet "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation "
            "WHERE messages_fts MATCH ? AND c.browser = ? ORDER BY rank LIMIT ?",
            (*marks, query, owner, SEARCH_RESULTS))
        messages = [SearchHit(r["conversation"], r["title"], r["id"], r["snippet"])
                    for r in found]
        shown = {hit.conversation for hit in messages}
        hits = [SearchHit(r["id"], r["title"], None, r["snippet"]) for r in titles
                if r["id"] not in shown]
        hits += messages
        return hits[:SEARCH_RESULTS]

    def set_tokens(self, message_id: int, tokens: int) -> None:
        self.write("UPDATE messages SET tokens = ? WHERE id = ?", (tokens, message_id))


@contextmanager
def _full_disk() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        raise StoreFull("The server's disk is full: this message could not be saved. Ask "
                        "whoever runs this server to free some space, then send it again."
                        ) from exc
