"""A user's keys to the OpenAI-compatible API, in the account area (accounts on only):

    GET  /account/keys              the list (name, last 4 characters, made, last used)
    POST /account/keys              form `name`: a new key, shown on the answer once
    POST /account/keys/<id>/revoke  the key stops working at once

Cookie-authenticated pages like /account/password, so the page's same-origin check applies.
The page showing a new key is never cached: the key is on it, and nowhere else ever after.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for

from chatbot.accounts.accounts import User
from chatbot.errors import AccountError
from chatbot.services import services
from chatbot.web import auth

bp = Blueprint("keys", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _page(user: User, *, created: str | None = None, error: str | None = None,
          status: int = 200) -> Response:
    keys = services().api_keys.list(user.id)
    response = Response(render_template("keys.html", user=user, keys=keys, created=created,
                                        error=error, when=_when,
                                        api_url=request.host_url.rstrip("/") + "/v1"),
                        status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.route("/account/keys", methods=["GET", "POST"])
def keys() -> Response:
    user = auth.current_user()
    if user is None:  # accounts off: the one key is CHATBOT_API_KEY
        return redirect(url_for("chat.index"))
    if request.method == "GET":
        return _page(user)
    try:
        key = services().api_keys.create(user.id, request.form.get("name") or "")
    except AccountError as exc:
        return _page(user, error=str(exc), status=400)
    return _page(user, created=key, status=201)


@bp.post("/account/keys/<int:key_id>/revoke")
def revoke(key_id: int) -> Response:
    user = auth.current_user()
    if user is None:
        return redirect(url_for("chat.index"))
    if not services().api_keys.revoke(user.id, key_id):
        return _page(user, error="No such key (it may have been revoked already).",
                     status=404)
    return redirect(url_for("keys.keys"))
