"""What every event shares: the socket's `Client`, connecting and disconnecting, and the one
guard.

The guard (`@guarded` on every `on_<event>` but connect and disconnect): a socket without a
session is told to reload, one whose user was signed out, disabled or removed is told so and
closed, a payload that is not an object or that the handler refuses (`BadPayload`, or a
`Refused` for a request that is well formed but not allowed now) is answered with `error`,
and an unexpected exception is logged and turned into a generic `error`, never a traceback
or a dropped socket. Every id and collection name a payload carries is looked up as its
owner sees it: another owner's conversation or private collection is answered exactly as one
that does not exist.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flask import request, session
from flask_socketio import ConnectionRefusedError as SocketRefused
from flask_socketio import Namespace, disconnect, emit, join_room, leave_room

from chatbot.accounts.viewer import Viewer
from chatbot.common import browser_room
from chatbot.db.rows import Conversation
from chatbot.errors import BadPayload, Refused
from chatbot.services import Services
from chatbot.settings import ChatSettings
from chatbot.sockets.connections import Connections
from chatbot.web import auth
from rag import RagError

log = logging.getLogger("chatbot.sockets")




def refuse_if(problem: str | None) -> None:
    """For the services that answer with the sentence to show, or None."""
    if problem:
        raise Refused(problem)


@dataclass
class Client:
    viewer: Viewer
    conversation_id: str
    address: str  # counted against MAX_SOCKETS_PER_ADDRESS
    # The answer another instance was writing when this socket joined its conversation:
    # the tab missed its first pieces, so its count of them is not the answer's.
    joined_answer: str | None = None


Events = TypeVar("Events", bound="EventsBase")
Handler = Callable[[Events, Client, dict[str, Any]], None]


def guarded(handler: Handler[Events]) -> Callable[..., None]:
    """An `on_<event>` method taking (client, payload), behind the guard."""

    @functools.wraps(handler)
    def on_event(self: Events, data: Any = None, *_: Any) -> None:
        with self.lock:
            client = self.clients.get(request.sid)  # type: ignore[attr-defined]
        if client is None:
            emit("error", {"message": "This connection has no session; reload the page."})
            return
        if self.settings.auth and auth.viewer() != client.viewer:
            emit("error", {"message": "You were signed out. Sign in again."})
            emit("signed_out", {})
            disconnect()
            return
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.metrics.bad_payloads.inc()
            emit("error", {"message": "Malformed request: expected a JSON object."})
            return
        try:
            handler(self, client, data)
        except BadPayload as exc:
            self.metrics.bad_payloads.inc()
            emit("error", {"message": str(exc)})
        except Refused as exc:
            emit("error", {"message": str(exc)})
        except RagError as exc:  # the document store cannot be reached; say so
            emit("error", {"message": f"Your documents cannot be reached now: {exc}"})

    on_event.guarded = True  # type: ignore[attr-defined]
    return on_event


def guarded_events(namespace: type) -> tuple[str, ...]:
    """The events a namespace class answers behind the guard."""
    return tuple(sorted(name.removeprefix("on_") for name in dir(namespace)
                        if name.startswith("on_")
                        and getattr(getattr(namespace, name), "guarded", False)))


class EventsBase(Namespace):
    def __init__(self, services: Services, connections: Connections):
        super().__init__("/")
        self.socketio = services.socketio
        self.settings = services.settings
        self.store = services.store
        self.llm = services.llm
        self.metrics = services.metrics
        self.library = services.library
        self.grounding = services.grounding
        self.chat = services.chat
        self.ingests = services.ingests
        self.limits = services.limits
        self.picker = services.picker
        self.presets = services.presets
        self.connections = connections
        self.clients: dict[str, Client] = {}
        self.lock = threading.Lock()

    def unexpected(self, exc: Exception) -> None:
        log.exception("socket handler failed", exc_info=exc)
        emit("error", {"message": "Something went wrong on the server. Please try again."})

    def on_connect(self, _: Any = None) -> bool:
        viewer = auth.viewer()
        if viewer is None:
            # No page load, no cookie, or not signed in: no conversation to continue.
            return False
        address, environ = auth.client_address(), request.environ
        refusal = self.connections.admit(address, environ)
        if refusal:
            # Socket.IO's own exception (not the builtin): the client gets its message.
            raise SocketRefused(refusal)
        sid = request.sid  # type: ignore[attr-defined]
        try:
            conversation = self.store.current(viewer.key)
            client = Client(viewer, conversation.id, address)
            with self.lock:
                self.clients[sid] = client
            self.metrics.connections.inc()
            join_room(browser_room(viewer.key))
            login = session.get("login")
            if isinstance(login, str):
                join_room(auth.login_room(login))
            self.show(client, conversation)
        except BaseException:
            # A connection that fails here never disconnects: undo what it counted.
            with self.lock:
                registered = self.clients.pop(sid, None)
            if registered is not None:
                self.metrics.connections.dec()
            self.connections.release(address, environ)
            raise
        return True

    def on_disconnect(self, *_: Any) -> None:
        with self.lock:
            gone = self.clients.pop(request.sid, None)  # type: ignore[attr-defined]
        if gone is not None:
            self.connections.release(gone.address, request.environ)
            self.metrics.connections.dec()

    # What several concerns do: show a conversation, move a socket to another one.

    def show(self, client: Client, conversation: Conversation) -> None:
        """Send this socket the conversation (joining its room) and the sidebar."""
        generation = self.chat.active(conversation.id)
        place = generation.place if generation is not None else None
        # The path up to the question being answered: the stream is the answer (a new
        # version, or the one being continued), not a version beside it.
        payload = (self.history(conversation) if place is None else self.history(
            conversation, place.question if place.question is not None else place.parent))
        if generation is not None:
            with generation.lock:
                if not generation.finished:
                    payload["streaming"] = generation.snapshot()
                join_room(conversation.id)
            client.joined_answer = None
        else:
            join_room(conversation.id)
            client.joined_answer = self.chat.answering_elsewhere(conversation.id)
        emit("history", payload)
        self.send_conversations(client.viewer.key, to_all=False)

    def history(self, conversation: Conversation,
                upto: int | None | Literal["shown"] = "shown") -> dict[str, Any]:
        """The `history` payload: the path the conversation shows, or with `upto` the path
        up to that message (None: no message), which an answer being written goes on."""
        path = (self.store.path(conversation.id) if upto == "shown"
                else self.store.ancestors(conversation.id, upto))
        start = conversation.context_start
        return {
            "messages": [m.public() for m in path],
            "conversation": conversation.summary(),
            "context_from": start if any(m.id == start for m in path) else 0,
            "settings": ChatSettings.load(self.settings, conversation.settings).model_dump(),
            "preset": self.presets.of_conversation(conversation.id),
            "limits": {"max_message_chars": self.settings.max_message_chars},
        }

    def send_conversations(self, owner: str, to_all: bool = True) -> None:
        listing = self.store.sidebar(owner)
        if to_all:
            self.socketio.emit("conversations", listing, to=browser_room(owner))
        else:
            emit("conversations", listing)

    def move(self, client: Client, conversation: Conversation) -> None:
        leave_room(client.conversation_id)
        client.conversation_id = conversation.id
        self.store.set_current(client.viewer.key, conversation.id)
        self.show(client, conversation)

    def owned_conversation(self, client: Client, data: dict[str, Any],
                           key: str = "id") -> Conversation:
        """The owner's conversation a payload names by its `key`."""
        conversation_id = data.get(key)
        if not isinstance(conversation_id, str):
            raise BadPayload(f"Malformed request: `{key}` must be a string.")
        conversation = self.store.get(client.viewer.key, conversation_id)
        if conversation is None:
            raise BadPayload("That conversation no longer exists.")
        return conversation

    def conversation(self, client: Client) -> Conversation:
        """The socket's conversation (another, if it was deleted from another tab)."""
        conversation = self.store.get(client.viewer.key, client.conversation_id)
        if conversation is None:
            conversation = self.store.current(client.viewer.key)
            self.move(client, conversation)
        return conversation

    def new_conversation(self, client: Client,
                         prepare: Callable[[Conversation], None] | None = None) -> Conversation:
        """Show this socket an empty conversation; `prepare` sets it up before it is shown."""
        current = self.store.get(client.viewer.key, client.conversation_id)
        if current is not None and not self.store.messages(current.id):
            conversation = current  # already empty: reuse it rather than pile up blanks
        else:
            conversation = self.store.create(client.viewer.key)
        if prepare is not None:
            prepare(conversation)
            conversation = self.store.get(client.viewer.key, conversation.id) or conversation
        self.move(client, conversation)
        self.send_conversations(client.viewer.key)
        return conversation
