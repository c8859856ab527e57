"""Who is asking, for every HTTP request and socket event; signing in and out; CSRF.

With AUTH off (the default) a browser is its own anonymous owner, named by a random id in
its signed cookie. With AUTH on:
- every route but the sign-in page, health, metrics, the app manifest and static files needs
  a signed-in user: the page redirects to `/login`, other routes answer 401;
- the signed cookie carries the user's id and epoch (accounts.py): a changed password, a
  disabled or removed account ends every session of that user at its next request;
- signing in starts a new session (nothing from before survives it: no fixation), recorded
  on the server: signing out ends it there too, so a copied cookie stops working, and the
  sign-in's open sockets are closed;
- behind an authenticating proxy, AUTH_TRUSTED_HEADER names the user, believed only from
  AUTH_TRUSTED_PROXIES.

Every state-changing request (POST and the like), whether accounts are on or not, must come
from the page's own origin (Origin, else Referer): with a SameSite=Lax cookie this is what
keeps another site from posting a form here in the user's name.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_socketio import SocketIO

from chatbot.accounts.accounts import User
from chatbot.accounts.viewer import Viewer
from chatbot.errors import AccountError, Throttled
from chatbot.services import services
from chatbot.web import api, hosts, operator, proxies

log = logging.getLogger("chatbot.web.auth")

bp = Blueprint("auth", __name__)

# Reachable without a session: signing in, probes, and what the sign-in page loads.
OPEN_ENDPOINTS = frozenset(("auth.login", "chat.healthz", "chat.metrics", "chat.vendor",
                            "chat.manifest", "static"))
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# Pages a person opens: without a session they lead to the sign-in page, not to a 401.
PAGES = frozenset(("chat.index", "chat.shared"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_guard)


def login_room(login: str) -> str:
    """The sockets of one signed-in browser, told when it signs out."""
    return f"login:{login}"


def same_origin() -> bool:
    """The request comes from this site's page on an allowed host (hosts.py refused any
    other Host before), or from an origin CHATBOT_ALLOWED_ORIGINS adds."""
    settings = services().settings
    own = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin is None and request.referrer:
        parts = urlsplit(request.referrer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None:
        return False
    origin = origin.rstrip("/")
    return ((origin == own and hosts.origin_allowed(origin, settings.allowed_host_list))
            or origin in settings.extra_origins)


def current_user() -> User | None:
    """The signed-in user of this request or socket event (None with accounts off)."""
    if "user" not in g:
        g.user = _find_user()
    return g.user


def _find_user() -> User | None:
    s = services()
    if not s.settings.auth:
        return None
    header = s.settings.auth_trusted_header
    if header and _from_trusted_proxy(s.settings.trusted_proxies):
        name = request.headers.get(header, "").strip()
        if name:
            return s.accounts.trusted(name)
    return s.accounts.active(session.get("uid"), session.get("epoch"), session.get("login"))


def client_address() -> str:
    """The address sign-in throttling counts (see proxies.client_address)."""
    return proxies.client_address(request.environ, services().settings.trusted_proxies)


def _from_trusted_proxy(networks: list[str]) -> bool:
    return proxies.trusted(request.remote_addr, networks)


def viewer() -> Viewer | None:
    """Who is asking, for ownership and access rules; None: nobody who may."""
    if services().settings.auth:
        user = current_user()
        return Viewer.of(user) if user is not None else None
    browser = session.get("browser")
    return Viewer(browser) if isinstance(browser, str) else None


def _guard() -> Response | tuple[Response, int] | None:
    if request.endpoint in operator.ENDPOINTS:
        return None  # no cookie, no session: the operator's bearer token (operator.py)
    if request.endpoint in api.ENDPOINTS:
        # A bearer key, never the cookie: exempt from the origin check only with a valid
        # key (api.py says why that is safe).
        return api.authenticate()
    if request.method not in SAFE_METHODS and not same_origin():
        return jsonify({"error": "Refused: this request did not come from this site's own page."}
                       ), 403
    if not services().settings.auth or request.endpoint in OPEN_ENDPOINTS:
        return None
    if current_user() is not None:
        return None
    if request.endpoint in PAGES:
        return redirect(url_for("auth.login"))
    return jsonify({"error": "Sign in first."}), 401


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    s = services()
    if not s.settings.auth:
        return redirect(url_for("chat.index"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(url_for("chat.index"))
        return render_template("login.html", error=None, name="")
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    try:
        user = s.accounts.sign_in(name, password, client_address())
    except Throttled as exc:
        s.metrics.sign_ins.labels(outcome="throttled").inc()
        return render_template("login.html", error=str(exc), name=name), 429
    except AccountError as exc:
        s.metrics.sign_ins.labels(outcome="refused").inc()
        log.info("sign-in refused from %s", client_address())
        return render_template("login.html", error=str(exc), name=name), 401
    s.metrics.sign_ins.labels(outcome="ok").inc()
    start_session(user)
    return redirect(url_for("chat.index"))


def start_session(user: User) -> None:
    """A new session for `user`: nothing of the previous one is kept."""
    accounts = services().accounts
    accounts.close_session(session.get("login"))  # replaced: it must not live on elsewhere
    session.clear()
    session.update(uid=user.id, epoch=user.epoch, login=accounts.open_session(user))
    session.permanent = True


@bp.post("/logout")
def logout() -> Response:
    s = services()
    login = session.get("login")
    if isinstance(login, str):
        s.accounts.close_session(login)
        # This sign-in's open tabs leave too (they hold their own copy of the session):
        # told, for the page (through Redis, on every instance), then closed, for a client
        # that would not listen: here, and by each other instance when the bus tells it.
        s.socketio.emit("signed_out", {}, to=login_room(login))
        close_sockets(s.socketio, login)
        s.chat.bus.sign_out(login)
    session.clear()
    return redirect(url_for("auth.login"))


def close_sockets(socketio: SocketIO, login: str) -> None:
    """Disconnect the sockets of sign-in `login` that this instance holds (called outside
    any request too, by the bus: hence the SocketIO object, not services())."""
    server = socketio.server
    for sid, _ in list(server.manager.get_participants("/", login_room(login))):
        server.disconnect(sid, namespace="/", ignore_queue=True)


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Response | str | tuple[str, int]:
    s = services()
    user = current_user()
    if user is None:  # accounts off
        return redirect(url_for("chat.index"))
    if request.method == "GET":
        return render_template("password.html", user=user, error=None, done=False)
    current = request.form.get("current") or ""
    new = request.form.get("new") or ""
    if not s.accounts.check_password(user, current):
        return render_template("password.html", user=user, done=False,
                               error="The current password is wrong."), 400
    if new != request.form.get("confirm"):
        return render_template("password.html", user=user, done=False,
                               error="The new passwords differ."), 400
    try:
        changed = s.accounts.set_password(user.name, new)
    except AccountError as exc:
        return render_template("password.html", user=user, error=str(exc), done=False), 400
    # Every other session of this user ended with the new epoch; this one goes on.
    start_session(changed)
    return render_template("password.html", user=changed, error=None, done=True)
