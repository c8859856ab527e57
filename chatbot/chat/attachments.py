"""Files attached to a message. The page uploads them as it does any document (POST
/documents/files) into the conversation's own collection, `chat-<conversation id>`, and names
them in the `message` event; the question is then grounded in them: one document whole when
it fits the context budget (grounding.py), its best passages otherwise, or the collection's
best passages for several. The message keeps what it showed of each (name, kind, size, link)
in its grounding, so `history` shows them and regenerating grounds the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat.grounding import OneOff
from chatbot.documents.library import Library, attachments_collection, display_name
from chatbot.errors import BadPayload
from rag import RagError

MAX_ATTACHMENTS = 10


def names(value: object) -> list[str]:
    """The `attachments` of a `message` event: a list of up to MAX_ATTACHMENTS file names."""
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > MAX_ATTACHMENTS
            or not all(isinstance(n, str) and 0 < len(n) <= 255 for n in value)):
        raise BadPayload(f"Malformed message: `attachments` must be a list of at most "
                         f"{MAX_ATTACHMENTS} file names.")
    return list(dict.fromkeys(value))


def grounding(attached: list[str], conversation_id: str, viewer: Viewer,
              library: Library) -> OneOff:
    """The grounding of a question with these files attached; BadPayload when one is not
    (or no longer) among the conversation's documents."""
    collection = attachments_collection(conversation_id)
    try:
        found = library.find(collection, viewer) and library.rag.documents(collection)
    except RagError as exc:
        raise BadPayload(f"Could not read the attached files: {exc}") from exc
    newest: dict[str, Any] = {}
    for document in sorted(found or [], key=lambda d: d.added):
        newest[display_name(document.source)] = document
    missing = [name for name in attached if name not in newest]
    if missing:
        raise BadPayload(f"Not attached (it failed or was removed; attach it again): "
                         f"{', '.join(missing)}.")
    shown = []
    for name in attached:
        document = newest[name]
        path = Path(document.source)
        shown.append({"name": name, "kind": document.kind,
                      "size": path.stat().st_size if path.is_file() else None,
                      "url": library.link(document.source)})
    source = newest[attached[0]].source if len(attached) == 1 else None
    return OneOff(collection=collection, source=source, attachments=tuple(shown))
