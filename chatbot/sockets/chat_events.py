"""The chat itself: a question, a slash command, stop (versions of a turn: version_events.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import emit

from chatbot.chat import attachments, commands, mentions
from chatbot.chat.document_commands import route
from chatbot.chat.grounding import OneOff, bare_url, url_offer
from chatbot.chat.intents import recognise
from chatbot.chat.streaming import Place
from chatbot.db.rows import Conversation
from chatbot.errors import BadPayload
from chatbot.settings import ChatSettings
from chatbot.sockets.base import Client, EventsBase, guarded
from rag import RagError


class ChatEvents(EventsBase):
    @guarded
    def on_message(self, client: Client, data: dict[str, Any]) -> None:
        text = data.get("text")
        if not isinstance(text, str):
            raise BadPayload("Malformed message: `text` must be a string.")
        text = text.strip()
        self._check_length(text)
        attached = attachments.names(data.get("attachments"))
        conversation = self.conversation(client)
        if attached:
            once = attachments.grounding(attached, conversation.id, client.viewer,
                                         self.library)
            self.metrics.messages.inc()
            self._answer(client, conversation, text, echo=False, once=once)
            return
        if text.startswith("/"):
            self._command(client, conversation, text)
            return
        url = bare_url(text)
        if url is not None:
            emit("notice", url_offer(url))
            return
        if self._whole_document(client, conversation, text):
            return
        self.metrics.messages.inc()
        chat = ChatSettings.load(self.settings, conversation.settings)
        once = mentions.grounding(text, commands.Context(self.settings, self.llm, chat,
                                                         client.viewer, self.library))
        self._answer(client, conversation, text, echo=False, once=once)

    @guarded
    def on_mentions(self, client: Client, data: dict[str, Any]) -> None:
        """{"query"}: the user's collections and documents whose name holds `query`, for the
        message box's `#` list; answered with `mentions`."""
        query = data.get("query")
        if not isinstance(query, str) or len(query) > 200:
            raise BadPayload("Malformed request: `query` must be a string of at most 200 "
                             "characters.")
        conversation = self.conversation(client)
        chat = ChatSettings.load(self.settings, conversation.settings)
        try:
            items = mentions.suggestions(query, commands.Context(
                self.settings, self.llm, chat, client.viewer, self.library))
        except RagError as exc:
            raise BadPayload(f"Could not list your documents: {exc}") from exc
        emit("mentions", {"query": query, "items": items})

    def _check_length(self, text: str) -> None:
        if not text:
            raise BadPayload("Empty message: type something first.")
        limit = self.settings.max_message_chars
        if len(text) > limit:
            raise BadPayload(f"Message too long: {len(text):,} characters, at most "
                             f"{limit:,} are accepted.")

    def _answer(self, client: Client, conversation: Conversation, text: str, echo: bool,
                prepare: Callable[[], Conversation] | None = None,
                once: OneOff | None = None, place: Place | None = None,
                after: Callable[[], None] | None = None, ask: bool = True) -> bool:
        """Answer `text`; `echo`: this tab has not shown the question yet (a command);
        `prepare`, `once`, `place` and `after`: see Chat.answer; `ask`: the tabs are shown
        the question (not when an answer is continued). False, with the error sent, when it
        cannot start."""
        owner = client.viewer.key

        def stored(question: int) -> None:
            self.send_conversations(owner)
            # Its id lets the tabs offer to edit it; its files' kinds and links were only
            # known once they were found among the conversation's documents.
            payload: dict[str, Any] = {"id": question}
            if once is not None and once.attachments:
                payload["attachments"] = list(once.attachments)
            self.socketio.emit("user_stored", payload, to=conversation.id)

        problem = self.limits.question(owner) or self.chat.answer(
            conversation, text, client.viewer, on_stored=stored, prepare=prepare, once=once,
            place=place, after=after)
        if problem:
            emit("error", {"message": problem})
            return False
        if ask:
            # Other tabs on this conversation show the question too.
            self.socketio.emit("user_message", {"text": text}, to=conversation.id,
                               skip_sid=None if echo else request.sid)  # type: ignore[attr-defined]
        return True

    @guarded
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

    def _whole_document(self, client: Client, conversation: Conversation, text: str) -> bool:
        """A request in words for a summary, a comparison or an inventory of the user's
        documents (intents.py), answered as its command would be; False for any other
        message."""
        intent = recognise(text)
        if intent is None:
            return False
        chat = ChatSettings.load(self.settings, conversation.settings)
        reply = route(intent, text, commands.Context(self.settings, self.llm, chat,
                                                     client.viewer, self.library))
        if reply is None:
            return False
        name = "summarize" if intent.kind == "summary" else (
            "compare" if intent.kind == "compare" else "documents")
        self.metrics.commands.labels(command=name).inc()
        self._apply(client, conversation, chat, name, reply, echo=False)
        return True

    def _command(self, client: Client, conversation: Conversation, text: str) -> None:
        chat = ChatSettings.load(self.settings, conversation.settings)
        name = text[1:].split(" ", 1)[0].lower()
        self.metrics.commands.labels(
            command=name if name in commands.COMMANDS else "unknown").inc()
        reply = commands.run(text, commands.Context(self.settings, self.llm, chat,
                                                    client.viewer, self.library))
        self._apply(client, conversation, chat, name, reply)

    def _apply(self, client: Client, conversation: Conversation, chat: ChatSettings,
               name: str, reply: commands.Reply, echo: bool = True) -> None:
        """What a command's reply asks for: settings, a new conversation, a notice, and a
        question to answer (shown in this tab already when `echo` is False)."""
        if reply.settings is not None and reply.settings.model != chat.model:
            problem = self.picker.switch_problem(client.viewer, reply.settings.model)
            if problem:
                raise BadPayload(problem)
        if reply.settings is not None:
            self.store.update_settings(conversation.id, reply.settings.model_dump())
            self.socketio.emit("settings", reply.settings.model_dump(), to=conversation.id)
        if reply.reset:
            self.new_conversation(client)
        if reply.text:
            emit("notice", {"text": reply.text, "level": "info", "command": name})
        if reply.ask is not None:
            self._answer(client, conversation, reply.ask, echo=echo, once=reply.once)
