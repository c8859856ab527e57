"""Socket.IO events (the contract in ARCHITECTURE.md, plus the sidebar, settings,
regenerate, edit, search, model-picker and document-collection extras), every one registered
here.

Each socket belongs to an owner (a browser's cookie id, or with AUTH on a signed-in user)
and shows one conversation; it sits in the conversation's room (answers stream there, so
every tab showing it follows along), the owner's (sidebar changes reach all of their tabs)
and, with accounts, its sign-in's (signing out there closes it). With AUTH on, a connection
without a valid session is refused.

Every handler goes through one guard: a socket without a session is told to reload, one
whose user was signed out, disabled or removed is told so and closed, a payload that is not
an object or that the handler refuses is answered with `error`, and an unexpected exception
is logged and turned into a generic `error`, never a traceback or a dropped socket. Every id
and collection name a payload carries is looked up as its owner sees it: another owner's
conversation or private collection is answered exactly as one that does not exist.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request, session
from flask_socketio import ConnectionRefusedError as Refused
from flask_socketio import disconnect, emit, join_room, leave_room
from pydantic import ValidationError

from chatbot import auth, commands
from chatbot.accounts import Viewer
from chatbot.common import browser_room
from chatbot.connections import Connections
from chatbot.grounding import OneOff, bare_url, url_offer
from chatbot.models import ModelPicker
from chatbot.services import Services
from chatbot.settings import ChatSettings
from chatbot.store import MARK_END, MARK_START, Conversation, Message
from rag import RagError

log = logging.getLogger("chatbot.sockets")


class BadPayload(Exception):
    """A client sent something this server cannot act on; the message says what."""


@dataclass
class Client:
    viewer: Viewer
    conversation_id: str
    address: str  # counted against MAX_SOCKETS_PER_ADDRESS
    # The answer another instance was writing when this socket joined its conversation:
    # the tab missed its first pieces, so its count of them is not the answer's.
    joined_answer: str | None = None


EVENTS = ("message", "stop", "reset", "switch", "rename", "delete", "settings", "collections",
          "delete_collection", "share_collection", "documents", "remove_document",
          "refetch_document", "retrieval_debug",
          "regenerate", "edit", "search", "models", "pull_model")


class Events:
    def __init__(self, services: Services, connections: Connections):
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
        self.picker = ModelPicker(services.llm, services.socketio)
        self.connections = connections
        self.clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def register(self) -> None:
        on = self.socketio.on
        on("connect")(self.connect)
        on("disconnect")(self.disconnect)
        for name in EVENTS:
            on(name)(self._guarded(getattr(self, f"on_{name}")))
        self.socketio.on_error_default(self._unexpected)

    def _guarded(self, handler: Callable[[Client, dict[str, Any]], None]) -> Callable[..., None]:
        @functools.wraps(handler)
        def wrapper(data: Any = None, *_: Any) -> None:
            with self._lock:
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
                handler(client, data)
            except BadPayload as exc:
                self.metrics.bad_payloads.inc()
                emit("error", {"message": str(exc)})
            except RagError as exc:  # the document store cannot be reached; say so
                emit("error", {"message": f"Your documents cannot be reached now: {exc}"})
        return wrapper

    def _unexpected(self, exc: Exception) -> None:
        log.exception("socket handler failed", exc_info=exc)
        emit("error", {"message": "Something went wrong on the server. Please try again."})

    # Connection ---------------------------------------------------------------------

    def connect(self, _: Any = None) -> bool:
        viewer = auth.viewer()
        if viewer is None:
            # No page load, no cookie, or not signed in: no conversation to continue.
            return False
        address, environ = auth.client_address(), request.environ
        refusal = self.connections.admit(address, environ)
        if refusal:
            # Socket.IO's own exception (not the builtin): the client gets its message.
            raise Refused(refusal)
        sid = request.sid  # type: ignore[attr-defined]
        try:
            conversation = self.store.current(viewer.key)
            client = Client(viewer, conversation.id, address)
            with self._lock:
                self.clients[sid] = client
            self.metrics.connections.inc()
            join_room(browser_room(viewer.key))
            login = session.get("login")
            if isinstance(login, str):
                join_room(auth.login_room(login))
            self._show(client, conversation)
        except BaseException:
            # A connection that fails here never disconnects: undo what it counted.
            with self._lock:
                registered = self.clients.pop(sid, None)
            if registered is not None:
                self.metrics.connections.dec()
            self.connections.release(address, environ)
            raise
        return True

    def disconnect(self, *_: Any) -> None:
        with self._lock:
            gone = self.clients.pop(request.sid, None)  # type: ignore[attr-defined]
        if gone is not None:
            self.connections.release(gone.address, request.environ)
            self.metrics.connections.dec()

    def _show(self, client: Client, conversation: Conversation) -> None:
        """Send this socket the conversation (joining its room) and the sidebar."""
        payload = self._history(conversation)
        generation = self.chat.active(conversation.id)
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
        self._send_conversations(client.viewer.key, to_all=False)

    def _history(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "messages": [m.public() for m in self.store.messages(conversation.id)],
            "conversation": conversation.summary(),
            "context_from": conversation.context_start,
            "settings": ChatSettings.load(self.settings, conversation.settings).model_dump(),
            "limits": {"max_message_chars": self.settings.max_message_chars},
        }

    def _send_conversations(self, owner: str, to_all: bool = True) -> None:
        items = [c.summary() for c in self.store.conversations(owner)]
        if to_all:
            self.socketio.emit("conversations", {"conversations": items},
                               to=browser_room(owner))
        else:
            emit("conversations", {"conversations": items})

    def _move(self, client: Client, conversation: Conversation) -> None:
        leave_room(client.conversation_id)
        client.conversation_id = conversation.id
        self.store.set_current(client.viewer.key, conversation.id)
        self._show(client, conversation)

    def _conversation(self, client: Client) -> Conversation:
        conversation = self.store.get(client.viewer.key, client.conversation_id)
        if conversation is None:  # deleted from another tab
            conversation = self.store.current(client.viewer.key)
            self._move(client, conversation)
        return conversation

    # Contract events ----------------------------------------------------------------

    def on_message(self, client: Client, data: dict[str, Any]) -> None:
        text = data.get("text")
        if not isinstance(text, str):
            raise BadPayload("Malformed message: `text` must be a string.")
        text = text.strip()
        self._check_length(text)
        conversation = self._conversation(client)
        if text.startswith("/"):
            self._command(client, conversation, text)
            return
        url = bare_url(text)
        if url is not None:
            emit("notice", url_offer(url))
            return
        self.metrics.messages.inc()
        self._answer(client, conversation, text, echo=False)

    def _check_length(self, text: str) -> None:
        if not text:
            raise BadPayload("Empty message: type something first.")
        limit = self.settings.max_message_chars
        if len(text) > limit:
            raise BadPayload(f"Message too long: {len(text):,} characters, at most "
                             f"{limit:,} are accepted.")

    def _answer(self, client: Client, conversation: Conversation, text: str, echo: bool,
                prepare: Callable[[], Conversation] | None = None,
                once: OneOff | None = None) -> bool:
        """Answer `text`; `echo`: this tab has not shown the question yet (a command);
        `prepare` and `once`: see Chat.answer. False, with the error sent, when it cannot
        start."""
        owner = client.viewer.key

        def stored() -> None:
            self._send_conversations(owner)
            # Its id lets the tabs offer to edit it; one answer at a time per conversation,
            # so the newest question is this one.
            self.socketio.emit("user_stored", {"id": self.store.last_question(conversation.id)},
                               to=conversation.id)

        problem = self.limits.question(owner) or self.chat.answer(
            conversation, text, client.viewer, on_stored=stored, prepare=prepare, once=once)
        if problem:
            emit("error", {"message": problem})
            return False
        # Other tabs on this conversation show the question too.
        self.socketio.emit("user_message", {"text": text}, to=conversation.id,
                           skip_sid=None if echo else request.sid)  # type: ignore[attr-defined]
        return True

    def on_stop(self, client: Client, data: dict[str, Any]) -> None:
        # Optional extra: the `token` events this browser displayed before stopping.
        shown = data.get("shown")
        if shown is not None and (not isinstance(shown, int) or shown < 0):
            raise BadPayload("Malformed stop: `shown` must be a non-negative integer.")
        if client.joined_answer is not None and (
                client.joined_answer == self.chat.answering_elsewhere(client.conversation_id)):
            shown = None  # the answer keeps every piece sent, as the other tabs saw it
        if not self.chat.stop(client.conversation_id, shown):
            emit("status", {"state": "idle"})

    def on_reset(self, client: Client, _: dict[str, Any]) -> None:
        self._new_conversation(client)

    def _new_conversation(self, client: Client) -> None:
        current = self.store.get(client.viewer.key, client.conversation_id)
        if current is not None and not self.store.messages(current.id):
            conversation = current  # already empty: reuse it rather than pile up blanks
        else:
            conversation = self.store.create(client.viewer.key)
        self._move(client, conversation)
        self._send_conversations(client.viewer.key)

    def _command(self, client: Client, conversation: Conversation, text: str) -> None:
        chat = ChatSettings.load(self.settings, conversation.settings)
        name = text[1:].split(" ", 1)[0].lower()
        self.metrics.commands.labels(
            command=name if name in commands.COMMANDS else "unknown").inc()
        reply = commands.run(text, commands.Context(self.settings, self.llm, chat,
                                                    client.viewer, self.library))
        if reply.settings is not None and reply.settings.model != chat.model:
            problem = self.picker.switch_problem(client.viewer, reply.settings.model)
            if problem:
                raise BadPayload(problem)
        if reply.settings is not None:
            self.store.update_settings(conversation.id, reply.settings.model_dump())
            self.socketio.emit("settings", reply.settings.model_dump(), to=conversation.id)
        if reply.reset:
            self._new_conversation(client)
        emit("notice", {"text": reply.text, "level": "info", "command": name})
        if reply.ask is not None:
            self._answer(client, conversation, reply.ask, echo=True, once=reply.once)

    # Extras: sidebar and settings panel ---------------------------------------------

    def _target(self, client: Client, data: dict[str, Any]) -> Conversation:
        conversation_id = data.get("id")
        if not isinstance(conversation_id, str):
            raise BadPayload("Malformed request: `id` must be a string.")
        conversation = self.store.get(client.viewer.key, conversation_id)
        if conversation is None:
            raise BadPayload("That conversation no longer exists.")
        return conversation

    def on_switch(self, client: Client, data: dict[str, Any]) -> None:
        self._move(client, self._target(client, data))

    def on_rename(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self._target(client, data)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise BadPayload("A conversation needs a non-empty title.")
        self.store.rename(client.viewer.key, conversation.id, title)
        self._send_conversations(client.viewer.key)

    def on_delete(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self._target(client, data)
        self.chat.stop(conversation.id)
        self.store.delete(client.viewer.key, conversation.id)
        if conversation.id == client.conversation_id:
            self._move(client, self.store.current(client.viewer.key))
        self._send_conversations(client.viewer.key)

    def on_settings(self, client: Client, data: dict[str, Any]) -> None:
        conversation = self._conversation(client)
        current = ChatSettings.load(self.settings, conversation.settings).model_dump()
        try:
            changed = ChatSettings(**{**current, **data})
        except (ValidationError, TypeError) as exc:
            raise BadPayload(f"Invalid settings: {_first_error(exc)}") from exc
        if changed.model != current["model"]:
            problem = self.picker.switch_problem(client.viewer, changed.model)
            if problem:
                raise BadPayload(f"Invalid settings: {problem}")
        wanted = changed.rag_collection
        if (wanted is not None and wanted != current["rag_collection"]
                and self.library.find(wanted, client.viewer) is None):
            raise BadPayload(f"Invalid settings: no collection `{wanted}`.")
        self.store.update_settings(conversation.id, changed.model_dump())
        self.socketio.emit("settings", changed.model_dump(), to=conversation.id)

    # Extras: regenerate, edit and resend, search -------------------------------------

    def on_regenerate(self, client: Client, _: dict[str, Any]) -> None:
        """A new answer to the last question, replacing the one there was."""
        conversation = self._conversation(client)
        question = next((m for m in reversed(self.store.messages(conversation.id))
                         if m.role == "user"), None)
        if question is None:
            raise BadPayload("There is no answer to regenerate yet.")
        # A question a command grounded (`/summarize URL`, `/rag QUESTION`) is grounded the
        # same way again.
        self._replace(client, conversation, question, question.content,
                      OneOff.from_stored((question.meta or {}).get("once")))

    def on_edit(self, client: Client, data: dict[str, Any]) -> None:
        """{"id", "text"}: the user's message `id` of this conversation says `text` now;
        every later turn goes, and it is answered again."""
        message_id, text = data.get("id"), data.get("text")
        # bool is an int to Python, not a message id.
        if (not isinstance(message_id, int) or isinstance(message_id, bool)
                or not isinstance(text, str)):
            raise BadPayload("Malformed edit: `id` must be a message id and `text` a string.")
        text = text.strip()
        self._check_length(text)
        if text.startswith("/"):
            raise BadPayload("An edited message is sent to the model: it cannot be a command.")
        conversation = self._conversation(client)
        # Looked up in this client's own conversation only: any other id is absent.
        question = next((m for m in self.store.messages(conversation.id)
                         if m.id == message_id and m.role == "user"), None)
        if question is None:
            raise BadPayload("That message no longer exists.")
        self._replace(client, conversation, question, text)

    def _replace(self, client: Client, conversation: Conversation, question: Message,
                 text: str, once: OneOff | None = None) -> None:
        """Remove `question` and all after it, show every tab the shorter conversation,
        then answer `text` in its place (grounded by `once`, see Chat.answer). Refused,
        with nothing removed, while an answer is being written or when the user may not
        ask now: the turns go only once the conversation is claimed for the new answer, so
        a message sent from another tab at that instant cannot leave the conversation cut
        short and unanswered."""
        cid = conversation.id

        def cut() -> Conversation:
            self.store.truncate(cid, question.id)
            shorter = self.store.get(client.viewer.key, cid) or conversation
            self.socketio.emit("history", self._history(shorter), to=cid)
            return shorter

        if self._answer(client, conversation, text, echo=True, prepare=cut, once=once):
            self.metrics.messages.inc()

    def on_search(self, client: Client, data: dict[str, Any]) -> None:
        """{"q"}: the owner's conversations and messages holding every word of `q`."""
        query = data.get("q")
        if not isinstance(query, str):
            raise BadPayload("Malformed search: `q` must be a string.")
        hits = self.store.search(client.viewer.key, query[:self.settings.max_message_chars])
        emit("search_results", {"q": query, "results": [
            {"conversation": hit.conversation, "title": hit.title or "New chat",
             "message": hit.message, "snippet": _marked(hit.snippet)} for hit in hits]})

    # Extras: the model picker ---------------------------------------------------------

    def on_models(self, client: Client, _: dict[str, Any]) -> None:
        emit("models", self.picker.listing(client.viewer))

    def on_pull_model(self, client: Client, data: dict[str, Any]) -> None:
        """{"model"}: pull a curated name or OWNER/REPO/FILE.gguf (admins, with accounts);
        progress comes as `model_pull`, then a new `models`."""
        model = data.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadPayload("Malformed request: `model` must be a model name.")
        problem = self.picker.pull(client.viewer, model.strip())
        if problem:
            emit("error", {"message": problem})

    # Extras: the user's document collections -----------------------------------------

    def on_collections(self, client: Client, _: dict[str, Any]) -> None:
        emit("collections", self.ingests.listing(client.viewer))

    def on_delete_collection(self, client: Client, data: dict[str, Any]) -> None:
        name = data.get("name")
        if not isinstance(name, str):
            raise BadPayload("Malformed request: `name` must be a collection name.")
        problem = self.ingests.delete(name, client.viewer)
        if problem:
            emit("error", {"message": problem})

    def on_share_collection(self, client: Client, data: dict[str, Any]) -> None:
        """{"name", "shared": bool}: an admin shares a collection with every user, or stops."""
        name, shared = data.get("name"), data.get("shared")
        if not isinstance(name, str) or not isinstance(shared, bool):
            raise BadPayload("Malformed request: `name` must be a collection name and "
                             "`shared` true or false.")
        viewer = client.viewer
        if viewer.name is None or not viewer.admin:
            raise BadPayload("Only an admin can share a collection (with accounts on).")
        if self.library.find(name, viewer) is None:
            raise BadPayload(f"Could not share `{name}`: no such collection.")
        try:
            self.library.share(name, shared)
        except RagError as exc:
            raise BadPayload(f"Could not share `{name}`: {exc}") from exc
        self.ingests.changed(viewer)

    def on_documents(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection"}: its documents, answered with `documents`."""
        name = data.get("collection")
        if not isinstance(name, str):
            raise BadPayload("Malformed request: `collection` must be a collection name.")
        emit("documents", self.ingests.documents(name, client.viewer))

    def _document(self, data: dict[str, Any]) -> tuple[str, str]:
        name, document = data.get("collection"), data.get("id")
        if not isinstance(name, str) or not isinstance(document, str):
            raise BadPayload("Malformed request: `collection` must be a collection name and "
                             "`id` a document's id from `documents`.")
        return name, document

    def on_remove_document(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection", "id"}: remove one document; the new listing follows."""
        problem = self.ingests.remove_document(*self._document(data), client.viewer)
        if problem:
            emit("error", {"message": problem})

    def on_refetch_document(self, client: Client, data: dict[str, Any]) -> None:
        """{"collection", "id"}: fetch a URL document again, reported by `ingest` events."""
        problem = self.ingests.refetch(*self._document(data), client.viewer)
        if problem:
            emit("error", {"message": problem})

    def on_retrieval_debug(self, client: Client, data: dict[str, Any]) -> None:
        """{"on": bool}: this user's grounded answers are preceded by a `retrieval` event
        (the page's debug view) or not."""
        on = data.get("on")
        if not isinstance(on, bool):
            raise BadPayload("Malformed request: `on` must be true or false.")
        self.grounding.show_retrieval(client.viewer.key, on)


def _marked(snippet: str) -> str:
    """A search snippet as HTML: its text escaped, each match in a <mark>."""
    return (html.escape(snippet, quote=False)
            .replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return "unexpected fields"
