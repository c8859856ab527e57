"""Read-only links to a conversation: each a copy of its messages as they were when shared,
under a random token (the link's only secret), until its owner revokes it or deletes the
conversation. A mixin of the Store, on its connection."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from chatbot.db.rows import Message
from chatbot.errors import Refused

# Each link is a copy of a conversation; this many per owner is more than anyone keeps.
MAX_SHARES = 100
# 32 random bytes, URL-safe: as hard to guess as the session key.
TOKEN_BYTES = 32
# What of a source the copy keeps: what the shared page shows. The passages the model was
# given, and what it saw (the system prompt among them), stay private.
SOURCE_FIELDS = ("n", "title", "url", "page", "cited")


@dataclass(frozen=True)
class Share:
    token: str
    conversation: str
    title: str
    created: float
    messages: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"token": self.token, "url": f"/shared/{self.token}",
                "conversation": self.conversation, "title": self.title,
                "created": self.created, "messages": len(self.messages)}


class ShareRecords:
    """The owner's links and what each shows."""

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def create_share(self, owner: str, conversation_id: str, title: str,
                     messages: list[Message]) -> Share | None:
        """A new link to a copy of `messages` (the conversation's, read by the caller);
        None when the conversation is not the owner's."""
        share = Share(secrets.token_urlsafe(TOKEN_BYTES), conversation_id, title, time.time(),
                      snapshot(messages))
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM shares WHERE owner = ?",
                               (owner,)).fetchone()[0]
            if count >= MAX_SHARES:
                raise Refused(f"You have {MAX_SHARES} shared links, the most there can be: "
                              "revoke one first.")
            cursor = db.execute("INSERT INTO shares (token, owner, conversation, title, messages, "
                       "created) SELECT ?, ?, id, ?, ?, ? FROM conversations "
                       "WHERE id = ? AND browser = ?",
                       (share.token, owner, title, json.dumps(share.messages), share.created,
                        conversation_id, owner))
        return share if cursor.rowcount == 1 else None

    def shares(self, owner: str) -> list[Share]:
        """The owner's links, newest first."""
        return [_share_from(r) for r in self.read(
            "SELECT * FROM shares WHERE owner = ? ORDER BY created DESC", (owner,))]

    def revoke_share(self, owner: str, token: str) -> bool:
        cursor = self.write("DELETE FROM shares WHERE token = ? AND owner = ?", (token, owner))
        return cursor.rowcount == 1

    def shared(self, token: str) -> Share | None:
        """The copy a link shows, whoever asks (who may ask is the route's concern)."""
        rows = self.read("SELECT * FROM shares WHERE token = ?", (token,))
        return _share_from(rows[0]) if rows else None


def snapshot(messages: list[Message]) -> list[dict[str, Any]]:
    """The messages as the shared page shows them: text, state, and their sources' titles
    and links."""
    copy = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content, "state": m.state,
                                "created": m.created}
        if m.sources:
            item["sources"] = [{k: s[k] for k in SOURCE_FIELDS if k in s}
                               for s in m.sources if isinstance(s, dict)]
        copy.append(item)
    return copy


def _share_from(row: sqlite3.Row) -> Share:
    return Share(row["token"], row["conversation"], row["title"], row["created"],
                 json.loads(row["messages"]))
