"""`create_app()`: every object of the chat app built and wired, in one place; nothing
happens at import."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from chatbot import bus, datadir, logs, sockets
from chatbot.accounts.accounts import Accounts
from chatbot.accounts.api_keys import ApiKeys
from chatbot.accounts.limits import Limits
from chatbot.chat.answering import Answering
from chatbot.chat.api_answers import ApiAnswers
from chatbot.chat.chat import Chat
from chatbot.chat.grounding import Grounding
from chatbot.chat.llm import LLMClient
from chatbot.chat.model_picker import ModelPicker
from chatbot.chat.presets import Presets
from chatbot.chat.prompt import PromptBuilder
from chatbot.chat.slots import SlotQueue
from chatbot.chat.streaming import Streamer
from chatbot.chat.transcript import Transcript
from chatbot.chat.whole import Whole
from chatbot.common import app_version
from chatbot.db.presets import PresetStore
from chatbot.db.store import Store
from chatbot.documents.ingests import Ingests
from chatbot.documents.library import Library
from chatbot.documents.maintenance import Maintenance
from chatbot.metrics import Metrics
from chatbot.services import Services
from chatbot.settings import Settings
from chatbot.sockets.connections import Connections
from chatbot.web import api, auth, files, hosts, i18n, keys, operator, uploads, views
from chatbot.web.proxies import ForwardedScheme, SecureOverHttps

ROOT = Path(__file__).resolve().parent.parent
# A 1 MB message must reach the handler to be refused with a readable `error`; above this
# Engine.IO drops the connection instead (the client reconnects).
MAX_PACKET_BYTES = 4 * 1024 * 1024

log = logging.getLogger("chatbot")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` overrides settings by field name (e.g. `data_dir`,
    `llm_base_url`) and, for upper-case keys, Flask config."""
    overrides = dict(test_config or {})
    flask_config = {k: overrides.pop(k) for k in list(overrides) if k.isupper()}
    settings = Settings(**overrides)
    logs.setup(settings.log_level, settings.log_format)
    datadir.make_private(settings.data_dir)

    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), static_url_path="/static")
    app.config.update(
        SECRET_KEY=settings.secret_key or datadir.stored_secret(
            settings.data_dir, "secret_key", "a cookie signing key"),
        SESSION_COOKIE_NAME="localchat",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        # With accounts, a session unused this long ends (every request renews the cookie,
        # and accounts.py keeps the same limit on the server). Without, the cookie is the
        # browser's only key to its conversations: it lasts as long as browsers allow.
        PERMANENT_SESSION_LIFETIME=timedelta(
            days=settings.auth_session_days if settings.auth else 400),
        APP_VERSION=app_version(),
        **flask_config,
    )

    # With REDIS_URL, every emit goes through Redis to every instance, which sends it to the
    # sockets it holds in the room: a tab follows its conversation whichever instance it is on.
    socketio = SocketIO(app, async_mode="threading", max_http_buffer_size=MAX_PACKET_BYTES,
                        cors_allowed_origins=_origin_check(settings),
                        message_queue=settings.redis_url)

    def emit(event: str, payload: dict[str, Any], room: str | None) -> None:
        socketio.emit(event, payload, to=room)

    store = Store(settings.data_dir / "conversations.sqlite3")
    llm = LLMClient(settings)
    metrics = Metrics()
    library = Library.open(settings)
    grounding = Grounding(settings, store, library, metrics, emit,
                          Whole(llm, library, settings.data_dir))
    transcript = Transcript(store, metrics, emit)
    answering = Answering(settings, llm, grounding,
                          PromptBuilder(store, transcript, metrics, emit))
    slots = SlotQueue(settings.llm_concurrency or 1, metrics)
    chat = Chat(settings=settings, store=store, llm=llm, answering=answering, slots=slots,
                streamer=Streamer(emit, metrics, settings.stream_interval_ms),
                transcript=transcript, metrics=metrics, emit=emit,
                spawn=socketio.start_background_task, bus=bus.connect(settings.redis_url))
    ingests = Ingests(settings, library, store, metrics, emit)
    accounts = Accounts(store, max_failures=settings.auth_max_failures,
                        max_failures_per_address=settings.auth_max_failures_per_address,
                        failure_window_s=settings.auth_failure_window,
                        session_s=settings.auth_session_days * 86400)
    picker = ModelPicker(llm, emit, socketio.start_background_task)
    services = Services(settings=settings, store=store, llm=llm, metrics=metrics,
                        library=library, grounding=grounding, chat=chat, ingests=ingests,
                        picker=picker, socketio=socketio, accounts=accounts,
                        limits=Limits(settings, store, metrics),
                        maintenance=Maintenance(settings, library),
                        api_keys=ApiKeys(store, accounts, auth=settings.auth,
                                         operator_key=settings.api_key),
                        api_answers=ApiAnswers(settings, llm, library, slots, metrics),
                        presets=Presets(settings, PresetStore(store), llm, library, picker))
    app.extensions["chatbot"] = services
    # After SocketIO(app), which wraps wsgi_app with Engine.IO: this runs before it.
    app.wsgi_app = ForwardedScheme(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    # Outermost: a Host that is not ours is refused before Engine.IO or Flask sees it.
    app.wsgi_app = hosts.AllowedHosts(app.wsgi_app, settings.allowed_host_list)  # type: ignore[method-assign]
    app.session_interface = SecureOverHttps()
    auth.init_app(app)
    views.init_app(app)
    i18n.init_app(app)
    uploads.init_app(app, settings)
    files.init_app(app)
    operator.init_app(app, settings.data_dir)
    api.init_app(app)
    keys.init_app(app)
    connections = Connections(socketio, settings, metrics)
    connections.install()
    chat.bus.on_sign_out(lambda login: auth.close_sockets(socketio, login))
    sockets.register(services, connections)
    services.maintenance.start()
    return app


def _origin_check(settings: Settings) -> Callable[[str | None, dict[str, Any]], bool]:
    """Same origin, on an allowed host (hosts.py: the Host itself was checked before this
    runs); CHATBOT_ALLOWED_ORIGINS adds more. A request without Origin (a non-browser client)
    is not a cross-site risk and Engine.IO does not check it."""
    extra, allow = settings.extra_origins, settings.allowed_host_list

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        if origin is None:
            return False
        return (origin == own and hosts.origin_allowed(origin, allow)) or (
            origin.rstrip("/") in extra)

    return allowed
