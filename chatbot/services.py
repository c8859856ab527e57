"""The one registry of an app's shared objects, kept on the app as `extensions["chatbot"]`:
create_app builds each object once, hands each the others it needs, and records them here
for the HTTP views and socket events."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_socketio import SocketIO

from chatbot.accounts import Accounts
from chatbot.chat import Chat
from chatbot.grounding import Grounding
from chatbot.ingests import Ingests
from chatbot.library import Library
from chatbot.limits import Limits
from chatbot.llm import LLMClient
from chatbot.metrics import Metrics
from chatbot.settings import Settings
from chatbot.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    llm: LLMClient
    metrics: Metrics
    library: Library
    grounding: Grounding
    chat: Chat
    ingests: Ingests
    socketio: SocketIO
    accounts: Accounts
    limits: Limits


def services() -> Services:
    """The current app's services (inside a request or a socket event)."""
    return current_app.extensions["chatbot"]
