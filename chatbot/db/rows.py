"""What the conversation store hands out: a conversation, a message, a search hit, and how
each is read from its row; the titles and search queries made from what a user typed."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

# A conversation without a title yet, as every listing and export names it.
UNTITLED = "New chat"
TITLE_CHARS = 60
# A search answers with the best few; it is a way back to a conversation, not a report.
SEARCH_RESULTS = 30
# Words of a search query that count: more would only slow FTS5 down.
SEARCH_WORDS = 16
# Around each match of a snippet; control characters, so no text can contain them.
MARK_START, MARK_END = "\x02", "\x03"

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
        return {"id": self.id, "title": self.title or UNTITLED, "updated": self.updated}


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
    reasoning: str | None = None  # a reasoning model's thoughts before this answer
    parent: int | None = None  # the message this one follows; None: it opens the chat
    chosen: bool = True  # the version shown among its parent's children
    # The versions beside it (its own id included), oldest first; filled in for the path.
    siblings: list[int] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The form sent to the browser in `history` (the contract's fields, then extras)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.sources:
            out["sources"] = self.sources
        out["id"] = self.id
        out["parent"] = self.parent
        out["siblings"] = self.siblings or [self.id]
        if self.state != "done":
            out["state"] = self.state
        if self.reasoning:
            out["reasoning"] = self.reasoning
        if self.meta:
            out.update({k: v for k, v in self.meta.items()
                        if k in ("usage", "tokens_per_s", "error", "finish_reason", "seen",
                                 "not_covered", "thought_s")})
            attached = (self.meta.get("once") or {}).get("attachments")
            if self.role == "user" and attached:
                out["attachments"] = attached
        return out


@dataclass(frozen=True)
class SearchHit:
    conversation: str
    title: str
    message: int | None  # None: the title matched
    snippet: str  # plain text, each match between MARK_START and MARK_END


def match_query(text: str) -> str | None:
    """The FTS5 query for what a user typed: each word quoted (so `"`, `*`, `NEAR`, `OR`
    and the like are words, never syntax), all required, the last one as a prefix so
    results come while typing. None when nothing searchable was typed."""
    words = re.findall(r"\w+", text)[:SEARCH_WORDS]
    if not words:
        return None
    return " ".join(f'"{word}"' for word in words) + "*"


def make_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def conversation_from(row: sqlite3.Row) -> Conversation:
    return Conversation(id=row["id"], title=row["title"], created=row["created"],
                        updated=row["updated"], settings=json.loads(row["settings"]),
                        context_start=row["context_start"],
                        truncation_noticed=bool(row["truncation_noticed"]))


def message_from(row: sqlite3.Row) -> Message:
    return Message(id=row["id"], role=row["role"], content=row["content"], state=row["state"],
                   tokens=row["tokens"],
                   sources=json.loads(row["sources"]) if row["sources"] else None,
                   meta=json.loads(row["meta"]) if row["meta"] else None,
                   created=row["created"], reasoning=row["reasoning"],
                   parent=row["parent"], chosen=bool(row["chosen"]))
