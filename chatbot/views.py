"""HTTP routes: the page, health, metrics, conversation export, and the vendored JS/CSS."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    send_from_directory,
    session,
)

from chatbot.services import services
from rag import SUPPORTED_EXTENSIONS

bp = Blueprint("chat", __name__)

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
}
# The page runs only our own scripts: no inline script, no eval, no third-party origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@bp.get("/")
def index() -> str:
    if not isinstance(session.get("browser"), str):
        session["browser"] = secrets.token_hex(16)
    session.permanent = True
    return render_template("index.html", version=current_app.config["APP_VERSION"],
                           accept=",".join(sorted(SUPPORTED_EXTENSIONS)))


@bp.get("/healthz")
def healthz() -> Response:
    llm = services().llm.health(fresh=True)
    body = {"status": "ok", "llm": {"reachable": bool(llm), "model": llm.get("model")}}
    return Response(json.dumps(body), mimetype="application/json")


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
    browser = session.get("browser")
    if not isinstance(browser, str) or fmt not in ("md", "json"):
        abort(404)
    s = services()
    conversation = s.store.get(browser, conversation_id)
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
                                         **({"sources": m.sources} if m.sources else {})}
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


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
