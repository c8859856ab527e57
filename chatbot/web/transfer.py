"""A conversation exported (Markdown, or JSON that imports again) and imported."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from chatbot.chat.answer_meta import (
    clean_not_covered,
    clean_seconds,
    clean_seen,
    clean_sources,
    exported,
)
from chatbot.common import browser_room
from chatbot.db.rows import UNTITLED, Message
from chatbot.errors import BadImport
from chatbot.services import services
from chatbot.web import auth
from chatbot.web.views import bp

# An exported conversation is text: a long one is a few hundred kilobytes.
IMPORT_MAX_BYTES = 4 * 1024 * 1024
IMPORT_ROLES = ("user", "assistant")
IMPORT_STATES = ("done", "stopped", "error")


@bp.get("/conversations/<conversation_id>/export.<fmt>")
def export(conversation_id: str, fmt: str) -> Response:
    viewer = auth.viewer()
    if viewer is None or fmt not in ("md", "json"):
        abort(404)
    s = services()
    conversation = s.store.get(viewer.key, conversation_id)
    if conversation is None:
        abort(404)
    messages = s.store.messages(conversation.id) if fmt == "json" else s.store.path(
        conversation.id)
    title = conversation.title or UNTITLED
    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:50] or "conversation"
    if fmt == "json":
        body = json.dumps({"id": conversation.id, "title": title,
                           "created": _iso(conversation.created),
                           # Every version: `parent` makes the tree, `chosen` the path.
                           "messages": [{"id": m.id, "parent": m.parent, "chosen": m.chosen,
                                         "role": m.role, "content": m.content,
                                         "state": m.state, "created": _iso(m.created),
                                         **({"sources": m.sources} if m.sources else {}),
                                         **({"reasoning": m.reasoning}
                                            if m.reasoning else {}),
                                         **exported(m.meta)}
                                        for m in messages]}, indent=2, ensure_ascii=False)
        mimetype = "application/json"
    else:
        parts = [f"# {title}\n", f"_Exported {_iso(datetime.now(UTC).timestamp())}_\n"]
        for m in messages:
            who = "You" if m.role == "user" else "Assistant"
            note = "" if m.state == "done" else f" _({m.state})_"
            parts.append(f"## {who}{note}\n\n{_thoughts_md(m)}{m.content}\n")
        body = "\n".join(parts)
        mimetype = "text/markdown"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


def _thoughts_md(message: Message) -> str:
    """A reasoning model's thoughts, folded above its answer as on the page."""
    if not message.reasoning:
        return ""
    seconds = (message.meta or {}).get("thought_s")
    summary = f"Thought for {seconds:g} s" if isinstance(seconds, int | float) else "Thoughts"
    quoted = "\n".join(f"> {line}" if line else ">" for line in message.reasoning.splitlines())
    return f"<details><summary>{summary}</summary>\n\n{quoted}\n\n</details>\n\n"


@bp.post("/conversations/import")
def import_conversation() -> Response:
    """A conversation exported as JSON (multipart `file`, or the JSON itself as the body)
    becomes a new conversation of the importer's; the origin was checked before any route
    ran."""
    viewer = auth.viewer()
    if viewer is None:
        return _reply(403, {"error": "No session: reload the page first."})
    # Read at most the cap, while the body streams in (a chunked body has no
    # Content-Length to refuse up front): never a whole endless body in memory.
    request.max_content_length = IMPORT_MAX_BYTES + 64 * 1024  # multipart's parser too
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            raw = upload.stream.read(IMPORT_MAX_BYTES + 1) if upload else b""
        else:
            raw = request.stream.read(IMPORT_MAX_BYTES + 1)
    except RequestEntityTooLarge:
        return _reply(413, {"error": _too_big()})
    if len(raw) > IMPORT_MAX_BYTES:
        return _reply(413, {"error": _too_big()})
    try:
        title, created, messages = _parse_export(raw)
    except BadImport as exc:
        return _reply(400, {"error": str(exc)})
    s = services()
    problem = s.limits.imported(viewer.key, len(raw))
    if problem:
        return _reply(429, {"error": problem})
    conversation = s.store.new_with(viewer.key, title, created, {}, messages)
    s.socketio.emit("conversations", s.store.sidebar(viewer.key), to=browser_room(viewer.key))
    return _reply(201, {"id": conversation.id, "title": conversation.summary()["title"],
                       "messages": len(messages)})


