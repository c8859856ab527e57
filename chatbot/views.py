"""HTTP routes: the page, health, metrics, conversation export and import, and the vendored
JS/CSS.

`/healthz` is liveness: it answers from this process alone, so a container is restarted only
when the chatbot itself is stuck. `/healthz?ready=1` is readiness: the LLM server, Chroma
and, with REDIS_URL, Redis each asked once, within READY_TIMEOUT_S, and a 503 naming those
that did not answer, so that an orchestrator sends no users to an instance that cannot
answer them.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    session,
)
from werkzeug.exceptions import RequestEntityTooLarge

from chatbot import auth
from chatbot.answer_meta import clean_not_covered, clean_seen, clean_sources, exported
from chatbot.common import browser_room
from chatbot.library import Library
from chatbot.llm import LLMClient
from chatbot.services import services
from chatbot.store import Message
from rag import SUPPORTED_EXTENSIONS

bp = Blueprint("chat", __name__)
log = logging.getLogger("chatbot.views")

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
# Third-party browser code, installed by `npm ci` from package-lock.json and served from our
# own origin (no CDN). Only these files are reachable, under stable names the page imports.
VENDOR_FILES = {
    "socket.io.esm.min.js": "socket.io-client/dist/socket.io.esm.min.js",
    "marked.esm.js": "marked/lib/marked.esm.js",
    "purify.es.mjs": "dompurify/dist/purify.es.mjs",
    "highlight.min.js": "@highlightjs/cdn-assets/es/highlight.min.js",
    "hljs-light.css": "@highlightjs/cdn-assets/styles/github.min.css",
    "hljs-dark.css": "@highlightjs/cdn-assets/styles/github-dark.min.css",
    # PDF.js, which draws a cited PDF page in the source panel, and its worker.
    "pdf.min.mjs": "pdfjs-dist/build/pdf.min.mjs",
    "pdf.worker.min.mjs": "pdfjs-dist/build/pdf.worker.min.mjs",
}
# The page runs only our own scripts: no inline script, no eval, no third-party origin; its
# one worker (PDF.js's) comes from our origin too. connect-src 'self' covers the page's own
# ws:/wss: (CSP Level 3, which Chromium and Firefox follow); `ws: wss:` would allow a
# WebSocket to any host, a channel out for an injected script.
CSP = ("default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Each dependency's answer to a readiness check; healthchecks run every few seconds.
READY_TIMEOUT_S = 2.0
# An exported conversation is text: a long one is a few hundred kilobytes.
IMPORT_MAX_BYTES = 4 * 1024 * 1024
IMPORT_ROLES = ("user", "assistant")
IMPORT_STATES = ("done", "stopped", "error")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_security_headers)
    app.after_request(_count)


def _count(response: Response) -> Response:
    # Unrouted paths share one label: a scanner's guesses must not grow the metrics.
    endpoint = request.endpoint or "unrouted"
    services().metrics.http_requests.labels(endpoint=endpoint,
                                            status=str(response.status_code)).inc()
    return response


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # CSP's frame-ancestors, for browsers that predate it: no page of ours in a frame.
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@bp.get("/")
def index() -> str:
    user = auth.current_user()  # with accounts on, the guard let only signed-in users here
    if user is None and not isinstance(session.get("browser"), str):
        session["browser"] = secrets.token_hex(16)
    session.permanent = True
    return render_template("index.html", version=current_app.config["APP_VERSION"],
                           accept=",".join(sorted(SUPPORTED_EXTENSIONS)), user=user)


@bp.get("/healthz")
def healthz() -> Response:
    if not request.args.get("ready"):
        return _json(200, {"status": "ok", "version": current_app.config["APP_VERSION"]})
    s = services()
    checks = {"llm": _llm_ready(s.llm), "chroma": _chroma_ready(s.library)}
    redis = s.chat.bus.ready(READY_TIMEOUT_S)
    if redis is not None:
        checks["redis"] = redis
    down = [name for name, check in checks.items() if not check["reachable"]]
    if down:
        log.warning("not ready: %s", json.dumps({n: checks[n] for n in down}))
    if not _may_see_details():
        # Internal URLs and error text tell a stranger how the deployment is built: they
        # get the verdict only (the details are in the log line above).
        checks = {name: {"reachable": True} if check["reachable"] else
                  {"reachable": False, "reason": check.get("reason", "unreachable")}
                  for name, check in checks.items()}
    if down:
        return _json(503, {"status": "unavailable", "unavailable": down, **checks})
    return _json(200, {"status": "ok", **checks})


def _may_see_details() -> bool:
    """Readiness details (URLs, errors) for admins with accounts on; anyone else, who may
    reach /healthz without signing in, gets each check's verdict and a generic reason."""
    if services().settings.auth:
        user = auth.current_user()
        if user is not None and user.admin:
            return True
    return False


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _llm_ready(llm: LLMClient) -> dict[str, Any]:
    """Its /health says ok; an engine without /health (a hosted API) lists its models."""
    try:
        response = llm.http.get("/health", timeout=READY_TIMEOUT_S)
        if response.status_code == 404:
            models = llm.settings.llm_base_url.rstrip("/") + "/models"
            response = llm.http.get(models, timeout=READY_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return {"reachable": False, "reason": "unreachable", "url": llm.settings.llm_root_url,
                "error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__}
    try:
        body = response.json()
    except ValueError:
        body = None  # vLLM's /health answers 200 with an empty body
    body = body if isinstance(body, dict) else {}
    if response.status_code != 200:
        # llmserver: 503 {"status": "loading"} or {"status": "unavailable", "error": ...}
        reason = body.get("error") or body.get("status") or f"HTTP {response.status_code}"
        return {"reachable": False, "url": llm.settings.llm_root_url, "error": str(reason),
                "reason": "loading" if body.get("status") == "loading" else "error"}
    return {"reachable": True, "model": body.get("model")}


def _chroma_ready(library: Library) -> dict[str, Any]:
    """A Chroma server answers its heartbeat; embedded Chroma opens."""
    mode = "server" if library.rag.settings.chroma_url else "embedded"
    try:
        library.rag.store.heartbeat(READY_TIMEOUT_S)
    except Exception as exc:  # rag's store errors, whose message says why
        return {"reachable": False, "reason": "unreachable", "mode": mode, "error": str(exc)}
    return {"reachable": True, "mode": mode}


@bp.get("/metrics")
def metrics() -> Response:
    m = services().metrics
    return Response(m.render(), mimetype=m.content_type)


@bp.get("/vendor/<name>")
def vendor(name: str) -> Response:
    relative = VENDOR_FILES.get(name)
    if relative is None:
        abort(404)
    path = NODE_MODULES / relative
    if not path.is_file():
        abort(404, description="Front-end packages are missing: run `make install`.")
    response = send_from_directory(path.parent, path.name, max_age=3600)
    if name.endswith((".js", ".mjs")):
        response.mimetype = "text/javascript"
    return response


@bp.get("/conversations/<conversation_id>/export.<fmt>")
def export(conversation_id: str, fmt: str) -> Response:
    viewer = auth.viewer()
    if viewer is None or fmt not in ("md", "json"):
        abort(404)
    s = services()
    conversation = s.store.get(viewer.key, conversation_id)
    if conversation is None:
        abort(404)
    messages = s.store.messages(conversation.id)
    title = conversation.title or "New chat"
    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:50] or "conversation"
    if fmt == "json":
        body = json.dumps({"id": conversation.id, "title": title,
                           "created": _iso(conversation.created),
                           "messages": [{"role": m.role, "content": m.content,
                                         "state": m.state, "created": _iso(m.created),
                                         **({"sources": m.sources} if m.sources else {}),
                                         **exported(m.meta)}
                                        for m in messages]}, indent=2, ensure_ascii=False)
        mimetype = "application/json"
    else:
        parts = [f"# {title}\n", f"_Exported {_iso(datetime.now(UTC).timestamp())}_\n"]
        for m in messages:
            who = "You" if m.role == "user" else "Assistant"
            note = "" if m.state == "done" else f" _({m.state})_"
            parts.append(f"## {who}{note}\n\n{m.content}\n")
        body = "\n".join(parts)
        mimetype = "text/markdown"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


class BadImport(ValueError):
    """The file to import is not an export; the message says what is wrong, for the user."""


@bp.post("/conversations/import")
def import_conversation() -> Response:
    """A conversation exported as JSON (multipart `file`, or the JSON itself as the body)
    becomes a new conversation of the importer's; the origin was checked before any route
    ran."""
    viewer = auth.viewer()
    if viewer is None:
        return _json(403, {"error": "No session: reload the page first."})
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
        return _json(413, {"error": _too_big()})
    if len(raw) > IMPORT_MAX_BYTES:
        return _json(413, {"error": _too_big()})
    try:
        title, created, messages = _parse_export(raw)
    except BadImport as exc:
        return _json(400, {"error": str(exc)})
    s = services()
    problem = s.limits.imported(viewer.key, len(raw))
    if problem:
        return _json(429, {"error": problem})
    conversation = s.store.import_conversation(viewer.key, title, created, messages)
    s.socketio.emit("conversations", {"conversations": [
        c.summary() for c in s.store.conversations(viewer.key)]}, to=browser_room(viewer.key))
    return _json(201, {"id": conversation.id, "title": conversation.summary()["title"],
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
    if not title.strip():
        title = next((m.content for m in messages if m.role == "user"), "")
    return title, _parse_time(data.get("created"), now, "`created`"), messages


def _parse_message(n: int, item: Any, now: float) -> Message:
    where = f"Message {n}"
    if not isinstance(item, dict):
        raise BadImport(f"{where} is not an object.")
    role, content = item.get("role"), item.get("content")
    state, sources = item.get("state", "done"), item.get("sources")
    if role not in IMPORT_ROLES:
        raise BadImport(f"{where}: `role` must be one of {', '.join(IMPORT_ROLES)}.")
    if not isinstance(content, str):
        raise BadImport(f"{where}: `content` must be a string.")
    if state not in IMPORT_STATES:
        raise BadImport(f"{where}: `state` must be one of {', '.join(IMPORT_STATES)}.")
    if sources is not None and not (isinstance(sources, list)
                                    and all(isinstance(s, dict) for s in sources)):
        raise BadImport(f"{where}: `sources` must be a list of objects.")
    meta = {k: v for k, v in (("seen", clean_seen(item.get("seen"))),
                              ("not_covered", clean_not_covered(item.get("not_covered"))))
            if v}
    return Message(id=0, role=role, content=content, state=state,
                   sources=clean_sources(sources), meta=meta or None,
                   created=_parse_time(item.get("created"), now, f"{where}: `created`"))


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
