"""Socket.IO events (the contract in docs/protocol.md: the chat, plus the sidebar, settings,
regenerate, edit, search, model-picker, document-collection and preset extras), as one
Flask-SocketIO `Namespace` on "/" whose `on_<event>` methods come from one class per
concern:

- `base.py`: connecting, the socket's `Client`, and the one guard every event goes through;
- `chat_events.py`: a question, a command, stop;
- `version_events.py`: versions of a turn (regenerate, edit and resend, choose one),
  continuing a stopped answer, branching into a new conversation;
- `conversation_events.py`: the sidebar (new, switch, rename, delete, search) and settings;
- `organise_events.py`: pins and folders; `share_events.py`: read-only links to a copy;
- `document_events.py`: collections and their documents, the retrieval view;
- `model_events.py`: the model picker;
- `preset_events.py`: presets, and starting a conversation from one.

Each socket belongs to an owner (a browser's cookie id, or with AUTH on a signed-in user)
and shows one conversation; it sits in the conversation's room (answers stream there, so
every tab showing it follows along), the owner's (sidebar changes reach all of their tabs)
and, with accounts, its sign-in's (signing out there closes it). With AUTH on, a connection
without a valid session is refused.
"""

from __future__ import annotations

from chatbot.services import Services
from chatbot.sockets.base import guarded_events
from chatbot.sockets.connections import Connections
from chatbot.sockets.conversation_events import ConversationEvents
from chatbot.sockets.document_events import DocumentEvents
from chatbot.sockets.model_events import ModelEvents
from chatbot.sockets.organise_events import OrganiseEvents
from chatbot.sockets.preset_events import PresetEvents
from chatbot.sockets.share_events import ShareEvents
from chatbot.sockets.version_events import VersionEvents


class ChatNamespace(VersionEvents, ConversationEvents, OrganiseEvents, ShareEvents,
                    DocumentEvents, ModelEvents, PresetEvents):
    """Every event of the default namespace."""


# What a client may send besides connecting: every guarded `on_<event>`.
EVENTS = guarded_events(ChatNamespace)


def register(services: Services, connections: Connections) -> ChatNamespace:
    namespace = ChatNamespace(services, connections)
    services.socketio.on_namespace(namespace)
    services.socketio.on_error_default(namespace.unexpected)
    return namespace
