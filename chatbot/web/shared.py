"""The read-only page of a shared conversation, `/shared/<token>`: the copy made when it was
shared (db/shares.py), shown as text by the server and as sanitized Markdown by the page's
own renderer (static/js/shared.js), under the page's CSP and without Socket.IO. With
accounts on, the guard (auth.py) lets only signed-in users of the instance here; without,
anyone who can reach the page. A revoked or unknown token is 404, the same for everyone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, current_app, make_response, render_template

from chatbot.services import services
from chatbot.web.views import bp

# Longer than any token made (db/shares.py): not looked up.
TOKEN_CHARS = 64


@bp.get("/shared/<token>")
def shared(token: str) -> Response:
    share = services().store.shared(token) if len(token) <= TOKEN_CHARS else None
    if share is None:
        abort(404)
    messages = [{**m, "sources": [_source(s) for s in m.get("sources", [])]}
                for m in share.messages]
    response = make_response(render_template(
        "shared.html", share=share, messages=messages,
        shared_at=datetime.fromtimestamp(share.created, UTC).isoformat(timespec="seconds"),
        version=current_app.config["APP_VERSION"]))
    # A revoked link must not live on in a cache; a link is nothing for search engines.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _source(source: dict[str, Any]) -> dict[str, Any]:
    """A source as the page lists it: its link only to a web page or an uploaded file (which
    opens for those who may read it), never another scheme."""
    url = source.get("url")
    link = url if isinstance(url, str) and url.startswith(
        ("https://", "http://", "/files/")) else None
    title = source.get("title")
    return {"n": source.get("n"), "title": title if isinstance(title, str) and title else url,
            "href": link, "page": source.get("page")}
