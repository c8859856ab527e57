"""`#name` in a message: this question is grounded in that collection, or in that one
document (its best passages), whatever the conversation's RAG setting. The page offers the
names as `#` is typed (`mentions` event); a name with spaces is written `#[name with
spaces]`. A `#word` that names nothing of the user's is left as text (a hashtag, an issue
number): only exact names count, compared as document_commands compares them (case, the
extension and punctuation aside).
"""

from __future__ import annotations

import re
from typing import Any

from chatbot.chat.command_types import Context
from chatbot.chat.grounding import OneOff
from chatbot.chat.intents import normalised
from chatbot.documents.library import display_name
from rag import RagError

MENTION = re.compile(r"(?<![\w#&])#(?:\[([^\]\n]{1,200})\]|([^\s#\[\]]{1,200}))")
MAX_SUGGESTIONS = 20
MAX_COLLECTIONS = 50  # looked through for suggestions, at most


def mentioned(text: str) -> list[str]:
    return [m.group(1) or m.group(2).rstrip(".,;:!?)") for m in MENTION.finditer(text)]


def written(name: str) -> str:
    """How a name is written after `#`."""
    return f"#[{name}]" if re.search(r"[\s#\[\]]", name) else f"#{name}"


def grounding(text: str, ctx: Context) -> OneOff | None:
    """The grounding the first `#name` of `text` that names a collection or document of the
    user's asks for (None: no such mention)."""
    names = mentioned(text)
    if not names or ctx.library is None:
        return None
    try:
        readable = [c["name"] for c in ctx.library.collections(ctx.viewer)]
        for name in names:
            wanted = normalised(name)
            for collection in readable:
                if normalised(collection) == wanted or collection == name:
                    return OneOff(collection=collection)
            for collection in readable:
                for source, title in ctx.library.rag.document_titles(collection):
                    if wanted in (normalised(display_name(source)), normalised(title)):
                        return OneOff(collection=collection, source=source)
    except RagError:
        return None
    return None


def suggestions(query: str, ctx: Context) -> list[dict[str, Any]]:
    """Collections and documents whose name or title holds `query`, collections first."""
    assert ctx.library is not None
    wanted = query.strip().lower()
    found: list[dict[str, Any]] = []
    collections = [c["name"] for c in ctx.library.collections(ctx.viewer)][:MAX_COLLECTIONS]
    for collection in collections:
        if wanted in collection.lower():
            found.append({"kind": "collection", "name": collection, "title": collection,
                          "insert": written(collection)})
    for collection in collections:
        for source, title in ctx.library.rag.document_titles(collection):
            name = display_name(source)
            if wanted in name.lower() or wanted in title.lower():
                found.append({"kind": "document", "name": name, "title": title,
                              "collection": collection, "insert": written(name)})
            if len(found) >= MAX_SUGGESTIONS:
                return found
    return found[:MAX_SUGGESTIONS]
