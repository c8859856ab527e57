"""A conversation's messages as a tree (a mixin of the Store, on its connection).

Each message follows a `parent` (None: it opens the conversation). Regenerating an answer
adds another answer to the same question, editing a question another question after the
same parent: versions side by side, none deleted. At each parent one version is `chosen`;
following the chosen versions from the start gives the path the conversation shows, and the
only messages the model is sent. Ids grow along any path (a message is stored after its
parent), so "oldest first" is "by id" on a path too.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from chatbot.db.rows import Conversation, Message, make_title


def choose_among_siblings(db: sqlite3.Connection, conversation_id: str, message_id: int) -> None:
    """Make `message_id` the version shown among its parent's children."""
    db.execute("UPDATE messages SET chosen = (id = ?) WHERE conversation = ? AND parent IS "
               "(SELECT parent FROM messages WHERE id = ? AND conversation = ?)",
               (message_id, conversation_id, message_id, conversation_id))


def shown_path(messages: Iterable[Message]) -> list[Message]:
    """The chosen versions from the start, each with its `siblings` filled in."""
    children: dict[int | None, list[Message]] = {}
    for message in messages:
        children.setdefault(message.parent, []).append(message)
    path: list[Message] = []
    parent: int | None = None
    while versions := children.get(parent):
        # One is chosen; should none be (a write from before the rule), the newest shows.
        message = next((m for m in reversed(versions) if m.chosen), versions[-1])
        message.siblings = [m.id for m in versions]
        path.append(message)
        parent = message.id
    return path


def chain(messages: Iterable[Message], last: int | None) -> list[Message]:
    """`last` and the messages it follows, oldest first, each with its `siblings` filled in
    ([] for None or an unknown id)."""
    listed = list(messages)
    by_id = {m.id: m for m in listed}
    children: dict[int | None, list[int]] = {}
    for message in listed:
        children.setdefault(message.parent, []).append(message.id)
    out: list[Message] = []
    while last is not None and last in by_id:
        message = by_id[last]
        message.siblings = children[message.parent]
        out.append(message)
        last = message.parent
    out.reverse()
    return out


class MessageTree:
    """The shown path, the versions, and copies of a path into a new conversation."""

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def messages(self, conversation_id: str) -> list[Message]:
        raise NotImplementedError

    def set_current(self, owner: str, conversation_id: str) -> None:
        raise NotImplementedError

    def path(self, conversation_id: str) -> list[Message]:
        """The messages the conversation shows, oldest first."""
        return shown_path(self.messages(conversation_id))

    def leaf(self, conversation_id: str) -> int | None:
        """The id of the shown path's last message: where a new question goes."""
        path = self.path(conversation_id)
        return path[-1].id if path else None

    def ancestors(self, conversation_id: str, last: int | None) -> list[Message]:
        """`last` and every message before it on its path, oldest first."""
        return chain(self.messages(conversation_id), last)

    def message(self, conversation_id: str, message_id: int) -> Message | None:
        """The conversation's message `message_id`; None for any other (another
        conversation's, another owner's)."""
        return next((m for m in self.messages(conversation_id) if m.id == message_id), None)

    def choose(self, conversation_id: str, message_id: int) -> bool:
        """Show `message_id`: it and each message before it become the chosen version at
        their place. False when the conversation has no such message."""
        line = self.ancestors(conversation_id, message_id)
        if not line:
            return False
        with self.transaction() as db:
            for message in line:
                choose_among_siblings(db, conversation_id, message.id)
        return True

    def replace_answer(self, message_id: int, content: str, *, state: str,
                       tokens: int | None, meta: dict[str, Any]) -> None:
        """An answer continued: its whole text, new state and figures."""
        with self.transaction() as db:
            db.execute("UPDATE messages SET content = ?, state = ?, tokens = ?, meta = ? "
                       "WHERE id = ?", (content, state, tokens, json.dumps(meta), message_id))

    def new_with(self, owner: str, title: str, created: float, settings: dict[str, Any],
                 messages: list[Message], current: bool = False) -> Conversation:
        """A new conversation of `owner` holding `messages` (ids and parents among
        themselves, each parent before its children; the `chosen` flags as given), all or
        nothing. `current`: it becomes the owner's current conversation."""
        now = time.time()
        conversation = Conversation(id=uuid.uuid4().hex, title=make_title(title),
                                    created=created, updated=now, settings=settings)
        stored: dict[int, int] = {}
        with self.transaction() as db:
            db.execute("INSERT INTO conversations (id, browser, title, created, updated, "
                       "settings) VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation.id, owner, conversation.title, created, now,
                        json.dumps(settings)))
            for m in messages:
                cursor = db.execute(
                    "INSERT INTO messages (conversation, parent, chosen, role, content, state, "
                    "tokens, sources, meta, created, reasoning) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation.id, None if m.parent is None else stored[m.parent],
                     int(m.chosen), m.role, m.content, m.state, m.tokens,
                     json.dumps(m.sources) if m.sources else None,
                     json.dumps(m.meta) if m.meta else None, m.created, m.reasoning))
                assert cursor.lastrowid is not None
                stored[m.id] = cursor.lastrowid
        if current:
            self.set_current(owner, conversation.id)
        return conversation

    def branch(self, owner: str, conversation: Conversation,
               message_id: int) -> Conversation | None:
        """A new conversation of `owner` with copies of the path up to `message_id` and the
        same settings, now the current one; None when there is no such message."""
        line = self.ancestors(conversation.id, message_id)
        if not line:
            return None
        copies = [Message(**{**m.__dict__, "chosen": True, "siblings": []}) for m in line]
        return self.new_with(owner, conversation.title, time.time(), conversation.settings,
                             copies, current=True)
