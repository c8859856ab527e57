"""The objects one app shares between HTTP views and socket events, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_socketio import SocketIO

from chatbot.chat import Chat
from chatbot.llm import LLMClient
from chatbot.metrics import Metrics
from chatbot.settings import Settings
from chatbot.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    llm: LLMClient
    metrics: Metrics
    chat: Chat
    socketio: SocketIO


def services() -> Services:
    return current_app.extensions["chatbot"]
