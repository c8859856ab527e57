"""The page, the vendored JS/CSS, the web app manifest, and what every response gets
(security headers, the request count). Health and metrics are in health.py, export and
import in transfer.py, a shared conversation's page in shared.py; all add their routes to
one blueprint, `page` (named "chat": its endpoints are the `endpoint` label of
chatbot_http_requests_total, which dashboards may select on)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

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
    url_for,
)

from chatbot.db.rows import UNTITLED
from chatbot.services import services
from chatbot.web import auth, i18n
from rag import SUPPORTED_EXTENSIONS

bp = Blueprint("chat", __name__)

ROOT = Path(__file__).resolve().parents[2]
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
    # KaTeX, which typesets math in answers (loaded with the first formula), and its styles.
    "katex.mjs": "katex/dist/katex.mjs",
    "katex.min.css": "katex/dist/katex.min.css",
}
# KaTeX's fonts, which its CSS asks for as fonts/KaTeX_*.woff2 (or .woff, .ttf) relative to
# itself: only names of that shape, from that one folder.
KATEX_FONTS = NODE_MODULES / "katex/dist/fonts"
KATEX_FONT_NAME = re.compile(r"KaTeX_[A-Za-z0-9]+-[A-Za-z]+\.(?:woff2|woff|ttf)")
# The page runs only our own scripts: no inline script, no eval, no third-party origin; its
# one worker (PDF.js's) comes from our origin too. connect-src 'self' covers the page's own
# ws:/wss: (CSP Level 3, which Chromium and Firefox follow); `ws: wss:` would allow a
# WebSocket to any host, a channel out for an injected script.
CSP = ("default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    # Their routes are on `bp`: imported before it is registered.
    from chatbot.web import health, shared, transfer  # noqa: F401

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
                           accept=",".join(sorted(SUPPORTED_EXTENSIONS)), user=user,
                           untitled=UNTITLED)


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


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """What a browser needs to install the page as an app (open to all: browsers fetch it
    without the session cookie, and the sign-in page links it too)."""
    def icon(name: str, kind: str, sizes: str) -> dict[str, str]:
        return {"src": url_for("static", filename=name), "type": kind, "sizes": sizes}

    # In the language the page would have: browsers fetch it without cookies, so that of
    # Accept-Language.
    body = {
        "lang": i18n.chosen_language(),
        "name": str(i18n.translate("app.name")),
        "short_name": str(i18n.translate("manifest.short_name")),
        "description": str(i18n.translate("manifest.description")),
        "start_url": url_for("chat.index"),
        "scope": url_for("chat.index"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#2f6feb",
        "icons": [icon("favicon.svg", "image/svg+xml", "any"),
                  icon("icon-192.png", "image/png", "192x192"),
                  icon("icon-512.png", "image/png", "512x512")],
    }
    response = Response(json.dumps(body), mimetype="application/manifest+json")
    response.cache_control.max_age = 3600
    return response


@bp.get("/vendor/fonts/<name>")
def vendor_font(name: str) -> Response:
    if not KATEX_FONT_NAME.fullmatch(name) or not (KATEX_FONTS / name).is_file():
        abort(404)
    return send_from_directory(KATEX_FONTS, name, max_age=3600)