def _too_big() -> str:
    return f"That file is too large to import: at most {IMPORT_MAX_BYTES // 1024 // 1024} MB."


def _parse_export(raw: bytes) -> tuple[str, float, list[Message]]:
    """The title, creation time and messages of an export (`export.json`)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadImport("That file is not JSON: choose a conversation exported as "
                        "JSON.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise BadImport("That JSON is not an exported conversation: it has no `messages` "
                        "list.")
    title = data.get("title", "")
    if not isinstance(title, str):
        raise BadImport("`title` must be a string.")
    now = datetime.now(UTC).timestamp()
    messages = [_parse_message(n, item, now) for n, item in enumerate(data["messages"], 1)]
    if not messages:
        raise BadImport("That conversation has no messages to import.")
    _link(data["messages"], messages)
    if not title.strip():
        title = next((m.content for m in messages if m.role == "user"), "")
    return title, _parse_time(data.get("created"), now, "`created`"), messages


def _parse_message(n: int, item: Any, now: float) -> Message:
    where = f"Message {n}"
    if not isinstance(item, dict):
        raise BadImport(f"{where} is not an object.")
    role, content = item.get("role"), item.get("content")
    state, sources = item.get("state", "done"), item.get("sources")
    reasoning = item.get("reasoning")
    if role not in IMPORT_ROLES:
        raise BadImport(f"{where}: `role` must be one of {', '.join(IMPORT_ROLES)}.")
    if not isinstance(content, str):
        raise BadImport(f"{where}: `content` must be a string.")
    if state not in IMPORT_STATES:
        raise BadImport(f"{where}: `state` must be one of {', '.join(IMPORT_STATES)}.")
    if sources is not None and not (isinstance(sources, list)
                                    and all(isinstance(s, dict) for s in sources)):
        raise BadImport(f"{where}: `sources` must be a list of objects.")
    if reasoning is not None and not isinstance(reasoning, str):
        raise BadImport(f"{where}: `reasoning` must be a string.")
    meta = {k: v for k, v in (("seen", clean_seen(item.get("seen"))),
                              ("not_covered", clean_not_covered(item.get("not_covered"))),
                              ("thought_s", clean_seconds(item.get("thought_s"))))
            if v is not None}
    return Message(id=0, role=role, content=content, state=state,
                   sources=clean_sources(sources), meta=meta or None,
                   created=_parse_time(item.get("created"), now, f"{where}: `created`"),
                   reasoning=reasoning if role == "assistant" and reasoning else None)


def _link(items: list[Any], messages: list[Message]) -> None:
    """Each message's `id`, `parent` and `chosen` from an export that has them (a tree:
    every parent listed before its children); an export without ids is one path, each
    message following the one before it."""
    if not any("id" in item for item in items):
        for n, message in enumerate(messages, 1):
            message.id, message.parent = n, n - 1 or None
        return
    seen: set[int] = set()
    for n, (item, message) in enumerate(zip(items, messages, strict=True), 1):
        where = f"Message {n}"
        own, parent, chosen = item.get("id"), item.get("parent"), item.get("chosen", True)
        if not _is_id(own) or own in seen:
            raise BadImport(f"{where}: `id` must be a whole number, different for each "
                            "message.")
        if parent is not None and (not _is_id(parent) or parent not in seen):
            raise BadImport(f"{where}: `parent` must be null or the `id` of a message "
                            "listed before it.")
        if not isinstance(chosen, bool):
            raise BadImport(f"{where}: `chosen` must be true or false.")
        seen.add(own)
        message.id, message.parent, message.chosen = own, parent, chosen


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_time(value: Any, default: float, where: str) -> float:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadImport(f"{where} must be a date and time (ISO 8601).")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _reply(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
