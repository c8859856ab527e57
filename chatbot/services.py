"""The one registry of an app's shared objects, kept on the app as `extensions["chatbot"]`:
create_app builds each object once, hands each the others it needs, and records them here
for the HTTP views and socket events."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_socketio import SocketIO

from chatbot.accounts.accounts import Accounts
from chatbot.accounts.api_keys import ApiKeys
from chatbot.accounts.limits import Limits
from chatbot.chat.api_answers import ApiAnswers
from chatbot.chat.chat import Chat
from chatbot.chat.grounding import Grounding
from chatbot.chat.llm import LLMClient
from chatbot.chat.model_picker import ModelPicker
from chatbot.chat.presets import Presets
from chatbot.db.store import Store
from chatbot.documents.ingests import Ingests
from chatbot.documents.library import Library
from chatbot.documents.maintenance import Maintenance
from chatbot.metrics import Metrics
from chatbot.settings import Settings


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
    picker: ModelPicker
    socketio: SocketIO
    accounts: Accounts
    limits: Limits
    maintenance: Maintenance
    api_keys: ApiKeys
    api_answers: ApiAnswers
    presets: Presets


def services() -> Services:
    """The current app's services (inside a request or a socket event)."""
    return current_app.extensions["chatbot"]
